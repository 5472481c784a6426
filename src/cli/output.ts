/**
 * Everything the CLI prints, in one place: errors (`error: <CODE>: <message>` on stderr), topic
 * listings and descriptions, consumed records (text or JSON lines), and the `OutputSink` that
 * writes records with backpressure and notices a closed pipe (`sluice consume ... | head`).
 *
 * JSON record lines have the fields `topic, partition, offset, timestamp, key, value, headers`:
 * `timestamp` in milliseconds since the Unix epoch, `key` and `value` decoded as UTF-8 (invalid
 * bytes become U+FFFD) or `null`, and `headers` as a list of `{ "key", "value" }` in record order
 * (a list, not an object: header keys may repeat, and their order is kept). Consuming in a group
 * adds `deliveryAttempt`.
 */
import { type ConsumedRecord, isSluiceError, type SluiceClient, type TopicDescription } from '../client/index.js';
import { CliError } from './context.js';

export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

// ---- errors ----

/** The one line (or, for a bug, the line and its stack) an error prints on stderr. */
export function formatError(error: unknown): string {
  if (isSluiceError(error)) {
    // A code this client does not know is shown as the broker sent it.
    const code = error.code === 'UNKNOWN_ERROR' && error.brokerCode !== undefined ? error.brokerCode : error.code;
    return `error: ${code}: ${error.message}\n`;
  }
  if (error instanceof CliError) return `error: ${error.code}: ${error.message}\n`;
  // Not an expected failure: a bug, worth its stack.
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `error: INTERNAL: ${detail}\n`;
}

/** commander's own usage messages (`error: unknown option '--x'`) in the CLI's error format. */
export function formatUsageError(commanderMessage: string): string {
  return `error: USAGE: ${commanderMessage.replace(/^error:\s*/, '')}`;
}

// ---- topics ----

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

