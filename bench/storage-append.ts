/**
 * Storage benchmark: what one partition log (`SegmentLog`) costs on top of the file system it writes.
 *
 * Every log figure is printed beside a raw baseline measured in the same run, on the same bytes:
 * - append: one appender awaiting each `log.append`, against `fs.writeSync` of the same encoded batches
 *   to one plain file, with `fs.fdatasyncSync` after every batch in `always` rows;
 * - read: the whole log read back with `log.read({ fromOffset, maxBytes: 1 MiB })` (which verifies each
 *   batch's CRC), against `fs.readSync` of the same segment files in 1 MiB chunks;
 * - group commit: 8 appenders with one append in flight each, against one appender awaiting each
 *   append (one fsync per append), both in `always` mode.
 * Batches are encoded before the timed region (the log is measured, not the encoder); `encodeBatch`,
 * which is on the produce path too, gets its own table.
 *
 * Targets (printed PASS/FAIL, never failing the process): with 1000-record batches the log reaches
 * >= 70% of the raw MB/s in `never` and `interval` mode; in `always` mode 8 concurrent appenders reach
 * >= 4x the records/s of one appender.
 *
 * The logs use the default settings (128 MiB segments, 200 ms flush interval), so a long row
 * includes segment rolls, each of which fsyncs the old segment: that is part of what the log costs.
 * The raw baseline never fsyncs in `never`/`interval` rows: it measures a burst into the page cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type DurabilityMode, DURABILITY_MODES, type LogConfig, logConfig } from '../src/config.js';
import { type BenchOptions, KiB, MiB, busyMachineWarning, describeEnvironment, formatPercent, withTempDir, writeJsonResults } from './harness.js';
import {
  type Budget,
  type RawSyncPolicy,
  type Run,
  type Shape,
  addRun,
  emptyRun,
  encodePool,
  encodeRun,
  logAppend,
  logRead,
  rawAppend,
  rawRead,
} from './storage-measure.js';
import {
  type AppendRow,
  type EncodeRow,
  type GroupCommitRow,
  type Pair,
  type ReadRow,
  type Target,
  formatReport,
  rates,
  shapeLabel,
  summarizePairs,
} from './storage-report.js';

const VALUE_BYTES = [100, 1 * KiB] as const;
const RECORDS_PER_BATCH = [1, 100, 1000] as const;
const CONCURRENT_APPENDERS = 8;
/** segmentBytesMax of the diagnostic rows: the largest allowed, so a row never rolls. */
const NO_ROLL_SEGMENT_BYTES = 1024 * MiB;

const TARGET_LOG_TO_RAW_MIN = 0.7;
const TARGET_GROUP_COMMIT_SPEEDUP_MIN = 4;

interface Budgets {
  /** A measurement stops after `row.bytesMax` bytes or `row.timeMs`, whichever comes first. */
  row: Budget;
  readTimeMs: number;
  encodeTimeMs: number;
  /** Each (raw, log) pair is measured this many times; the median pair is shown. */
  repetitions: number;
  /** Group commit: interleaved slices of raw, 1 appender and 8 appenders, summed. */
  groupCommitRounds: number;
  groupCommitSliceMs: number;
}

const FULL: Budgets = {
  row: { bytesMax: 256 * MiB, timeMs: 1000 },
  readTimeMs: 500,
  encodeTimeMs: 400,
  repetitions: 3,
  groupCommitRounds: 8,
  groupCommitSliceMs: 150,
};

const QUICK: Budgets = {
  row: { bytesMax: 16 * MiB, timeMs: 150 },
  readTimeMs: 100,
  encodeTimeMs: 50,
  repetitions: 1,
  groupCommitRounds: 1,
  groupCommitSliceMs: 150,
};

function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

function pair(raw: Run, log: Run): Pair {
  return { raw, log, logToRaw: rates(log).megabytesPerSecond / rates(raw).megabytesPerSecond };
}

function measureEncode(budgets: Budgets): EncodeRow[] {
  const rows: EncodeRow[] = [];
  for (const valueBytes of VALUE_BYTES) {
    for (const recordsPerBatch of RECORDS_PER_BATCH) {
      const shape = { valueBytes, recordsPerBatch };
      const { run, batchBytes } = encodeRun(shape, budgets.encodeTimeMs);
      rows.push({ ...shape, batchBytes, ...rates(run) });
    }
  }
  return rows;
}

/** The baseline the issue asks for: plain writes, with an fdatasync after each batch in `always` rows. */
function plainRawSync(config: LogConfig): RawSyncPolicy {
  return config.durability === 'always' ? { kind: 'each-batch' } : { kind: 'none' };
}

/** Raw writes fsynced on the log's own schedule (diagnostic): at each segment's worth, and every flush interval. */
function logScheduleRawSync(config: LogConfig): RawSyncPolicy {
  return config.durability === 'interval'
    ? { kind: 'like-log', segmentBytes: config.segmentBytesMax, intervalMs: config.flushIntervalMs }
    : { kind: 'like-log', segmentBytes: config.segmentBytesMax };
}

