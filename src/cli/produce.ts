/**
 * `sluice produce TOPIC`: one record per line of standard input, sent by the client library's
 * Producer (README "Client library": batching, in-flight bound, idempotent retries in order).
 *
 * A line's bytes are the value as they are (no decoding); the line ending (`\n` or `\r\n`) is not
 * part of it, and an empty line is a record with an empty value. `--key K` gives every record the
 * key K; `--key-separator SEP` splits each line at its first SEP into key and value, and a line
 * without SEP stops the command (INVALID_INPUT) instead of silently sending it without a key.
 *
 * Consecutive lines read together (up to a batch's worth) are one `send`, so a failure names the
 * lines of the send that failed (one `send` per line would cost three times the CPU); the Producer
 * batches them by partition. Reading pauses while the lines sent and not yet settled fill the window,
 * `--in-flight-max` + 1 batches' worth of records or bytes (the Producer's buffer has the same
 * bound), so memory stays bounded however long the input is. The first send that fails for good
 * stops the reading; what was sent is waited for, the lines not acknowledged are reported with their
 * errors, and the exit code is 1.
 */
import { type Command, Option } from 'commander';
import type { HeaderInput, Producer, ProducerMessage } from '../client/index.js';
import { DEFAULT_RETRY_POLICY } from '../client/index.js';
import { BROKER_SETTINGS } from '../config.js';
import { type BrokerOptions, type CliIo, CliError, addBrokerOption, integerOption, keyValueOption, sluiceFor, usageError } from './context.js';
import { formatError, formatLineRanges } from './output.js';

/** What shapes the records and the window (the command's options without the connection ones). */
export interface LineOptions {
  key?: string;
  keySeparator?: string;
  partition?: number;
  header?: [string, string][];
  batchRecordsMax: number;
  batchBytesMax: number;
  inFlightMax: number;
}

interface ProduceOptions extends BrokerOptions, LineOptions {
  retries: number;
}

const DEFAULT_BATCH_RECORDS_MAX = 500;
const DEFAULT_BATCH_BYTES_MAX = 1024 * 1024;
const DEFAULT_IN_FLIGHT_MAX = 4;
/** A batch that is not full is sent this long after its first line. */
const LINGER_MS = 5;
/** No broker accepts a record larger than the largest recordBytesMax, so no line may be longer. */
const LINE_BYTES_MAX = BROKER_SETTINGS.recordBytesMax.max;
/** Counted per record on top of its key, value and headers: at least the Producer's own estimate, so its buffer never waits on ours. */
const RECORD_OVERHEAD_BYTES = 32;

export function registerProduceCommand(program: Command, io: CliIo): void {
  addBrokerOption(
    program
      .command('produce')
      .description('send standard input to a topic, one record per line')
      .argument('<topic>', 'topic name')
      .addOption(new Option('--key <key>', 'the key of every record').conflicts('keySeparator'))
      .option('--key-separator <sep>', 'split each line at its first <sep> into key and value')
      .option('--partition <partition>', 'send every record to this partition (default: by key, keyless records stick to a partition)', integerOption(0))
      .option('--header <key=value>', 'a header on every record (repeatable)', keyValueOption)
      .option('--batch-records-max <count>', 'records per produce request, at most', integerOption(1), DEFAULT_BATCH_RECORDS_MAX)
      .option('--batch-bytes-max <bytes>', 'bytes per produce request, at most (a larger record goes alone)', integerOption(1), DEFAULT_BATCH_BYTES_MAX)
      .option('--in-flight-max <count>', 'requests unanswered at once, at most', integerOption(1, 4096), DEFAULT_IN_FLIGHT_MAX)
      .option('--retries <count>', 'retries of a request refused with a retriable error', integerOption(0, 100), DEFAULT_RETRY_POLICY.retriesMax),
  ).action(async (topic: string, options: ProduceOptions) => {
    if (options.keySeparator === '') throw usageError('--key-separator must not be empty');
    const producer = sluiceFor(options).producer({
      lingerMs: LINGER_MS,
      batchRecordsMax: options.batchRecordsMax,
      batchBytesMax: options.batchBytesMax,
      inFlightMax: options.inFlightMax,
      bufferedBytesMax: windowOf(options).bytesMax,
      retry: { retriesMax: options.retries },
    });
    try {
      await producer.connect();
      await produceLines({ input: io.stdin as AsyncIterable<Buffer | string>, stderr: io.stderr, producer, topic, options });
    } finally {
      await producer.disconnect();
    }
  });
}

