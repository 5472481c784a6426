/**
 * The timed loops of the storage benchmark, each log loop beside its raw twin: append (log vs
 * `fs.writeSync`), read (log vs `fs.readSync`), and `encodeBatch` on its own. Inputs are encoded
 * before any clock starts. Every loop stops at a byte or a time budget, whichever comes first.
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type LogConfig, logConfig } from '../src/config.js';
import { type FileIO, type RecordInput, SegmentLog, encodeBatch, nodeFileIO } from '../src/storage/index.js';
import { KiB, MiB } from './harness.js';

export const READ_MAX_BYTES = 1 * MiB;
/** Distinct pre-encoded batches per shape, up to about this many bytes (they are reused in turn). */
const POOL_BYTES = 8 * MiB;
/**
 * Loops yield to the event loop at least this often, as a server handling requests does, so the
 * interval-mode flush timer and fsync completions get to run during a tight append loop.
 */
const YIELD_EVERY_MS = 1;

export interface Shape {
  valueBytes: number;
  recordsPerBatch: number;
}

export interface Budget {
  bytesMax: number;
  timeMs: number;
}

/** One timed measurement. */
export interface Run {
  elapsedMs: number;
  bytes: number;
  records: number;
  /** Append (or read) calls made. */
  calls: number;
  /** fdatasync calls made in the timed region (the log's are counted through its I/O seam). */
  fsyncs: number;
  /** Time the event loop spent blocked in synchronous fdatasync (the log: at segment rolls). */
  fsyncBlockedMs: number;
  /** Segments the log ended with (1 = no roll); absent for raw runs. */
  segmentCount?: number;
}

export function emptyRun(): Run {
  return { elapsedMs: 0, bytes: 0, records: 0, calls: 0, fsyncs: 0, fsyncBlockedMs: 0 };
}

/** Sums runs (for interleaved slices of one measurement). */
export function addRun(total: Run, run: Run): void {
  total.elapsedMs += run.elapsedMs;
  total.bytes += run.bytes;
  total.records += run.records;
  total.calls += run.calls;
  total.fsyncs += run.fsyncs;
  total.fsyncBlockedMs += run.fsyncBlockedMs;
}

// ---- inputs ----

/** Random bytes to slice values from, so that nothing on the way can profit from repetition. */
function randomValues(valueBytes: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(valueBytes + 64 * KiB));
}

/** Records with `valueBytes` of random value each, null keys and no headers; timestamps 1 ms apart. */
function makeRecords(shape: Shape, values: Buffer, seed: number): RecordInput[] {
  const nowMs = Date.now();
  return Array.from({ length: shape.recordsPerBatch }, (_, i) => {
    const start = (seed * 7919 + i * 31) % (values.length - shape.valueBytes);
    return { key: null, value: values.subarray(start, start + shape.valueBytes), headers: [], timestampMs: nowMs + i };
  });
}

/** Distinct encoded batches of one shape, enough to fill about POOL_BYTES (4 to 4096 of them). */
export function encodePool(shape: Shape): Buffer[] {
  const values = randomValues(shape.valueBytes);
  const first = encodeBatch({ records: makeRecords(shape, values, 0) });
  const count = Math.min(4096, Math.max(4, Math.floor(POOL_BYTES / first.length)));
  const pool = [first];
  for (let seed = 1; seed < count; seed++) pool.push(encodeBatch({ records: makeRecords(shape, values, seed) }));
  return pool;
}

// ---- append ----

/** The node file I/O, counting fdatasync calls and the time spent blocked in the synchronous ones. */
function countingFileIO(): { io: FileIO; snapshot: () => { fsyncs: number; blockedMs: number } } {
  let fsyncs = 0;
  let blockedMs = 0;
  const io: FileIO = {
    ...nodeFileIO,
    fdatasync(fd) {
      fsyncs++;
      return nodeFileIO.fdatasync(fd);
    },
    fdatasyncSync(fd) {
      fsyncs++;
      const startMs = performance.now();
      nodeFileIO.fdatasyncSync(fd);
      blockedMs += performance.now() - startMs;
    },
  };
  return { io, snapshot: () => ({ fsyncs, blockedMs }) };
}