/** Repeated (raw, log) append pairs for one row; keeps the last log when `keepLog`. */
async function measureAppend(options: {
  dir: string;
  pool: readonly Buffer[];
  shape: Shape;
  config: LogConfig;
  rawSync: RawSyncPolicy;
  budgets: Budgets;
  keepLog: boolean;
}): Promise<{ row: AppendRow; keptLogDir?: string }> {
  const { dir, pool, shape, config, rawSync, budgets } = options;
  const pairs: Pair[] = [];
  let keptLogDir: string | undefined;
  for (let repetition = 0; repetition < budgets.repetitions; repetition++) {
    const raw = await rawAppend({ dir, pool, shape, sync: rawSync, budget: budgets.row });
    const keepLog = options.keepLog && repetition === budgets.repetitions - 1;
    const { run, logDir } = await logAppend({ dir, pool, shape, config, appenderCount: 1, budget: budgets.row, keepLog });
    if (keepLog) keptLogDir = logDir;
    pairs.push(pair(raw, run));
  }
  const row: AppendRow = {
    ...shape,
    durability: config.durability,
    segmentBytesMax: config.segmentBytesMax,
    batchBytes: pool[0]!.length,
    ...summarizePairs(pairs),
  };
  return keptLogDir === undefined ? { row } : { row, keptLogDir };
}

/** Repeated (raw, log) whole-log read pairs over the log in `logDir`. */
async function measureRead(options: { logDir: string; shape: Shape; batchBytes: number; budgets: Budgets }): Promise<ReadRow> {
  const { logDir, shape, budgets } = options;
  const logBytes = fs
    .readdirSync(logDir)
    .filter((name) => name.endsWith('.log'))
    .reduce((sum, name) => sum + fs.statSync(path.join(logDir, name)).size, 0);
  const recordsPerByte = shape.recordsPerBatch / options.batchBytes;
  const pairs: Pair[] = [];
  for (let repetition = 0; repetition < budgets.repetitions; repetition++) {
    const raw = rawRead({ logDir, recordsPerByte, timeMs: budgets.readTimeMs });
    pairs.push(pair(raw, await logRead({ logDir, timeMs: budgets.readTimeMs })));
  }
  return { ...shape, logBytes, ...summarizePairs(pairs) };
}

async function measureAppendAndRead(
  dir: string,
  budgets: Budgets,
): Promise<{ append: AppendRow[]; appendWithoutRoll: AppendRow[]; appendAgainstLogSchedule: AppendRow[]; read: ReadRow[] }> {
  const append: AppendRow[] = [];
  const appendWithoutRoll: AppendRow[] = [];
  const appendAgainstLogSchedule: AppendRow[] = [];
  const read: ReadRow[] = [];
  const modes: readonly DurabilityMode[] = DURABILITY_MODES;
  for (const valueBytes of VALUE_BYTES) {
    for (const recordsPerBatch of RECORDS_PER_BATCH) {
      const shape = { valueBytes, recordsPerBatch };
      const pool = encodePool(shape);
      let keptLogDir: string | undefined;
      for (const durability of modes) {
        progress(`append ${shapeLabel(shape)} ${durability}`);
        const config = logConfig({ durability });
        const measured = await measureAppend({ dir, pool, shape, config, rawSync: plainRawSync(config), budgets, keepLog: durability === 'never' });
        append.push(measured.row);
        keptLogDir ??= measured.keptLogDir;
        if (recordsPerBatch === 1000 && durability !== 'always') {
          progress(`append ${shapeLabel(shape)} ${durability}, no roll (diagnostic)`);
          const noRoll = logConfig({ durability, segmentBytesMax: NO_ROLL_SEGMENT_BYTES });
          appendWithoutRoll.push((await measureAppend({ dir, pool, shape, config: noRoll, rawSync: plainRawSync(noRoll), budgets, keepLog: false })).row);
          progress(`append ${shapeLabel(shape)} ${durability}, raw on the log's fsync schedule (diagnostic)`);
          const rawSync = logScheduleRawSync(config);
          appendAgainstLogSchedule.push((await measureAppend({ dir, pool, shape, config, rawSync, budgets, keepLog: false })).row);
        }
      }
      // Read back the `never` log just written, while it is in the page cache (as a tailing consumer's reads are).
      if (keptLogDir !== undefined) {
        progress(`read ${shapeLabel(shape)}`);
        read.push(await measureRead({ logDir: keptLogDir, shape, batchBytes: pool[0]!.length, budgets }));
        fs.rmSync(keptLogDir, { recursive: true, force: true });
      }
    }
  }
  return { append, appendWithoutRoll, appendAgainstLogSchedule, read };
}

