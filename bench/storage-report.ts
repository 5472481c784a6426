/**
 * The storage benchmark's result rows and their plain-text report. Every table says in its heading
 * what the log was compared against.
 */
import type { DurabilityMode } from '../src/config.js';
import {
  MiB,
  formatCount,
  formatMegabytes,
  formatPercent,
  formatRatio,
  formatTable,
  formatValueBytes,
  megabytesPerSecond,
  perSecond,
} from './harness.js';
import type { Run, Shape } from './storage-measure.js';

export interface Rates {
  recordsPerSecond: number;
  megabytesPerSecond: number;
}

export function rates(run: Run): Rates {
  return { recordsPerSecond: perSecond(run.records, run.elapsedMs), megabytesPerSecond: megabytesPerSecond(run.bytes, run.elapsedMs) };
}

/** A raw run and the log run measured right after it. */
export interface Pair {
  raw: Run;
  log: Run;
  logToRaw: number;
}

/** What a table shows of repeated pairs: the pair with the median log/raw ratio, and the ratios' range. */
export interface PairSummary {
  log: Rates & { elapsedMs: number; fsyncs: number; fsyncBlockedShare: number; rolls: number };
  raw: Rates & { elapsedMs: number };
  logToRaw: number;
  logToRawMin: number;
  logToRawMax: number;
  pairs: Pair[];
}

export function summarizePairs(pairs: Pair[]): PairSummary {
  const sorted = [...pairs].sort((a, b) => a.logToRaw - b.logToRaw);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    log: {
      ...rates(median.log),
      elapsedMs: median.log.elapsedMs,
      fsyncs: median.log.fsyncs,
      fsyncBlockedShare: median.log.fsyncBlockedMs / median.log.elapsedMs,
      rolls: (median.log.segmentCount ?? 1) - 1,
    },
    raw: { ...rates(median.raw), elapsedMs: median.raw.elapsedMs },
    logToRaw: median.logToRaw,
    logToRawMin: sorted[0]!.logToRaw,
    logToRawMax: sorted[sorted.length - 1]!.logToRaw,
    pairs,
  };
}

export interface EncodeRow extends Shape, Rates {
  batchBytes: number;
}

export interface AppendRow extends Shape, PairSummary {
  durability: DurabilityMode;
  segmentBytesMax: number;
  batchBytes: number;
}

export interface ReadRow extends Shape, PairSummary {
  logBytes: number;
}

export interface GroupCommitRow extends Shape {
  appenderCount: number;
  rounds: number;
  raw: Rates;
  single: Rates & { recordsPerFsync: number };
  concurrent: Rates & { recordsPerFsync: number };
  /** Concurrent records/s over single-appender records/s. */
  speedup: number;
}

export interface Target {
  name: string;
  measured: number;
  required: number;
  pass: boolean;
}

export interface StorageResults {
  encode: readonly EncodeRow[];
  append: readonly AppendRow[];
  appendWithoutRoll: readonly AppendRow[];
  appendAgainstLogSchedule: readonly AppendRow[];
  read: readonly ReadRow[];
  groupCommit: readonly GroupCommitRow[];
  targets: readonly Target[];
}

export function shapeLabel(shape: Shape): string {
  return `${formatValueBytes(shape.valueBytes)} x${shape.recordsPerBatch}`;
}

const right = (header: string): { header: string; align: 'right' } => ({ header, align: 'right' });

function range(summary: PairSummary): string {
  return `${formatPercent(summary.logToRawMin)}-${formatPercent(summary.logToRawMax)}`;
}

function appendTable(rows: readonly AppendRow[]): string {
  return formatTable({
    columns: [
      { header: 'value' },
      right('batch'),
      { header: 'mode' },
      right('log rec/s'),
      right('log MB/s'),
      right('raw rec/s'),
      right('raw MB/s'),
      right('log/raw'),
      right('(range)'),
      right('fsyncs'),
      right('rolls'),
      right('blocked in fsync'),
    ],
    rows: rows.map((r) => [
      formatValueBytes(r.valueBytes),
      String(r.recordsPerBatch),
      r.durability,
      formatCount(r.log.recordsPerSecond),
      formatMegabytes(r.log.megabytesPerSecond),
      formatCount(r.raw.recordsPerSecond),
      formatMegabytes(r.raw.megabytesPerSecond),
      formatPercent(r.logToRaw),
      range(r),
      String(r.log.fsyncs),
      String(r.log.rolls),
      formatPercent(r.log.fsyncBlockedShare),
    ]),
  });
}