/** Lines sent and not yet settled, at most: enough to keep `inFlightMax` full batches in flight while the next one fills. */
function windowOf(options: LineOptions): { recordsMax: number; bytesMax: number } {
  return { recordsMax: (options.inFlightMax + 1) * options.batchRecordsMax, bytesMax: (options.inFlightMax + 1) * options.batchBytesMax };
}

/**
 * Sends each line of `input` as a record of `topic` and waits for every outcome. Throws INVALID_INPUT
 * for a bad line (after the lines before it were sent), NOT_ACKNOWLEDGED when lines failed (each
 * error printed on `stderr` first, with its lines).
 */
export async function produceLines(request: {
  input: AsyncIterable<Buffer | string>;
  stderr: NodeJS.WritableStream;
  producer: Pick<Producer, 'send'>;
  topic: string;
  options: LineOptions;
}): Promise<void> {
  const { input, stderr, producer, topic, options } = request;
  const toRecord = recordMaker(options);
  const { recordsMax, bytesMax } = windowOf(options);
  const window = new SendWindow(recordsMax, bytesMax);
  let group: LineGroup = { firstLine: 0, lastLine: 0, messages: [], bytes: 0 };
  let lastLineSent = 0;
  let inputEnded = false;

  /** Sends the lines collected so far once the window has room; false when a failure stopped the sending. */
  const sendGroup = async (): Promise<boolean> => {
    if (group.messages.length === 0) return !window.failed;
    const sending = group;
    group = { firstLine: 0, lastLine: 0, messages: [], bytes: 0 };
    if (!window.failed) await window.room(sending.messages.length, sending.bytes);
    if (window.failed) return false;
    window.add(sending, producer.send({ topic, messages: sending.messages }));
    lastLineSent = sending.lastLine;
    return true;
  };

  /** Adds a line to the group, sending the group first when the line would overflow it. */
  const addLine = async (line: Line): Promise<boolean> => {
    const { message, bytes } = toRecord(line);
    if (group.messages.length > 0 && (group.messages.length >= options.batchRecordsMax || group.bytes + bytes > options.batchBytesMax)) {
      if (!(await sendGroup())) return false;
    }
    if (group.messages.length === 0) group.firstLine = line.lineNumber;
    group.messages.push(message);
    group.bytes += bytes;
    group.lastLine = line.lineNumber;
    return true;
  };

  /** Waits for what was sent; reports each error with its lines (on stderr) and the outcome. */
  const finish = async (): Promise<void> => {
    await window.drain();
    if (!window.failed) return;
    const byError = new Map<string, number[]>();
    for (const { firstLine, lastLine, error } of window.failures) {
      const text = formatError(error).trimEnd();
      const lines = byError.get(text) ?? [];
      for (let line = firstLine; line <= lastLine; line++) lines.push(line);
      byError.set(text, lines);
    }
    const reports = [...byError].map(([text, lines]) => ({ text, lines: lines.sort((a, b) => a - b) })).sort((a, b) => a.lines[0]! - b.lines[0]!);
    for (const { text, lines } of reports) stderr.write(`${text} (${formatLineRanges(lines)} not acknowledged)\n`);
    const failedCount = window.failures.reduce((sum, f) => sum + f.recordCount, 0);
    const stopped = inputEnded ? '' : `; stopped reading input after line ${lastLineSent}`;
    throw new CliError('NOT_ACKNOWLEDGED', `${failedCount} of ${window.sentCount} records sent were not acknowledged${stopped}`);
  };

  try {
    const splitter = new LineSplitter(LINE_BYTES_MAX);
    let sending = true;
    for await (const chunk of input) {
      for (const line of splitter.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)) {
        sending = await addLine(line);
        if (!sending) break;
      }
      // What this chunk completed goes now (the Producer lingers a moment for more); leaving the loop stops the reading.
      sending &&= await sendGroup();
      if (!sending) break;
    }
    if (sending) {
      const last = splitter.end();
      inputEnded = (last === undefined || (await addLine(last))) && (await sendGroup());
    }
  } catch (error) {
    // Bad input or a failed read: the lines before it are still sent, and their failures reported first.
    try {
      await sendGroup();
      await finish();
    } catch (finishError) {
      stderr.write(formatError(finishError));
    }
    throw error;
  }
  await finish();
}

