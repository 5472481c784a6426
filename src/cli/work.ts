/**
 * `sluice work TOPIC --group G --exec "COMMAND"`: a ready-made worker on the client library's
 * Consumer (`run({ eachMessage })`). For each record it runs COMMAND (with `sh -c`) with the record's
 * value on stdin and SLUICE_TOPIC, SLUICE_PARTITION, SLUICE_OFFSET, SLUICE_KEY and SLUICE_ATTEMPT in
 * the environment. Exit status 0 acknowledges the record; anything else fails it (nack) with the tail
 * of the command's stderr as the error text, and the broker retries it after its backoff, or
 * dead-letters it after the topic's max attempts.
 *
 * What the Consumer does for it: records of one partition run one at a time, in order, up to
 * `--concurrency` partitions at once; after a failure the partition's later records wait for the
 * retried one; records waiting behind a running command get their visibility deadlines extended; a
 * session lost to a retriable error (the broker restarting) is joined again with backoff. What this
 * file adds: a command running longer than half the ack timeout has its deadline extended
 * (`extendDeadline`), so long jobs are not redelivered while they run.
 *
 * Stopping: on SIGINT/SIGTERM no new record starts and the running commands may finish for
 * `--shutdown-grace-ms`; then they are sent SIGTERM (a second signal: SIGKILL), and a record whose
 * command was killed is released, neither acknowledged nor failed. Then the worker leaves the group,
 * so what it held is redelivered to the others without counting a failed attempt. It exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { Consumer, ConsumerMessage, EachMessagePayload, SluiceError } from '../client/index.js';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, sluiceFor } from './context.js';

interface WorkOptions extends BrokerOptions {
  group: string;
  exec: string;
  concurrency: number;
  inFlightMax: number;
  ackTimeoutMs?: number;
  retryBackoffMs?: number;
  shutdownGraceMs: number;
  instanceId?: string;
}

/** Bytes of a command's stderr kept as the failure's error text. */
const STDERR_TAIL_BYTES = 2048;
/** The Consumer's default visibility timeout (ackTimeoutMs), which `--ack-timeout-ms` overrides. */
const DEFAULT_ACK_TIMEOUT_MS = 30_000;
/** How long commands sent SIGTERM at the end of the grace period may take to exit before the worker leaves anyway. */
const KILL_WAIT_MS = 10_000;

export function registerWorkCommand(program: Command, io: CliIo): void {
  addBrokerOption(
    program
      .command('work')
      .description('run a command for each record of a topic as a member of a consumer group (exit 0 acks, anything else nacks)')
      .argument('<topic>', 'topic name')
      .requiredOption('--group <group>', 'consumer group')
      .requiredOption('--exec <command>', 'shell command run per record; the value on stdin, SLUICE_* in the environment')
      .option('--concurrency <partitions>', 'partitions processed at once', integerOption(1, 1024), 1)
      .option('--in-flight-max <records>', 'records held at once (prefetch)', integerOption(1), 16)
      .option('--ack-timeout-ms <ms>', 'visibility timeout (extended while a command runs)', integerOption(10))
      .option('--retry-backoff-ms <ms>', 'first retry delay after a failure (doubling per attempt)', integerOption(0))
      .option('--shutdown-grace-ms <ms>', 'on SIGTERM, how long running commands may finish', integerOption(0), 30_000)
      .option('--instance-id <id>', 'static membership: keep partitions across a quick restart'),
  ).action(async (topic: string, options: WorkOptions) => {
    const consumer = sluiceFor(options).consumer({
      groupId: options.group,
      topics: [topic],
      inFlightMax: options.inFlightMax,
      ...(options.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: options.ackTimeoutMs }),
      ...(options.retryBackoffMs === undefined ? {} : { retryBackoffMs: options.retryBackoffMs }),
      ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }),
      // The Consumer waits this long for running handlers before it leaves; the commands are killed after the grace period.
      shutdownTimeoutMs: options.shutdownGraceMs + KILL_WAIT_MS,
    });
    await runWorker({ consumer, options, io });
  });
}

interface CommandOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what it wrote on stderr. */
  stderrTail: string;
}

