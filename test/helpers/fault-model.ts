/**
 * The model fault tests compare a recovered log against: the exact list of batches the log must hold,
 * each with its offsets, its bytes as stored (offset stamped) and its record timestamps. Plus a
 * seeded batch generator and the check that walks a log against the model: every batch byte for byte,
 * a read at every offset, timestamp lookups, and the offset range.
 */
import { assert } from 'vitest';
import { type Clock, ManualClock, type Random } from '../../src/base/index.js';
import { type LogConfig, logConfig } from '../../src/config.js';
import { isBrokerError } from '../../src/errors.js';
import { type FileIO, type RecordInput, SegmentLog, encodeBatch, readBatchHeader, splitBatches } from '../../src/storage/index.js';

export const START_MS = 1_700_000_000_000;

export interface ModelBatch {
  baseOffset: number;
  lastOffset: number;
  /** The batch as the log stores it: offset stamped. */
  bytes: Buffer;
  /** Record timestamps, in offset order. */
  timestampsMs: readonly number[];
}

/** What a log must hold: `batches` contiguous from `startOffset` (empty: the log is empty there). */
export interface ExpectedLog {
  startOffset: number;
  batches: readonly ModelBatch[];
}

export function endOffsetOf(expected: ExpectedLog): number {
  const last = expected.batches[expected.batches.length - 1];
  return last === undefined ? expected.startOffset : last.lastOffset + 1;
}

/** Throws an assertion error with a lazily built message (messages carry the seed). */
export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) assert.fail(message());
}

/** Runs one seeded round, adding the seed to any error it throws (an assertion in src has none). */
export async function withSeed<T>(seed: number, label: string, round: () => Promise<T>): Promise<T> {
  try {
    return await round();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes(`seed ${seed}`)) throw error;
    throw new Error(`${label}, seed ${seed}: ${message}`, { cause: error });
  }
}

/** Seeded record batches: 1-4 records, random keys, values and headers, mostly rising timestamps. */
export class BatchMaker {
  private nowMs: number;

  constructor(
    private readonly random: Random,
    private readonly options: { valueBytesMax?: number; recordCountMax?: number; startMs?: number } = {},
  ) {
    this.nowMs = options.startMs ?? START_MS;
  }

  /** An encoded batch (baseOffset 0: the log stamps it) and its record timestamps. */
  next(): { batch: Buffer; timestampsMs: number[] } {
    const { random } = this;
    const count = random.int(1, (this.options.recordCountMax ?? 4) + 1);
    const records: RecordInput[] = [];
    for (let i = 0; i < count; i++) {
      this.nowMs += random.int(0, 20);
      // Producers' clocks disagree: one record in ten is older than the ones before it.
      const timestampMs = random.next() < 0.1 ? this.nowMs - random.int(1, 200) : this.nowMs;
      records.push({
        key: random.next() < 0.2 ? null : randomBytes(random, random.int(0, 16)),
        value: random.next() < 0.05 ? null : randomBytes(random, random.int(0, this.options.valueBytesMax ?? 300)),
        headers: random.next() < 0.3 ? [{ key: `h${random.int(0, 9)}`, value: randomBytes(random, random.int(0, 8)) }] : [],
        timestampMs,
      });
    }
    return { batch: encodeBatch({ records }), timestampsMs: records.map((r) => r.timestampMs) };
  }
}

export function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(0, 256);
  return bytes;
}

/** The model entry for a batch the log has just stamped (copied: the caller's buffer may be reused). */
export function modelBatch(stamped: Buffer, timestampsMs: readonly number[]): ModelBatch {
  const header = readBatchHeader(stamped, 0);
  return {
    baseOffset: header.baseOffset,
    lastOffset: header.baseOffset + header.lastOffsetDelta,
    bytes: Buffer.from(stamped),
    timestampsMs,
  };
}

export interface BuildOptions {
  io: FileIO;
  dir: string;
  config: LogConfig;
  random: Random;
  /** Keep appending until there are at least this many sealed segments... */
  sealedSegmentsMin: number;
  /** ...and the active segment holds at least this many batches. */
  activeBatchesMin: number;
  /** Largest record value; larger values mean fewer, larger batches. Default 300. */
  valueBytesMax?: number;
}

/** The settings fault tests use: small segments and a small index interval (several of each). */
export function faultConfig(overrides: Readonly<Record<string, unknown>> = {}): LogConfig {
  return logConfig({
    segmentBytesMax: 64 * 1024,
    indexIntervalBytes: 512,
    batchBytesMax: 4096,
    retentionMs: -1,
    ...overrides,
  });
}

/**
 * Fills a log with seeded batches (one to three per append) and closes it cleanly. Appends run in
 * `never` mode (the layout is the same; the close makes it all durable).
 */
export async function buildLog(options: BuildOptions): Promise<ExpectedLog> {
  const clock = new ManualClock(START_MS);
  const log = SegmentLog.open({ dir: options.dir, io: options.io, clock, config: { ...options.config, durability: 'never' } });
  const maker = new BatchMaker(options.random, { valueBytesMax: options.valueBytesMax ?? 300 });
  const batches: ModelBatch[] = [];
  let activeBatchCount = 0;
  while (log.segmentCount - 1 < options.sealedSegmentsMin || activeBatchCount < options.activeBatchesMin) {
    const made = Array.from({ length: options.random.int(1, 4) }, () => maker.next());
    const segmentCount = log.segmentCount;
    await log.append(made.map((m) => m.batch));
    made.forEach((m) => batches.push(modelBatch(m.batch, m.timestampsMs)));
    // An append goes wholly into one segment, rolling first if it would not fit.
    activeBatchCount = (log.segmentCount === segmentCount ? activeBatchCount : 0) + made.length;
  }
  await log.close();
  return { startOffset: 0, batches };
}