let nextFileId = 0;

/**
 * When the raw baseline fsyncs: `none`; `each-batch` (fdatasyncSync after every batch, as `always`);
 * or `like-log`, the log's own schedule in `never`/`interval` mode: a blocking fdatasync before the
 * write that would take the file past `segmentBytes` (as a segment roll) and, with `intervalMs`, an
 * fdatasync on the thread pool every `intervalMs` (as the interval flush timer).
 */
export type RawSyncPolicy = { kind: 'none' } | { kind: 'each-batch' } | { kind: 'like-log'; segmentBytes: number; intervalMs?: number };

/** `fs.writeSync` of each batch to one new file, fsynced as `sync` says. */
export async function rawAppend(options: { dir: string; pool: readonly Buffer[]; shape: Shape; sync: RawSyncPolicy; budget: Budget }): Promise<Run> {
  const { pool, shape, sync, budget } = options;
  const file = path.join(options.dir, `raw-${nextFileId++}.bin`);
  const fd = fs.openSync(file, 'w');
  let backgroundSync: Promise<void> | undefined;
  try {
    let bytes = 0;
    let calls = 0;
    let fsyncs = 0;
    let fsyncBlockedMs = 0;
    let segmentBytes = 0;
    const blockingSync = (): void => {
      const syncStartMs = performance.now();
      fs.fdatasyncSync(fd);
      fsyncBlockedMs += performance.now() - syncStartMs;
      fsyncs++;
    };
    const startMs = performance.now();
    let yieldedMs = startMs;
    let syncedMs = startMs;
    while (bytes < budget.bytesMax && performance.now() - startMs < budget.timeMs) {
      const batch = pool[calls % pool.length]!;
      if (sync.kind === 'like-log' && segmentBytes > 0 && segmentBytes + batch.length > sync.segmentBytes) {
        blockingSync();
        segmentBytes = 0;
      }
      const written = fs.writeSync(fd, batch);
      if (written !== batch.length) throw new Error(`short write: ${written} of ${batch.length} bytes`);
      if (sync.kind === 'each-batch') blockingSync();
      bytes += batch.length;
      segmentBytes += batch.length;
      calls++;
      const nowMs = performance.now();
      if (sync.kind === 'like-log' && sync.intervalMs !== undefined && backgroundSync === undefined && nowMs - syncedMs >= sync.intervalMs) {
        syncedMs = nowMs;
        fsyncs++;
        backgroundSync = new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve()))).then(() => {
          backgroundSync = undefined;
        });
      }
      if (nowMs - yieldedMs >= YIELD_EVERY_MS) {
        await yieldToEventLoop();
        yieldedMs = performance.now();
      }
    }
    const elapsedMs = performance.now() - startMs;
    return { elapsedMs, bytes, records: calls * shape.recordsPerBatch, calls, fsyncs, fsyncBlockedMs };
  } finally {
    await backgroundSync;
    fs.closeSync(fd);
    fs.rmSync(file);
  }
}

/**
 * Appends pool batches to a new log from `appenderCount` async loops, each awaiting its own append,
 * until the budget is spent. The clock stops when the last append is acknowledged; closing is not
 * timed. Returns the run and the log's directory, which is deleted unless `keepLog`.
 */
