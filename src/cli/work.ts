/**
 * `sluice work TOPIC --group G --exec "COMMAND"`: a ready-made worker. For each record it runs
 * COMMAND (with `sh -c`) with the record's value on stdin and SLUICE_TOPIC, SLUICE_PARTITION,
 * SLUICE_OFFSET, SLUICE_KEY and SLUICE_ATTEMPT in the environment. Exit status 0 acknowledges the
 * record; anything else fails it (nack) with the tail of the command's stderr as the error text, and
 * the broker retries it after its backoff, or dead-letters it after the topic's max attempts.
 *
 * Order: records of one partition run one at a time, in order; after a failure the partition's
 * queued records are dropped (the broker delivers them again after the retried one). Up to
 * `--concurrency` partitions run at once. A command running longer than half the ack timeout has
 * its visibility deadline extended, so long jobs are not redelivered while they run.
 *
 * Stopping: on SIGINT/SIGTERM no new record starts, the running commands finish (up to
 * `--shutdown-grace-ms`, then they are killed and their records go back), and the worker leaves the
 * group, so what it held is redelivered to the others without counting as a failure.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { ConsumerSession, DeliveredRecord } from '../client/index.js';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, withClient } from './context.js';

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

interface PartitionQueue {
  records: DeliveredRecord[];
  running: boolean;
}

export function registerWorkCommand(program: Command, io: CliIo): void {
  addBrokerOption(
    program
      .command('work')
      .description("run a command for each record of a topic as a member of a consumer group (exit 0 acks, anything else nacks)")
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
    await withClient(options, async (client) => {
      const session = await client.consume({
        group: options.group,
        topics: [topic],
        inFlightMax: options.inFlightMax,
        ...(options.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: options.ackTimeoutMs }),
        ...(options.retryBackoffMs === undefined ? {} : { retryBackoffMs: options.retryBackoffMs }),
        ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }),
      });
      io.stderr.write(`joined group ${options.group} as ${session.memberId}\n`);
      await runWorker(session, options, io);
    });
  });
}

async function runWorker(session: ConsumerSession, options: WorkOptions, io: CliIo): Promise<void> {
  const queues = new Map<number, PartitionQueue>();
  const running = new Set<Promise<void>>();
  const children = new Set<ReturnType<typeof spawn>>();
  let stopping = false;
  const ackTimeoutMs = options.ackTimeoutMs ?? 30_000;

  const runOne = async (record: DeliveredRecord): Promise<boolean> => {
    const child = spawn('sh', ['-c', options.exec], {
      stdio: ['pipe', 'inherit', 'pipe'],
      env: {
        ...process.env,
        SLUICE_TOPIC: record.topic,
        SLUICE_PARTITION: String(record.partition),
        SLUICE_OFFSET: String(record.offset),
        SLUICE_KEY: record.key?.toString('utf8') ?? '',
        SLUICE_ATTEMPT: String(record.deliveryAttempt),
      },
    });
    children.add(child);
    let stderr = Buffer.alloc(0);
    child.stderr.on('data', (chunk: Buffer) => {
      io.stderr.write(chunk);
      stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_TAIL_BYTES);
    });
    child.stdin.on('error', () => undefined); // a command that does not read its stdin
    child.stdin.end(record.value ?? Buffer.alloc(0));
    const extend = setInterval(() => session.extend(record, [record.offset], ackTimeoutMs), Math.max(5, Math.floor(ackTimeoutMs / 2)));
    const status = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('error', () => resolve({ code: 127, signal: null }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    clearInterval(extend);
    children.delete(child);
    const where = `${record.topic}/${record.partition}@${record.offset} (attempt ${record.deliveryAttempt})`;
    if (status.code === 0) {
      session.ack(record, [record.offset]);
      io.stdout.write(`ok ${where}\n`);
      return true;
    }
    if (stopping && status.signal !== null) return false; // killed at shutdown: it goes back when we leave
    const why = stderr.toString('utf8').trim() || (status.signal === null ? `exit status ${status.code}` : `killed by ${status.signal}`);
    session.nack(record, { error: why, errorClass: status.signal === null ? `exit-${status.code}` : status.signal });
    io.stdout.write(`failed ${where}: ${why.split('\n').pop()}\n`);
    return false;
  };

  const pump = (): void => {
    if (stopping) return;
    for (const [, queue] of queues) {
      if (running.size >= options.concurrency) return;
      if (queue.running || queue.records.length === 0) continue;
      queue.running = true;
      const job = (async () => {
        while (!stopping && queue.records.length > 0) {
          const record = queue.records.shift()!;
          if (!(await runOne(record))) {
            queue.records.length = 0; // redelivered after the retried record
            break;
          }
        }
        queue.running = false;
      })();
      running.add(job);
      void job.finally(() => {
        running.delete(job);
        pump();
      });
    }
  };

  const stop = (): void => {
    if (stopping) {
      for (const child of children) child.kill('SIGKILL');
      return;
    }
    stopping = true;
    io.stderr.write('stopping: letting running commands finish, then leaving the group\n');
    setTimeout(() => {
      for (const child of children) child.kill('SIGTERM');
    }, options.shutdownGraceMs).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const events = (async () => {
    for await (const event of session.events()) {
      if (stopping) break;
      if (event.type === 'assignment') {
        // Partitions taken away: their queued records will go to another member.
        const kept = new Set(event.partitions.map((p) => p.partition));
        for (const [partition, queue] of queues) if (!kept.has(partition)) queue.records.length = 0;
      } else if (event.type === 'records') {
        let queue = queues.get(event.partition);
        if (queue === undefined) {
          queue = { records: [], running: false };
          queues.set(event.partition, queue);
        }
        queue.records.push(...event.records);
        pump();
      } else {
        io.stderr.write(`broker refused a request: ${event.error.code}: ${event.error.message}\n`);
      }
    }
  })();
  const ended = session.ended.then((error) => {
    if (error !== undefined) throw error;
  });
  await Promise.race([events, ended, new Promise<void>((resolve) => process.once('SIGTERM', resolve).once('SIGINT', resolve))]);
  stopping = true;
  await Promise.allSettled([...running]);
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (session.isOpen) await session.leave();
  await ended;
}