async function measureGroupCommit(dir: string, budgets: Budgets): Promise<GroupCommitRow[]> {
  const rows: GroupCommitRow[] = [];
  const config = logConfig({ durability: 'always' });
  const budget = { bytesMax: budgets.row.bytesMax, timeMs: budgets.groupCommitSliceMs };
  for (const valueBytes of VALUE_BYTES) {
    const shape = { valueBytes, recordsPerBatch: 1 };
    progress(`group commit ${shapeLabel(shape)}`);
    const pool = encodePool(shape);
    const raw = emptyRun();
    const single = emptyRun();
    const concurrent = emptyRun();
    for (let round = 0; round < budgets.groupCommitRounds; round++) {
      addRun(raw, await rawAppend({ dir, pool, shape, sync: { kind: 'each-batch' }, budget }));
      addRun(single, (await logAppend({ dir, pool, shape, config, appenderCount: 1, budget, keepLog: false })).run);
      addRun(concurrent, (await logAppend({ dir, pool, shape, config, appenderCount: CONCURRENT_APPENDERS, budget, keepLog: false })).run);
    }
    rows.push({
      ...shape,
      appenderCount: CONCURRENT_APPENDERS,
      rounds: budgets.groupCommitRounds,
      raw: rates(raw),
      single: { ...rates(single), recordsPerFsync: single.records / Math.max(1, single.fsyncs) },
      concurrent: { ...rates(concurrent), recordsPerFsync: concurrent.records / Math.max(1, concurrent.fsyncs) },
      speedup: rates(concurrent).recordsPerSecond / rates(single).recordsPerSecond,
    });
  }
  return rows;
}

function evaluateTargets(append: readonly AppendRow[], groupCommit: readonly GroupCommitRow[]): Target[] {
  const targets: Target[] = [];
  for (const row of append) {
    if (row.recordsPerBatch !== 1000 || row.durability === 'always') continue;
    targets.push({
      name: `append ${shapeLabel(row)} ${row.durability}: log MB/s >= ${formatPercent(TARGET_LOG_TO_RAW_MIN)} of raw`,
      measured: row.logToRaw,
      required: TARGET_LOG_TO_RAW_MIN,
      pass: row.logToRaw >= TARGET_LOG_TO_RAW_MIN,
    });
  }
  for (const row of groupCommit) {
    targets.push({
      name: `always ${shapeLabel(row)}: ${row.appenderCount} appenders >= ${TARGET_GROUP_COMMIT_SPEEDUP_MIN}x the records/s of 1 appender`,
      measured: row.speedup,
      required: TARGET_GROUP_COMMIT_SPEEDUP_MIN,
      pass: row.speedup >= TARGET_GROUP_COMMIT_SPEEDUP_MIN,
    });
  }
  return targets;
}

export async function runStorageBench(options: BenchOptions & { resultsDir: string }): Promise<{ targets: Target[] }> {
  const budgets = options.quick ? QUICK : FULL;
  const startedAt = new Date();
  const startMs = performance.now();
  console.log(
    `storage benchmark${options.quick ? ' (quick)' : ''}: each measurement stops at ${budgets.row.bytesMax / MiB} MiB or ` +
      `${budgets.row.timeMs} ms; MB/s = 10^6 bytes/s`,
  );
  const environmentAtStart = describeEnvironment();
  const busyAtStart = busyMachineWarning(environmentAtStart);
  if (busyAtStart !== undefined) console.log(busyAtStart);
  const encode = measureEncode(budgets);
  const measured = await withTempDir('sluice-bench-', async (dir) => {
    progress(`working in ${dir}`);
    // Warm up the JIT on the append path before anything is measured.
    const warmUpShape = { valueBytes: 100, recordsPerBatch: 10 };
    const warmUpBudget = { bytesMax: budgets.row.bytesMax, timeMs: budgets.row.timeMs / 4 };
    await logAppend({ dir, pool: encodePool(warmUpShape), shape: warmUpShape, config: logConfig({ durability: 'never' }), appenderCount: 1, budget: warmUpBudget, keepLog: false });
    const appendAndRead = await measureAppendAndRead(dir, budgets);
    return { ...appendAndRead, groupCommit: await measureGroupCommit(dir, budgets) };
  });
  const targets = evaluateTargets(measured.append, measured.groupCommit);
  const results = { encode, ...measured, targets };
  const durationMs = performance.now() - startMs;
  const environmentAtEnd = describeEnvironment();
  console.log('');
  console.log(formatReport(results, { repetitions: budgets.repetitions, groupCommitAppenders: CONCURRENT_APPENDERS }));
  const busyAtEnd = busyMachineWarning(environmentAtEnd);
  if (busyAtEnd !== undefined) console.log(`\n${busyAtEnd}`);
  const file = path.join(options.resultsDir, options.quick ? 'storage.quick.json' : 'storage.json');
  writeJsonResults(file, {
    benchmark: 'storage',
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    quick: options.quick,
    environment: environmentAtStart,
    loadAverage1mAtEnd: environmentAtEnd.loadAverage1m,
    budgets,
    logConfig: logConfig({}),
    baselines: {
      append: 'fs.writeSync of the same encoded batches to one plain file; fs.fdatasyncSync after each batch in always rows',
      read: 'fs.readSync of the same segment files in 1 MiB chunks into fresh buffers',
      groupCommit: `1 appender awaiting each append (always mode) vs ${CONCURRENT_APPENDERS} appenders with one append in flight each`,
    },
    ...results,
  });
  console.log(`\nresults written to ${path.relative(process.cwd(), file)} (${(durationMs / 1000).toFixed(0)} s)`);
  return { targets };
}