export async function logAppend(options: {
  dir: string;
  pool: readonly Buffer[];
  shape: Shape;
  config: LogConfig;
  appenderCount: number;
  budget: Budget;
  keepLog: boolean;
}): Promise<{ run: Run; logDir: string }> {
  const { pool, shape, budget } = options;
  const logDir = path.join(options.dir, `log-${nextFileId++}`);
  const counting = countingFileIO();
  const log = SegmentLog.open({ dir: logDir, config: options.config, io: counting.io });
  const atOpen = counting.snapshot();
  let bytes = 0;
  let calls = 0;
  let next = 0;
  const startMs = performance.now();
  let yieldedMs = startMs;
  const appender = async (): Promise<void> => {
    while (bytes < budget.bytesMax && performance.now() - startMs < budget.timeMs) {
      const batch = pool[next++ % pool.length]!;
      await log.append(batch);
      bytes += batch.length;
      calls++;
      if (performance.now() - yieldedMs >= YIELD_EVERY_MS) {
        yieldedMs = performance.now();
        await yieldToEventLoop();
      }
    }
  };
  await Promise.all(Array.from({ length: options.appenderCount }, appender));
  const elapsedMs = performance.now() - startMs;
  const atEnd = counting.snapshot();
  const segmentCount = log.segmentCount;
  await log.close();
  if (!options.keepLog) fs.rmSync(logDir, { recursive: true, force: true });
  const run: Run = {
    elapsedMs,
    bytes,
    records: calls * shape.recordsPerBatch,
    calls,
    fsyncs: atEnd.fsyncs - atOpen.fsyncs,
    fsyncBlockedMs: atEnd.blockedMs - atOpen.blockedMs,
    segmentCount,
  };
  return { run, logDir };
}

// ---- read ----

/** Reads the whole log from its start with `read({ maxBytes: 1 MiB })`, in whole passes until the time budget is spent. */
export async function logRead(options: { logDir: string; timeMs: number }): Promise<Run> {
  const log = SegmentLog.open({ dir: options.logDir, config: logConfig({ durability: 'never' }) });
  try {
    const run = emptyRun();
    const startMs = performance.now();
    do {
      let fromOffset: number = log.logStartOffset;
      while (fromOffset < log.highWatermark) {
        const result = log.read({ fromOffset, maxBytes: READ_MAX_BYTES });
        run.bytes += result.bytes.length;
        run.records += result.nextOffset - fromOffset;
        fromOffset = result.nextOffset;
        run.calls++;
      }
    } while (performance.now() - startMs < options.timeMs);
    run.elapsedMs = performance.now() - startMs;
    return run;
  } finally {
    await log.close();
  }
}

/**
 * Reads the log's segment files with `fs.readSync` in 1 MiB chunks, each into a fresh buffer (as a
 * reader handing the bytes on must), in whole passes until the time budget is spent.
 */
export function rawRead(options: { logDir: string; recordsPerByte: number; timeMs: number }): Run {
  const fds = fs
    .readdirSync(options.logDir)
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => fs.openSync(path.join(options.logDir, name), 'r'));
  try {
    const run = emptyRun();
    const startMs = performance.now();
    do {
      for (const fd of fds) {
        for (let position = 0; ; ) {
          const chunk = Buffer.allocUnsafe(READ_MAX_BYTES);
          const read = fs.readSync(fd, chunk, 0, READ_MAX_BYTES, position);
          run.calls++;
          if (read === 0) break;
          position += read;
          run.bytes += read;
        }
      }
    } while (performance.now() - startMs < options.timeMs);
    run.elapsedMs = performance.now() - startMs;
    run.records = Math.round(run.bytes * options.recordsPerByte);
    return run;
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

// ---- encode ----

/** `encodeBatch` on prepared record inputs (values already in memory), until the time budget is spent. */
export function encodeRun(shape: Shape, timeMs: number): { run: Run; batchBytes: number } {
  const values = randomValues(shape.valueBytes);
  const inputs = Array.from({ length: 8 }, (_, seed) => makeRecords(shape, values, seed));
  const batchBytes = encodeBatch({ records: inputs[0]! }).length;
  const run = emptyRun();
  const startMs = performance.now();
  while (performance.now() - startMs < timeMs) {
    run.bytes += encodeBatch({ records: inputs[run.calls % inputs.length]! }).length;
    run.calls++;
  }
  run.elapsedMs = performance.now() - startMs;
  run.records = run.calls * shape.recordsPerBatch;
  return { run, batchBytes };
}