/** Consecutive lines sent together. */
interface LineGroup {
  firstLine: number;
  lastLine: number;
  messages: ProducerMessage[];
  bytes: number;
}

/**
 * The sends under way, at most `recordsMax` lines and `bytesMax` bytes (a larger group goes alone),
 * and the outcome of each. One reader waits for room at a time.
 */
class SendWindow {
  private records = 0;
  private bytes = 0;
  private unsettled = 0;
  private wake: (() => void) | undefined;
  sentCount = 0;
  readonly failures: { firstLine: number; lastLine: number; recordCount: number; error: unknown }[] = [];

  constructor(
    private readonly recordsMax: number,
    private readonly bytesMax: number,
  ) {}

  /** Whether some send failed for good: the caller stops sending. */
  get failed(): boolean {
    return this.failures.length > 0;
  }

  /** Resolves once `records` lines of `bytes` fit, or a send failed. */
  async room(records: number, bytes: number): Promise<void> {
    while (!this.failed && this.unsettled > 0 && (this.records + records > this.recordsMax || this.bytes + bytes > this.bytesMax)) await this.settled();
  }

  add(group: LineGroup, sent: Promise<unknown>): void {
    const records = group.messages.length;
    this.records += records;
    this.bytes += group.bytes;
    this.sentCount += records;
    this.unsettled++;
    const settle = (): void => {
      this.records -= records;
      this.bytes -= group.bytes;
      this.unsettled--;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    sent.then(settle, (error: unknown) => {
      this.failures.push({ firstLine: group.firstLine, lastLine: group.lastLine, recordCount: records, error });
      settle();
    });
  }

  /** Resolves once every send is settled. */
  async drain(): Promise<void> {
    while (this.unsettled > 0) await this.settled();
  }

  private settled(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
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

/** Turns a line into its message (`--key`, `--key-separator`, `--header`, `--partition`) and the bytes it counts in the window. */
function recordMaker(options: LineOptions): (line: Line) => { message: ProducerMessage; bytes: number } {
  const separator = options.keySeparator === undefined ? undefined : Buffer.from(options.keySeparator, 'utf8');
  const fixedKey = options.key === undefined ? undefined : Buffer.from(options.key, 'utf8');
  const headers: HeaderInput[] = (options.header ?? []).map(([key, value]) => ({ key, value }));
  const headerBytes = (options.header ?? []).reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value), 0);
  const partition = options.partition === undefined ? {} : { partition: options.partition };
  return (line) => {
    let key: Buffer | undefined = fixedKey;
    let value: Buffer = line.bytes;
    if (separator !== undefined) {
      const at = line.bytes.indexOf(separator);
      if (at === -1) throw new CliError('INVALID_INPUT', `line ${line.lineNumber} has no key separator ${JSON.stringify(options.keySeparator)}`);
      key = line.bytes.subarray(0, at);
      value = line.bytes.subarray(at + separator.length);
    }
    const bytes = (key?.length ?? 0) + value.length + headerBytes + RECORD_OVERHEAD_BYTES;
    return { message: { ...(key === undefined ? {} : { key }), value, headers, ...partition }, bytes };
  };
}