export interface MatchOptions {
  random: Random;
  /** Read at every offset (not only at each batch's base). Default true. */
  everyOffset?: boolean;
  timestampProbeCount?: number;
}

/**
 * Asserts that `log` holds exactly `expected`: its offset range, every batch byte for byte on a
 * sequential read with random byte budgets, the right whole batch for a read at every offset,
 * OFFSET_OUT_OF_RANGE just outside the range, and `offsetForTimestamp` as the model computes it.
 */
export function expectLogMatches(log: SegmentLog, expected: ExpectedLog, context: string, options: MatchOptions): void {
  const { random } = options;
  const { batches, startOffset } = expected;
  const endOffset = endOffsetOf(expected);
  check(log.logStartOffset === startOffset, () => `${context}: logStartOffset ${log.logStartOffset}, expected ${startOffset}`);
  check(log.logEndOffset === endOffset, () => `${context}: logEndOffset ${log.logEndOffset}, expected ${endOffset}`);
  check(log.highWatermark === endOffset, () => `${context}: highWatermark ${log.highWatermark}, expected ${endOffset}`);

  // Sequential read with random budgets.
  let offset = startOffset;
  let index = 0;
  while (offset < endOffset) {
    const result = log.read({ fromOffset: offset, maxBytes: random.int(1, 3 * 4096) });
    const parts = splitBatches(result.bytes);
    check(parts.length > 0, () => `${context}: read at ${offset} returned no batch`);
    for (const part of parts) {
      const want = batches[index];
      check(want !== undefined, () => `${context}: read at ${offset} returned more batches than the model holds`);
      check(part.equals(want.bytes), () => `${context}: batch at offset ${want.baseOffset} differs from the model (read from ${offset})`);
      index++;
    }
    const lastRead = batches[index - 1]!;
    check(result.nextOffset === lastRead.lastOffset + 1, () => `${context}: read at ${offset} said nextOffset ${result.nextOffset}`);
    offset = result.nextOffset;
  }
  check(index === batches.length, () => `${context}: sequential read found ${index} batches, model has ${batches.length}`);
  const atEnd = log.read({ fromOffset: endOffset, maxBytes: 4096 });
  check(atEnd.bytes.length === 0 && atEnd.nextOffset === endOffset, () => `${context}: read at the log end returned data`);
  expectOutOfRange(() => log.read({ fromOffset: endOffset + 1, maxBytes: 4096 }), `${context}: read past the end`);
  if (startOffset > 0) expectOutOfRange(() => log.read({ fromOffset: startOffset - 1, maxBytes: 4096 }), `${context}: read before the start`);

  // A read at any offset returns (first) the whole batch holding it.
  for (const batch of batches) {
    const offsets = options.everyOffset === false ? [batch.baseOffset, random.int(batch.baseOffset, batch.lastOffset + 1)] : range(batch);
    for (const at of offsets) {
      const result = log.read({ fromOffset: at, maxBytes: 1 });
      check(result.bytes.equals(batch.bytes), () => `${context}: read at offset ${at} did not return the batch at ${batch.baseOffset}`);
      check(result.nextOffset === batch.lastOffset + 1, () => `${context}: read at ${at} said nextOffset ${result.nextOffset}`);
    }
  }

  expectTimestampLookups(log, expected, context, random, options.timestampProbeCount ?? 12);
}

function range(batch: ModelBatch): number[] {
  return Array.from({ length: batch.lastOffset - batch.baseOffset + 1 }, (_, i) => batch.baseOffset + i);
}

function expectOutOfRange(call: () => unknown, context: string): void {
  try {
    call();
  } catch (error) {
    check(isBrokerError(error) && error.code === 'OFFSET_OUT_OF_RANGE', () => `${context}: threw ${String(error)}`);
    return;
  }
  assert.fail(`${context}: did not throw OFFSET_OUT_OF_RANGE`);
}

/** The first offset (in offset order) whose record timestamp is >= `targetMs`, per the model. */
export function modelOffsetForTimestamp(expected: ExpectedLog, targetMs: number): number | undefined {
  for (const batch of expected.batches) {
    const i = batch.timestampsMs.findIndex((t) => t >= targetMs);
    if (i !== -1) return batch.baseOffset + i;
  }
  return undefined;
}

export function expectTimestampLookups(log: SegmentLog, expected: ExpectedLog, context: string, random: Random, probeCount: number): void {
  const all = expected.batches.flatMap((b) => b.timestampsMs);
  if (all.length === 0) {
    check(log.offsetForTimestamp(START_MS) === undefined, () => `${context}: offsetForTimestamp found a record in an empty log`);
    return;
  }
  const probes = [Math.min(...all) - 1, Math.max(...all), Math.max(...all) + 1];
  for (let i = 0; i < probeCount; i++) probes.push(all[random.int(0, all.length)]! + random.int(-3, 4));
  for (const targetMs of probes) {
    const want = modelOffsetForTimestamp(expected, targetMs);
    const got = log.offsetForTimestamp(targetMs);
    check(got === want, () => `${context}: offsetForTimestamp(${targetMs}) = ${got}, model says ${want}`);
  }
}

/** A clock for logs under test; segment age and retention never fire unless a test advances it. */
export function testClock(): Clock {
  return new ManualClock(START_MS);
}
