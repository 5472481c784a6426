/**
 * `sluice produce TOPIC`: one record per line of standard input.
 *
 * A line's bytes are the value as they are (no decoding); the line ending (`\n` or `\r\n`) is not
 * part of it, and an empty line is a record with an empty value. `--key K` gives every record the
 * key K; `--key-separator SEP` splits each line at its first SEP into key and value, and a line
 * without SEP stops the command (INVALID_INPUT) instead of silently sending it without a key.
 *
 * Lines are batched (up to `--batch-records-max` records or `--batch-bytes-max` bytes per request;
 * a batch that is not full goes out when no more input arrives within a few milliseconds, so typed
 * lines are sent as they are typed) and sent by the BatchProducer (producer.ts: bounded in-flight
 * window, retries). The first batch that fails for good stops the reading; what was sent is waited
 * for, each failed batch is reported with its input lines, and the exit code is 1.
 */
import { type Command, Option } from 'commander';
import type { HeaderInput, ProducerRecord } from '../client/index.js';
import { BROKER_SETTINGS } from '../config.js';
import { type BrokerOptions, type CliIo, CliError, addBrokerOption, integerOption, keyValueOption, usageError, withClient } from './context.js';
import { formatError, formatLineRange } from './output.js';
import { BatchProducer, type LineBatch } from './producer.js';
import { DEFAULT_RETRY_POLICY } from './retry.js';

interface ProduceOptions extends BrokerOptions {
  key?: string;
  keySeparator?: string;
  partition?: number;
  header?: [string, string][];
  batchRecordsMax: number;
  batchBytesMax: number;
  inFlightMax: number;
  retries: number;
}

const DEFAULT_BATCH_RECORDS_MAX = 500;
const DEFAULT_BATCH_BYTES_MAX = 1024 * 1024;
const DEFAULT_IN_FLIGHT_MAX = 4;
/** A batch that is not full is sent when no input arrived for this long. */
const LINGER_MS = 5;
/** No broker accepts a record larger than the largest recordBytesMax, so no line may be longer. */
const LINE_BYTES_MAX = BROKER_SETTINGS.recordBytesMax.max;
/** Counted per record on top of its key, value and headers (offsets, lengths, timestamp). */
const RECORD_OVERHEAD_BYTES = 32;

export function registerProduceCommand(program: Command, io: CliIo): void {
  addBrokerOption(
    program
      .command('produce')
      .description('send standard input to a topic, one record per line')
      .argument('<topic>', 'topic name')
      .addOption(new Option('--key <key>', 'the key of every record').conflicts('keySeparator'))
      .option('--key-separator <sep>', 'split each line at its first <sep> into key and value')
      .option('--partition <partition>', 'send every record to this partition (default: the broker routes by key)', integerOption(0))
      .option('--header <key=value>', 'a header on every record (repeatable)', keyValueOption)
      .option('--batch-records-max <count>', 'records per produce request, at most', integerOption(1), DEFAULT_BATCH_RECORDS_MAX)
      .option('--batch-bytes-max <bytes>', 'bytes per produce request, at most (a larger record goes alone)', integerOption(1), DEFAULT_BATCH_BYTES_MAX)
      .option('--in-flight-max <count>', 'requests unanswered at once, at most (1 keeps input order in every case)', integerOption(1, 4096), DEFAULT_IN_FLIGHT_MAX)
      .option('--retries <count>', 'retries of a request refused with a retriable error', integerOption(0, 100), DEFAULT_RETRY_POLICY.retriesMax),
  ).action(async (topic: string, options: ProduceOptions) => {
    if (options.keySeparator === '') throw usageError('--key-separator must not be empty');
    await withClient(options, (client) => {
      const producer = new BatchProducer({
        client,
        topic,
        ...(options.partition === undefined ? {} : { partition: options.partition }),
        inFlightMax: options.inFlightMax,
        retry: { ...DEFAULT_RETRY_POLICY, retriesMax: options.retries },
      });
      return produceLines({ io, producer, options });
    });
  });
}