function json(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** `topic list`: text is one name per line (for scripts, like `kafka-topics --list`); json one array. */
export function formatTopicList(topics: readonly TopicDescription[], format: OutputFormat): string {
  const sorted = [...topics].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (format === 'json') return json(sorted);
  return sorted.map((t) => `${t.name}\n`).join('');
}

/** `topic describe`: settings in effect (overrides marked `*`) and one row per partition. */
export function formatTopicDescription(topic: TopicDescription, format: OutputFormat): string {
  if (format === 'json') return json(topic);
  const header = `topic ${topic.name}: ${topic.partitionCount} partition${topic.partitionCount === 1 ? '' : 's'}, created ${new Date(topic.createdAtMs).toISOString()}\n`;
  const settings = Object.keys(topic.config)
    .sort()
    .map((key) => [Object.hasOwn(topic.overrides, key) ? '*' : ' ', key, topic.config[key] ?? '']);
  const partitions = topic.partitions.map((p) => [
    String(p.partition),
    String(p.logStartOffset),
    String(p.logEndOffset),
    String(p.highWatermark),
    String(p.sizeBytes),
    String(p.segmentCount),
    p.offline === undefined ? 'online' : `offline ${p.offline.code}: ${p.offline.message}`,
  ]);
  return (
    header +
    '\nsettings (* = set on this topic):\n' +
    table(settings) +
    '\n' +
    table([['PARTITION', 'LOG-START', 'LOG-END', 'HIGH-WATERMARK', 'SIZE-BYTES', 'SEGMENTS', 'STATUS'], ...partitions])
  );
}

export function formatTopicCreated(topic: TopicDescription): string {
  return `created topic ${topic.name} with ${topic.partitionCount} partition${topic.partitionCount === 1 ? '' : 's'}\n`;
}

export function formatTopicDeleted(name: string): string {
  return `deleted topic ${name}\n`;
}

// ---- records ----

export interface RecordFormatOptions {
  format: OutputFormat;
  topic: string;
  /** Text format: print `key<separator>value` instead of the value alone. */
  keySeparator?: string;
}

const NEWLINE = Buffer.from('\n');

function utf8(bytes: Buffer | null): string | null {
  return bytes === null ? null : bytes.toString('utf8');
}

/**
 * A consumed record as one output line. Text keeps the value's bytes as they are (a record made by
 * `sluice produce` prints back as its input line); JSON decodes them as UTF-8.
 */
export function formatRecord(partition: number, record: ConsumedRecord & { deliveryAttempt?: number }, options: RecordFormatOptions): Buffer {
  if (options.format === 'json') {
    const line = {
      topic: options.topic,
      partition,
      offset: record.offset,
      timestamp: record.timestampMs,
      key: utf8(record.key),
      value: utf8(record.value),
      headers: record.headers.map((h) => ({ key: h.key, value: utf8(h.value) })),
      // Consuming in a group: which delivery of the record this is (1 = first).
      ...(record.deliveryAttempt === undefined ? {} : { deliveryAttempt: record.deliveryAttempt }),
    };
    return Buffer.from(json(line), 'utf8');
  }
  const value = record.value ?? Buffer.alloc(0);
  if (options.keySeparator === undefined) return Buffer.concat([value, NEWLINE]);
  return Buffer.concat([record.key ?? Buffer.alloc(0), Buffer.from(options.keySeparator, 'utf8'), value, NEWLINE]);
}

// ---- produce report ----

/** Ranges shown in a produce report before the rest is only counted. */
const LINE_RANGES_SHOWN_MAX = 20;

/** Input line numbers as `line 3`, `lines 3-7` or `lines 1-2, 5, 7-9` (and `... (N more)` past 20 ranges). */
export function formatLineRanges(lineNumbers: readonly number[]): string {
  const sorted = [...lineNumbers].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const line of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && line <= last[1] + 1) last[1] = Math.max(last[1], line);
    else ranges.push([line, line]);
  }
  const [first] = ranges;
  if (ranges.length === 1 && first !== undefined && first[0] === first[1]) return `line ${first[0]}`;
  const shown = ranges.slice(0, LINE_RANGES_SHOWN_MAX).map(([from, to]) => (from === to ? String(from) : `${from}-${to}`));
  const more = ranges.length > LINE_RANGES_SHOWN_MAX ? ` ... (${ranges.slice(LINE_RANGES_SHOWN_MAX).reduce((sum, [from, to]) => sum + to - from + 1, 0)} more)` : '';
  return `lines ${shown.join(', ')}${more}`;
}

// ---- the sink ----

/**
 * Writes output chunks in order, waiting for 'drain' when the stream buffers, so a slow reader slows
 * the consumer down instead of filling memory. When the reader goes away (EPIPE), `closed` aborts and
 * further writes are dropped: the command then stops as if it had finished.
 */