export function formatReport(results: StorageResults, options: { repetitions: number; groupCommitAppenders: number }): string {
  const out: string[] = [];
  out.push('encodeBatch (on the produce path; not part of the append rows, whose batches are encoded beforehand)');
  out.push(
    formatTable({
      columns: [{ header: 'value' }, right('batch'), right('batch bytes'), right('records/s'), right('MB/s out')],
      rows: results.encode.map((r) => [
        formatValueBytes(r.valueBytes),
        String(r.recordsPerBatch),
        String(r.batchBytes),
        formatCount(r.recordsPerSecond),
        formatMegabytes(r.megabytesPerSecond),
      ]),
    }),
  );

  out.push('');
  out.push('Append: SegmentLog.append with default settings (128 MiB segments), 1 appender awaiting each append.');
  out.push('  raw = fs.writeSync of the same batches to one plain file (+ fs.fdatasyncSync after each batch in `always` rows).');
  out.push(`  Each row: the median (by log/raw) of ${options.repetitions} raw-then-log pairs; (range) = lowest-highest log/raw of the pairs.`);
  out.push('  fsyncs/rolls/blocked: the log run\'s fdatasync calls, segment rolls, and share of its time blocked in a synchronous');
  out.push('  fdatasync (a roll fsyncs the old segment before the append continues). Raw never/interval rows do not fsync at all.');
  out.push(appendTable(results.append));

  if (results.appendWithoutRoll.length > 0) {
    out.push('');
    out.push('Diagnostic 1 (no target): the 1000-record never/interval rows again with segmentBytesMax = 1 GiB, so no roll falls');
    out.push('  inside the row; the gap to the rows above is what the rolls cost. Same plain raw baseline.');
    out.push(appendTable(results.appendWithoutRoll));
  }
  if (results.appendAgainstLogSchedule.length > 0) {
    out.push('');
    out.push('Diagnostic 2 (no target): the same rows with default settings, against a raw baseline fsynced on the log\'s own');
    out.push('  schedule: a blocking fdatasync at each 128 MiB (as a roll) and, in interval rows, one on the thread pool every 200 ms.');
    out.push(appendTable(results.appendAgainstLogSchedule));
  }

  out.push('');
  out.push('Read: the whole `never` log written above, from its start, with log.read({ maxBytes: 1 MiB }), which CRC-checks');
  out.push('  every batch; page cache warm. raw = fs.readSync of the same segment files in 1 MiB chunks into fresh buffers.');
  out.push(
    formatTable({
      columns: [{ header: 'value' }, right('batch'), right('log MiB'), right('log rec/s'), right('log MB/s'), right('raw MB/s'), right('log/raw'), right('(range)')],
      rows: results.read.map((r) => [
        formatValueBytes(r.valueBytes),
        String(r.recordsPerBatch),
        (r.logBytes / MiB).toFixed(0),
        formatCount(r.log.recordsPerSecond),
        formatMegabytes(r.log.megabytesPerSecond),
        formatMegabytes(r.raw.megabytesPerSecond),
        formatPercent(r.logToRaw),
        range(r),
      ]),
    }),
  );

  out.push('');
  const n = options.groupCommitAppenders;
  out.push(`Group commit (always mode, 1 record per append): ${n} appenders, each awaiting its own append, against`);
  out.push('  1 appender awaiting each append (one fsync per append). raw = writeSync + fdatasyncSync per record, for scale.');
  out.push('  The three are measured in interleaved slices and summed, so drifts in fsync latency hit all of them alike.');
  out.push(
    formatTable({
      columns: [{ header: 'value' }, right('raw rec/s'), right('1 appender rec/s'), right('rec/fsync'), right(`${n} appenders rec/s`), right('rec/fsync'), right('speedup')],
      rows: results.groupCommit.map((r) => [
        formatValueBytes(r.valueBytes),
        formatCount(r.raw.recordsPerSecond),
        formatCount(r.single.recordsPerSecond),
        r.single.recordsPerFsync.toFixed(2),
        formatCount(r.concurrent.recordsPerSecond),
        r.concurrent.recordsPerFsync.toFixed(2),
        formatRatio(r.speedup),
      ]),
    }),
  );

  out.push('');
  out.push('Targets');
  for (const target of results.targets) {
    const measured = target.required < 1 ? formatPercent(target.measured) : formatRatio(target.measured);
    out.push(`  ${target.pass ? 'PASS' : 'FAIL'}  ${target.name}: measured ${measured}`);
  }
  return out.join('\n');
}
