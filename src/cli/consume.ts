/**
 * `sluice consume TOPIC`: prints a topic's records as they arrive, like kafka-console-consumer.
 *
 * Where it starts, per partition: the end of the log (only records produced from now on) unless
 * `--from-beginning` (the log start), `--offset N` (with `--partition`, since offsets are per
 * partition) or `--from-time T` (the first record at or after T; the end when none is that new).
 *
 * Each partition read (one `--partition`, or all of them) is a Subscribe stream from the broker,
 * which pushes records as they are appended; the streams' records are printed as they arrive, so
 * records of one partition keep their order and partitions interleave. A stream that fails with a
 * retriable error (the broker restarting, BROKER_BUSY) is opened again where it stopped, after a
 * backoff; any other failure stops the command with exit code 1.
 *
 * It stops, exiting 0, after `--max N` records, after `--idle-timeout-ms T` without a new record,
 * on SIGINT/SIGTERM, or when standard output is closed (`| head`). Output formats: output.ts.
 *
 * `--group G` is a consumer-group member instead: the client library's Consumer (consumeInGroup).
 */
import { type Command, Option } from 'commander';
import { DEFAULT_RETRY_POLICY, type OffsetSpec, type RetryPolicy, type SluiceClient, type SluiceError, isSluiceError, retryDelayMs, sleep } from '../client/index.js';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, sluiceFor, timestampOption, usageError, withClient } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat, OutputSink, type RecordFormatOptions, formatRecord } from './output.js';

interface ConsumeOptions extends BrokerOptions {
  group?: string;
  partition?: number;
  fromBeginning?: boolean;
  offset?: number;
  fromTime?: number;
  max?: number;
  idleTimeoutMs?: number;
  format: OutputFormat;
  keySeparator?: string;
  retries: number;
}

interface StartPosition {
  partition: number;
  offset: number;
}

export function registerConsumeCommand(program: Command, io: CliIo): void {
  addBrokerOption(
    program
      .command('consume')
      .description("print a topic's records as they arrive")
      .argument('<topic>', 'topic name')
      .addOption(new Option('--group <group>', 'consume as a member of this group: print each record, then acknowledge it').conflicts(['partition', 'offset', 'fromTime']))
      .option('--partition <partition>', 'read only this partition (default: all)', integerOption(0))
      .addOption(new Option('--from-beginning', 'start at the log start of each partition').conflicts(['offset', 'fromTime']))
      .addOption(new Option('--offset <offset>', 'start at this offset (needs --partition)').argParser(integerOption(0)).conflicts('fromTime'))
      .addOption(new Option('--from-time <time>', 'start at the first record at or after this ISO 8601 time (or epoch ms)').argParser(timestampOption))
      .option('--max <count>', 'exit after printing this many records', integerOption(0))
      .option('--idle-timeout-ms <ms>', 'exit after this long without a new record', integerOption(1))
      .addOption(new Option('--format <format>', 'text: the value, one per line; json: one object per record per line').choices(OUTPUT_FORMATS).default('text'))
      .option('--key-separator <sep>', 'text format: print key<sep>value')
      .option('--retries <count>', 'reopen a failed partition stream (with --group: rejoin after a lost session) this many times in a row', integerOption(0, 100), DEFAULT_RETRY_POLICY.retriesMax),
  ).action(async (topic: string, options: ConsumeOptions) => {
    if (options.offset !== undefined && options.partition === undefined) throw usageError('--offset needs --partition (offsets are per partition)');
    if (options.keySeparator !== undefined && options.format !== 'text') throw usageError('--key-separator applies to --format text only');
    if (options.group !== undefined) {
      await consumeInGroup({ topic, group: options.group, options, sink: new OutputSink(io.stdout) });
      return;
    }
    await withClient(options, async (client) => {
      const starts = await startPositions(client, topic, options);
      await tail({ client, topic, starts, options, sink: new OutputSink(io.stdout) });
    });
  });
}