export class OutputSink {
  private readonly abort = new AbortController();

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', () => this.abort.abort());
  }

  /** Aborts once the stream failed (its reader closed it). */
  get closed(): AbortSignal {
    return this.abort.signal;
  }

  async write(chunk: Buffer | string): Promise<void> {
    if (this.abort.signal.aborted) return;
    if (this.stream.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.removeListener('drain', done);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}

// ---- consumer groups and dead letters ----

type GroupSummaries = Awaited<ReturnType<SluiceClient['listGroups']>>;
type GroupDescription = Awaited<ReturnType<SluiceClient['describeGroup']>>;
type ResetResult = Awaited<ReturnType<SluiceClient['resetGroup']>>;
type DeadLetters = Awaited<ReturnType<SluiceClient['listDeadLetters']>>;
type RedriveResult = Awaited<ReturnType<SluiceClient['redrive']>>;

export function formatGroupList(groups: GroupSummaries, format: OutputFormat): string {
  if (format === 'json') return json(groups);
  if (groups.length === 0) return 'no consumer groups\n';
  return table([['GROUP', 'STATE', 'PAUSED', 'MEMBERS', 'LAG'], ...groups.map((g) => [g.group, g.state, g.paused ? 'yes' : 'no', String(g.memberCount), String(g.lagRecords)])]);
}

export function formatGroupDescription(group: GroupDescription, format: OutputFormat): string {
  if (format === 'json') return json(group);
  const header = `group ${group.group}: ${group.state}${group.paused ? ' (paused)' : ''}, generation ${group.generation}, strategy ${group.strategy}, ${group.members.length} member${group.members.length === 1 ? '' : 's'}\n`;
  const members = group.members.map((m) => [m.memberId, m.clientId, m.partitions.map((p) => `${p.topic}/${p.partition}`).join(',') || '-', String(m.inFlight)]);
  const partitions = group.partitions.map((p) => [
    `${p.topic}/${p.partition}`,
    String(p.committedOffset),
    String(p.highWatermark),
    String(p.lagRecords),
    p.lagSeconds.toFixed(1),
    p.ownerMemberId || '-',
    String(p.inFlight),
    p.retryingOffset === undefined ? '-' : `${p.retryingOffset} (failed ${p.retryingFailedAttempts}x, in ${p.retryInMs} ms)`,
  ]);
  return (
    header +
    (members.length === 0 ? '' : '\n' + table([['MEMBER', 'CLIENT', 'PARTITIONS', 'IN-FLIGHT'], ...members])) +
    '\n' +
    table([['PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'LAG-SECONDS', 'OWNER', 'IN-FLIGHT', 'RETRYING'], ...partitions])
  );
}

export function formatResetPlan(group: string, topic: string, result: ResetResult, format: OutputFormat): string {
  if (format === 'json') return json({ group, topic, ...result });
  const rows = result.plan.map((p) => [String(p.partition), p.currentOffset === undefined ? '-' : String(p.currentOffset), String(p.newOffset), String(p.lagRecords)]);
  const verdict = result.executed ? `reset group ${group} on ${topic}\n` : `plan for group ${group} on ${topic} (nothing changed; add --execute to apply)\n`;
  return verdict + table([['PARTITION', 'CURRENT', 'NEW', 'LAG-AFTER'], ...rows]);
}

export function formatDeadLetters(result: DeadLetters, format: OutputFormat): string {
  if (format === 'json') {
    return result.deadLetters
      .map((d) => json({ ...d, key: utf8(d.key ?? null), value: utf8(d.value ?? null), headers: d.headers.map((h) => ({ key: h.key, value: utf8(h.value ?? null) })) }))
      .join('');
  }
  if (result.deadLetters.length === 0) return `no dead letters in ${result.dlqTopic}\n`;
  const rows = result.deadLetters.map((d) => [
    `${d.partition}/${d.offset}`,
    `${d.originTopic}/${d.originPartition}@${d.originOffset}`,
    d.group,
    String(d.attempts),
    d.cause,
    new Date(d.lastFailureMs).toISOString(),
    d.error.replace(/\s+/g, ' ').slice(0, 80),
  ]);
  return table([['DLQ', 'ORIGIN', 'GROUP', 'ATTEMPTS', 'CAUSE', 'LAST-FAILURE', 'ERROR'], ...rows]);
}

export function formatRedrive(result: RedriveResult, format: OutputFormat): string {
  if (format === 'json') return json(result);
  const summary = result.dryRun
    ? `dry run: ${result.movedCount} would move (${result.skippedByLoopGuardCount} held back by the loop guard, ${result.skippedByFilterCount} not matching)\n`
    : `moved ${result.movedCount} (${result.skippedByLoopGuardCount} held back by the loop guard, ${result.skippedByFilterCount} not matching); ${result.totalMovedCount} moved by this redrive in all\n`;
  const preview = result.preview.map((p) => [`${p.dlqPartition}/${p.dlqOffset}`, `${p.toTopic}/${p.toPartition}`, String(p.originalOffset), p.error.replace(/\s+/g, ' ').slice(0, 80)]);
  return summary + (preview.length === 0 ? '' : table([['DLQ', 'TO', 'ORIGINAL-OFFSET', 'ERROR'], ...preview]));
}