async function runWorker(input: { consumer: Consumer; options: WorkOptions; io: CliIo }): Promise<void> {
  const { consumer, options, io } = input;
  const children = new Set<ChildProcess>();
  /** Commands this worker killed because it was stopping. */
  const killed = new WeakSet<ChildProcess>();
  let stopping = false;
  let crashed: SluiceError | undefined;
  const stopped = new Promise<void>((resolve) => consumer.on('stop', () => resolve()));
  consumer.on('joined', ({ memberId }) => io.stderr.write(`joined group ${options.group} as ${memberId}\n`));
  consumer.on('reconnecting', ({ delayMs, error }) => {
    const why = error === undefined ? '' : ` (${error.code}: ${error.message})`;
    io.stderr.write(`lost the session${why}; joining again in ${delayMs} ms\n`);
  });
  consumer.on('warning', ({ error }) => io.stderr.write(`broker refused a request: ${error.code}: ${error.message}\n`));
  consumer.on('crash', ({ error }) => (crashed = error));

  const kill = (signal: NodeJS.Signals): void => {
    for (const child of children) {
      killed.add(child);
      child.kill(signal);
    }
  };
  const stop = (): void => {
    if (stopping) {
      kill('SIGKILL');
      return;
    }
    stopping = true;
    io.stderr.write('stopping: letting running commands finish, then leaving the group\n');
    setTimeout(() => kill('SIGTERM'), options.shutdownGraceMs).unref();
    void consumer.disconnect();
  };

  const eachMessage = async ({ message, extendDeadline, nack, release }: EachMessagePayload): Promise<void> => {
    const ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const extending = setInterval(() => extendDeadline(), Math.max(5, Math.floor(ackTimeoutMs / 2)));
    let child: ChildProcess | undefined;
    let outcome: CommandOutcome;
    try {
      outcome = await runCommand(options.exec, message, io, (started) => {
        child = started;
        children.add(started);
      });
    } finally {
      clearInterval(extending);
      if (child !== undefined) children.delete(child);
    }
    const where = `${message.topic}/${message.partition}@${message.offset} (attempt ${message.deliveryAttempt})`;
    if (outcome.code === 0) {
      io.stdout.write(`ok ${where}\n`);
      return;
    }
    if (stopping && child !== undefined && killed.has(child)) {
      release(); // killed at shutdown: it goes back to the group when the worker leaves
      return;
    }
    const why = outcome.stderrTail.trim() || (outcome.signal === null ? `exit status ${outcome.code}` : `killed by ${outcome.signal}`);
    const error = new Error(why);
    // The error class the broker records (e.g. in dead letters): `exit-3`, `SIGSEGV`.
    error.name = outcome.signal === null ? `exit-${outcome.code}` : outcome.signal;
    nack({ error });
    io.stdout.write(`failed ${where}: ${why.split('\n').pop()}\n`);
  };

  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await consumer.connect();
    await consumer.run({ partitionsConsumedConcurrently: options.concurrency, eachMessage });
    await stopped;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await consumer.disconnect();
  }
  if (crashed !== undefined) throw crashed;
}

/** Runs `command` for one record and resolves with how it ended (it never rejects). */
function runCommand(command: string, message: ConsumerMessage, io: CliIo, started: (child: ChildProcess) => void): Promise<CommandOutcome> {
  const child = spawn('sh', ['-c', command], {
    stdio: ['pipe', 'inherit', 'pipe'],
    env: {
      ...process.env,
      SLUICE_TOPIC: message.topic,
      SLUICE_PARTITION: String(message.partition),
      SLUICE_OFFSET: String(message.offset),
      SLUICE_KEY: message.key?.toString('utf8') ?? '',
      SLUICE_ATTEMPT: String(message.deliveryAttempt),
    },
  });
  started(child);
  let stderr = Buffer.alloc(0);
  child.stderr?.on('data', (chunk: Buffer) => {
    io.stderr.write(chunk);
    stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_TAIL_BYTES);
  });
  child.stdin?.on('error', () => undefined); // a command that does not read its stdin
  child.stdin?.end(message.value ?? Buffer.alloc(0));
  return new Promise((resolve) => {
    child.on('error', () => resolve({ code: 127, signal: null, stderrTail: stderr.toString('utf8') }));
    child.on('close', (code, signal) => resolve({ code, signal, stderrTail: stderr.toString('utf8') }));
  });
}