async function produceLines(input: { io: CliIo; producer: BatchProducer; options: ProduceOptions }): Promise<void> {
  const { io, producer, options } = input;
  const batcher = new Batcher(options);
  let lastLineSubmitted = 0;
  let inputEnded = false;
  const submit = async (...batches: (LineBatch | undefined)[]): Promise<void> => {
    for (const batch of batches) {
      if (batch === undefined || producer.failed) return;
      await producer.submit(batch);
      lastLineSubmitted = batch.lastLine;
    }
  };

  /** Waits for what was sent and reports each batch not acknowledged (on stderr) and the outcome. */
  const finish = async (): Promise<void> => {
    const report = await producer.finish();
    for (const failure of report.failed) {
      io.stderr.write(`${formatError(failure.error).trimEnd()} (${formatLineRange(failure.firstLine, failure.lastLine)} not acknowledged)\n`);
    }
    if (report.failed.length > 0) {
      const failedCount = report.failed.reduce((sum, f) => sum + f.recordCount, 0);
      const sentCount = failedCount + report.acknowledgedCount;
      const stopped = inputEnded ? '' : `; stopped reading input after line ${lastLineSubmitted}`;
      throw new CliError('NOT_ACKNOWLEDGED', `${failedCount} of ${sentCount} records sent were not acknowledged${stopped}`);
    }
  };

  try {
    const splitter = new LineSplitter(LINE_BYTES_MAX);
    const chunks = (io.stdin as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
    let read: Promise<IteratorResult<Buffer | string>> | undefined;
    while (!producer.failed) {
      read ??= chunks.next();
      const next = batcher.isEmpty ? await read : await withinMs(read, LINGER_MS);
      if (next === LINGERED) {
        await submit(batcher.take());
        continue;
      }
      read = undefined;
      if (next.done === true) {
        const last = splitter.end();
        if (last !== undefined) await submit(...batcher.add(last));
        await submit(batcher.take());
        inputEnded = true;
        break;
      }
      for (const line of splitter.push(typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value)) {
        await submit(...batcher.add(line));
        if (producer.failed) break;
      }
    }
    // Stopped early: a read may still be pending; its outcome no longer matters.
    void read?.catch(() => undefined);
  } catch (error) {
    // Bad input or a failed read: the lines before it are still sent, and their failures reported first.
    await submit(batcher.take());
    try {
      await finish();
    } catch (finishError) {
      io.stderr.write(formatError(finishError));
    }
    throw error;
  }
  await finish();
}

const LINGERED = Symbol('lingered');

/** `promise`'s outcome, or LINGERED if it takes longer than `delayMs` (the promise keeps running). */
async function withinMs<T>(promise: Promise<T>, delayMs: number): Promise<T | typeof LINGERED> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof LINGERED>((resolve) => (timer = setTimeout(() => resolve(LINGERED), delayMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface Line {
  lineNumber: number;
  bytes: Buffer;
}

/**
 * Cuts a byte stream into lines (without `\n` or `\r\n`), numbered from 1. A line longer than
 * `lineBytesMax` is refused (INVALID_INPUT) before it is buffered whole.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineCount = 0;

  constructor(private readonly lineBytesMax: number) {}

  /** The lines `chunk` completes. */
  push(chunk: Buffer): Line[] {
    const lines: Line[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a, start); end !== -1; end = chunk.indexOf(0x0a, start)) {
      lines.push(this.complete(chunk.subarray(start, end)));
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      this.checkLength(this.pendingBytes);
      this.pending.push(rest);
    }
    return lines;
  }

  /** The last line, if the input did not end with a line ending. */
  end(): Line | undefined {
    return this.pending.length === 0 ? undefined : this.complete(Buffer.alloc(0));
  }

  private complete(tail: Buffer): Line {
    let bytes = this.pending.length === 0 ? tail : Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    this.checkLength(bytes.length);
    this.lineCount++;
    return { lineNumber: this.lineCount, bytes };
  }

  private checkLength(bytes: number): void {
    if (bytes > this.lineBytesMax) throw new CliError('INVALID_INPUT', `line ${this.lineCount + 1} is longer than ${this.lineBytesMax} bytes`);
  }
}

/** Turns lines into records and collects them into batches within the request limits. */
class Batcher {
  private records: ProducerRecord[] = [];
  private bytes = 0;
  private firstLine = 0;
  private lastLine = 0;
  private readonly separator: Buffer | undefined;
  private readonly key: Buffer | undefined;
  private readonly headers: HeaderInput[];
  private readonly headerBytes: number;

  constructor(private readonly options: ProduceOptions) {
    this.separator = options.keySeparator === undefined ? undefined : Buffer.from(options.keySeparator, 'utf8');
    this.key = options.key === undefined ? undefined : Buffer.from(options.key, 'utf8');
    this.headers = (options.header ?? []).map(([key, value]) => ({ key, value }));
    this.headerBytes = (options.header ?? []).reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value), 0);
  }

  get isEmpty(): boolean {
    return this.records.length === 0;
  }

  /** Adds the record of `line`; returns the batches that are complete now (a record that does not fit closes the batch before it). */
  add(line: Line): LineBatch[] {
    const { key, value } = this.split(line);
    const size = (key?.length ?? 0) + value.length + this.headerBytes + RECORD_OVERHEAD_BYTES;
    const complete: LineBatch[] = [];
    if (!this.isEmpty && this.bytes + size > this.options.batchBytesMax) complete.push(this.take()!);
    if (this.isEmpty) this.firstLine = line.lineNumber;
    this.records.push({ ...(key === undefined ? {} : { key }), value, headers: this.headers });
    this.bytes += size;
    this.lastLine = line.lineNumber;
    // A record larger than a batch goes alone.
    if (this.records.length >= this.options.batchRecordsMax || this.bytes >= this.options.batchBytesMax) complete.push(this.take()!);
    return complete;
  }

  /** The batch collected so far (undefined when empty), starting a new one. */
  take(): LineBatch | undefined {
    if (this.isEmpty) return undefined;
    const batch = { firstLine: this.firstLine, lastLine: this.lastLine, records: this.records };
    this.records = [];
    this.bytes = 0;
    return batch;
  }

  private split(line: Line): { key: Buffer | undefined; value: Buffer } {
    if (this.separator === undefined) return { key: this.key, value: line.bytes };
    const at = line.bytes.indexOf(this.separator);
    if (at === -1) throw new CliError('INVALID_INPUT', `line ${line.lineNumber} has no key separator ${JSON.stringify(this.options.keySeparator)}`);
    return { key: line.bytes.subarray(0, at), value: line.bytes.subarray(at + this.separator.length) };
  }
}