async function startPositions(client: SluiceClient, topic: string, options: ConsumeOptions): Promise<StartPosition[]> {
  const partitions = options.partition === undefined ? [] : [options.partition];
  if (options.offset !== undefined) {
    // Checks that the topic and partition exist; the broker checks the offset when reading.
    await client.listOffsets({ topic, partitions, spec: 'earliest' });
    return partitions.map((partition) => ({ partition, offset: options.offset ?? 0 }));
  }
  const spec: OffsetSpec = options.fromBeginning === true ? 'earliest' : options.fromTime !== undefined ? { timestampMs: options.fromTime } : 'latest';
  return (await client.listOffsets({ topic, partitions, spec })).map(({ partition, offset }) => ({ partition, offset }));
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

async function tail(input: { client: SluiceClient; topic: string; starts: readonly StartPosition[]; options: ConsumeOptions; sink: OutputSink }): Promise<void> {
  const { client, topic, starts, options, sink } = input;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  if (max === 0) return;
  const format: RecordFormatOptions = { format: options.format, topic, ...(options.keySeparator === undefined ? {} : { keySeparator: options.keySeparator }) };
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, retriesMax: options.retries };

  const stop = new AbortController();
  const stopNow = (): void => stop.abort();
  let idleTimer: NodeJS.Timeout | undefined;
  const restartIdleTimer = (): void => {
    if (options.idleTimeoutMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopNow, options.idleTimeoutMs);
  };
  let printed = 0;

  /** Reads one partition until the command stops; throws what cannot be retried. */
  const readPartition = async (start: StartPosition): Promise<void> => {
    let offset = start.offset;
    let failures = 0;
    while (!stop.signal.aborted) {
      let failure: unknown;
      try {
        for await (const batch of client.subscribe({ topic, partition: start.partition, offset }, { signal: stop.signal })) {
          failures = 0;
          if (batch.records.length > 0) restartIdleTimer();
          for (const record of batch.records) {
            if (printed >= max) break;
            printed++;
            await sink.write(formatRecord(start.partition, record, format));
          }
          offset = batch.nextOffset;
          if (printed >= max) {
            stop.abort();
            return;
          }
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        if (!isSluiceError(error) || !error.retriable || failures >= policy.retriesMax) throw error;
        failure = error;
      }
      if (stop.signal.aborted) return;
      // A failed stream, or one the broker ended: open it again where it stopped, after a backoff.
      failures++;
      await sleep(retryDelayMs(failure, failures, policy), stop.signal);
    }
  };

  for (const signal of STOP_SIGNALS) process.on(signal, stopNow);
  sink.closed.addEventListener('abort', stopNow, { once: true });
  restartIdleTimer();
  try {
    await Promise.all(
      starts.map((start) =>
        readPartition(start).catch((error: unknown) => {
          stop.abort();
          throw error;
        }),
      ),
    );
  } finally {
    clearTimeout(idleTimer);
    stop.abort();
    for (const signal of STOP_SIGNALS) process.off(signal, stopNow);
    sink.closed.removeEventListener('abort', stopNow);
  }
}

/**
 * `--group`: joins the group with the client library's Consumer and prints each delivered record,
 * one at a time; a record is acknowledged once printed. A new group starts at the log start
 * (`--from-beginning` is then the default). A session lost to a retriable error (the broker
 * restarting) is joined again after a backoff, `--retries` times in a row; the group resumes from
 * what was acknowledged. Stops after `--max` (records delivered beyond it are not acknowledged:
 * they go back when the member leaves, without counting a failed attempt), after
 * `--idle-timeout-ms`, on SIGINT/SIGTERM or a closed pipe; then leaves the group cleanly.
 */
async function consumeInGroup(input: { topic: string; group: string; options: ConsumeOptions; sink: OutputSink }): Promise<void> {
  const { topic, group, options, sink } = input;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const format: RecordFormatOptions = { format: options.format, topic, ...(options.keySeparator === undefined ? {} : { keySeparator: options.keySeparator }) };
  const consumer = sluiceFor(options).consumer({ groupId: group, topics: [topic], reconnect: { retriesMax: options.retries } });
  let crashed: SluiceError | undefined;
  consumer.on('crash', ({ error }) => (crashed = error));
  const stopped = new Promise<void>((resolve) => consumer.on('stop', () => resolve()));
  let idleTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearTimeout(idleTimer);
    void consumer.disconnect();
  };
  const restartIdleTimer = (): void => {
    if (options.idleTimeoutMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stop, options.idleTimeoutMs);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  sink.closed.addEventListener('abort', stop, { once: true });
  let printed = 0;
  try {
    await consumer.connect();
    if (max === 0) return;
    // One partition at a time, so records print one by one; `stop` starts no further handler.
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        restartIdleTimer();
        const record = { offset: message.offset, timestampMs: message.timestamp, key: message.key, value: message.value, headers: message.headers, deliveryAttempt: message.deliveryAttempt };
        await sink.write(formatRecord(partition, record, format));
        if (++printed >= max) stop();
      },
    });
    restartIdleTimer();
    await stopped;
  } finally {
    clearTimeout(idleTimer);
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
    sink.closed.removeEventListener('abort', stop);
    await consumer.disconnect();
  }
  if (crashed !== undefined) throw crashed;
}
