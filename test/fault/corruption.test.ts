/**
 * Corruption away from the tail: a flipped byte in a batch that has valid batches after it, or in a
 * sealed segment. This is not a torn write, so recovery must not cut it away (that would delete
 * acknowledged records): open throws LOG_CORRUPT naming the file and byte position and changes no
 * file. Corruption found later, by a read, takes the log offline: every later call fails with that
 * same error. And whatever byte is flipped, the log never serves data that differs from what was
 * appended.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Random, seededRandom } from '../../src/base/index.js';
import type { LogConfig } from '../../src/config.js';
import { type BrokerError, isBrokerError } from '../../src/errors.js';
import { MemoryFileIO, SegmentLog, encodeBatch, splitBatches } from '../../src/storage/index.js';
import {
  type BatchPlace,
  type FaultDisk,
  batchPlaces,
  flipByte,
  makeTempDir,
  memoryDisk,
  nodeDisk,
  removeTempDirs,
  segmentBases,
  segmentFileName,
  snapshotFiles,
} from '../helpers/fault-disk.js';
import {
  BatchMaker,
  type ExpectedLog,
  type ModelBatch,
  buildLog,
  check,
  faultConfig,
  START_MS,
  modelOffsetForTimestamp,
  testClock,
  withSeed,
} from '../helpers/fault-model.js';

interface Pool {
  label: string;
  disk: FaultDisk;
  config: LogConfig;
  expected: ExpectedLog;
}

async function buildPool(disk: FaultDisk, seed: number): Promise<Pool> {
  const config = faultConfig({ indexIntervalBytes: 1024 });
  const expected = await buildLog({
    io: disk.io,
    dir: disk.dir,
    config,
    random: seededRandom(seed),
    sealedSegmentsMin: 2,
    activeBatchesMin: 12,
    valueBytesMax: 500,
  });
  return { label: `${disk.kind} pool ${seed}`, disk, config, expected };
}

interface Flip {
  place: BatchPlace;
  /** Byte position in the segment file. */
  position: number;
  mask: number;
  logName: string;
}

/** Flips one random byte of one of `places` in the copy `disk`. */
function flipIn(disk: FaultDisk, random: Random, places: readonly BatchPlace[]): Flip {
  const place = places[random.int(0, places.length)]!;
  const position = place.position + random.int(0, place.batchBytes);
  const mask = random.int(1, 256);
  const logName = segmentFileName(place.segmentBase, '.log');
  disk.write(logName, flipByte(disk.read(logName), position, mask));
  return { place, position, mask, logName };
}

function describeFlip(flip: Flip): string {
  const field = flip.position - flip.place.position;
  return `byte ${flip.position} (field byte ${field} of the batch at ${flip.place.position}, offsets ${flip.place.baseOffset}-${flip.place.lastOffset}) of ${flip.logName} ^ ${flip.mask}`;
}

function removeIndexFiles(disk: FaultDisk, base: number): void {
  for (const suffix of ['.index', '.timeindex'] as const) {
    if (disk.exists(segmentFileName(base, suffix))) disk.remove(segmentFileName(base, suffix));
  }
}

function caught(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

async function caughtAsync(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Asserts `error` is LOG_CORRUPT naming `file` (and, when given, the byte `position`) in details and message. */
function expectCorrupt(error: unknown, file: string, position: number | undefined, context: string): asserts error is BrokerError {
  check(isBrokerError(error), () => `${context}: expected LOG_CORRUPT, got ${String(error)}`);
  check(error.code === 'LOG_CORRUPT', () => `${context}: expected LOG_CORRUPT, got ${error.code}: ${error.message}`);
  check(error.details['file'] === file, () => `${context}: error names ${String(error.details['file'])}, expected ${file}`);
  check(error.message.includes(file), () => `${context}: message does not name the file: ${error.message}`);
  if (position === undefined) return;
  check(error.details['position'] === position, () => `${context}: error at byte ${String(error.details['position'])}, expected ${position}`);
  check(error.message.includes(`byte ${position}`), () => `${context}: message does not name byte ${position}: ${error.message}`);
}

function expectFilesUnchanged(disk: FaultDisk, before: Map<string, Buffer>, context: string): void {
  for (const [name, bytes] of before) {
    check(disk.exists(name), () => `${context}: ${name} was deleted`);
    const now = disk.read(name);
    check(now.length === bytes.length, () => `${context}: ${name} changed size from ${bytes.length} to ${now.length}`);
    check(now.equals(bytes), () => `${context}: ${name} changed`);
  }
}

/** Opens a log that must fail with LOG_CORRUPT at `flip`, and checks that nothing on disk changed. */
function expectOpenRefuses(pool: Pool, disk: FaultDisk, flip: Flip, context: string): void {
  const before = snapshotFiles(disk);
  for (let attempt = 1; attempt <= 2; attempt++) {
    const error = caught(() => SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: pool.config }));
    expectCorrupt(error, path.join(disk.dir, flip.logName), flip.place.position, `${context}, open #${attempt}`);
    expectFilesUnchanged(disk, before, `${context}, after open #${attempt}`);
  }
  check(disk.names().length === before.size, () => `${context}: open created files`);
}

function activePlaces(disk: FaultDisk): BatchPlace[] {
  return batchPlaces(disk, segmentBases(disk).at(-1)!);
}

function sealedPlaces(disk: FaultDisk): BatchPlace[][] {
  return segmentBases(disk)
    .slice(0, -1)
    .map((base) => batchPlaces(disk, base));
}

/** An early batch of the active segment after a crash (no index files): open throws, nothing is cut. */
function activeCrashRound(pool: Pool, seed: number): void {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const places = activePlaces(disk);
  removeIndexFiles(disk, places[0]!.segmentBase);
  const flip = flipIn(disk, random, places.slice(0, -1));
  expectOpenRefuses(pool, disk, flip, `seed ${seed} (${pool.label}; active segment after a crash; ${describeFlip(flip)})`);
}

/** Any batch of a sealed segment whose index files are missing (so open scans it all). */
function sealedNoIndexRound(pool: Pool, seed: number): void {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const sealed = sealedPlaces(disk);
  const places = sealed[random.int(0, sealed.length)]!;
  removeIndexFiles(disk, places[0]!.segmentBase);
  const flip = flipIn(disk, random, places);
  expectOpenRefuses(pool, disk, flip, `seed ${seed} (${pool.label}; sealed segment without index files; ${describeFlip(flip)})`);
}

/** The last batch of a sealed segment, index files intact (open checks from the last index entry on). */
function sealedLastBatchRound(pool: Pool, seed: number): void {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const sealed = sealedPlaces(disk);
  const places = sealed[random.int(0, sealed.length)]!;
  const flip = flipIn(disk, random, places.slice(-1));
  expectOpenRefuses(pool, disk, flip, `seed ${seed} (${pool.label}; last batch of a sealed segment; ${describeFlip(flip)})`);
}

/** Every call that touches the log's files or state must now fail with exactly `error`. */
async function expectOfflineWith(log: SegmentLog, error: BrokerError, healthyOffset: number, context: string): Promise<void> {
  check(log.offline === error, () => `${context}: log.offline is ${String(log.offline)}`);
  check(caught(() => log.read({ fromOffset: healthyOffset, maxBytes: 4096 })) === error, () => `${context}: a read of a healthy offset did not fail with the same error`);
  check(caught(() => log.offsetForTimestamp(0)) === error, () => `${context}: offsetForTimestamp did not fail with the same error`);
  check(caught(() => log.enforceRetention()) === error, () => `${context}: enforceRetention did not fail with the same error`);
  const { batch } = new BatchMaker(seededRandom(1)).next();
  check((await caughtAsync(() => log.append(batch))) === error, () => `${context}: append did not fail with the same error`);
  check((await caughtAsync(() => log.flush())) === error, () => `${context}: flush did not fail with the same error`);
}

/**
 * A byte flipped under an open log, in a batch of a sealed segment: the first read of that batch
 * throws LOG_CORRUPT naming the file, and the log is offline from then on.
 */
async function readTimeRound(pool: Pool, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const sealed = sealedPlaces(disk);
  const log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: pool.config });
  const flip = flipIn(disk, random, sealed[random.int(0, sealed.length)]!);
  const context = `seed ${seed} (${pool.label}; flipped under an open log; ${describeFlip(flip)})`;
  const before = snapshotFiles(disk);
  const fromOffset = random.int(flip.place.baseOffset, flip.place.lastOffset + 1);
  const error = caught(() => log.read({ fromOffset, maxBytes: random.int(1, 20_000) }));
  expectCorrupt(error, path.join(disk.dir, flip.logName), undefined, `${context}: read at ${fromOffset}`);
  const healthy = pool.expected.batches.find((b) => b.lastOffset < flip.place.baseOffset || b.baseOffset > flip.place.lastOffset)!;
  await expectOfflineWith(log, error, healthy.baseOffset, context);
  await log.close();
  expectFilesUnchanged(disk, before, context);
}

/**
 * Any byte of any batch, index files intact: either open refuses with LOG_CORRUPT, or it opens and
 * then every read returns exactly what was appended until one throws LOG_CORRUPT (which the reads of
 * the damaged batch must), after which the log is offline. No file shrinks or changes.
 */
async function anyFlipRound(pool: Pool, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const all = [...sealedPlaces(disk), activePlaces(disk)];
  const flip = flipIn(disk, random, all[random.int(0, all.length)]!);
  const context = `seed ${seed} (${pool.label}; any byte; ${describeFlip(flip)})`;
  const file = path.join(disk.dir, flip.logName);
  const activeBase = all.at(-1)![0]!.segmentBase;
  const isActive = flip.place.segmentBase === activeBase;
  // The active segment's index files are removed at open (its indexes live in memory until a clean
  // close, which an offline log does not do); every other file must stay as it is.
  const before = snapshotFiles(disk);
  for (const suffix of ['.index', '.timeindex'] as const) before.delete(segmentFileName(activeBase, suffix));

  let log: SegmentLog;
  try {
    log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: pool.config });
  } catch (error) {
    expectCorrupt(error, file, undefined, `${context}, open`);
    expectFilesUnchanged(disk, before, `${context}, after open`);
    return;
  }
  // The open may cut nothing but a torn tail, and only when the damage is in the last batch.
  const lastActive = all.at(-1)!.at(-1)!;
  if (log.recovery.tornTail !== undefined) {
    check(isActive && flip.place.baseOffset === lastActive.baseOffset, () => `${context}: open cut a torn tail at ${log.recovery.tornTail!.position}`);
    await log.close();
    return;
  }

  const damaged = pool.expected.batches.find((b) => b.baseOffset === flip.place.baseOffset)!;
  const byBase = new Map(pool.expected.batches.map((b) => [b.baseOffset, b]));
  let offlineError: BrokerError | undefined;
  const attempt = (call: () => void, what: string): void => {
    try {
      call();
    } catch (error) {
      if (!isBrokerError(error)) throw error; // a failed check in `call`, or a bug in src
      expectCorrupt(error, file, undefined, `${context}: ${what}`);
      offlineError ??= error;
      check(error === offlineError, () => `${context}: ${what} failed with a different error than the first`);
    }
  };
  // Reads of the damaged batch first, then everything else, then timestamp lookups.
  const order: ModelBatch[] = [damaged, ...pool.expected.batches.filter((b) => b !== damaged)];
  for (const batch of order) {
    for (let at = batch.baseOffset; at <= batch.lastOffset; at++) {
      attempt(() => {
        const result = log.read({ fromOffset: at, maxBytes: random.int(1, 9000) });
        const parts = splitBatches(result.bytes);
        check(parts.length > 0, () => `${context}: read at ${at} returned nothing below the high watermark`);
        check(parts[0]!.equals(batch.bytes), () => `${context}: read at ${at} returned a batch that differs from the one appended`);
        let expectedBase = batch.baseOffset;
        for (const part of parts) {
          const want = byBase.get(expectedBase);
          check(want !== undefined && part.equals(want.bytes), () => `${context}: read at ${at} returned wrong data at offset ${expectedBase}`);
          expectedBase = want.lastOffset + 1;
        }
        check(result.nextOffset === expectedBase, () => `${context}: read at ${at} said nextOffset ${result.nextOffset}, expected ${expectedBase}`);
      }, `read at ${at}`);
    }
    if (batch === damaged) {
      check(offlineError !== undefined, () => `${context}: reads of the damaged batch did not fail`);
    }
  }
  for (const targetMs of damaged.timestampsMs) {
    attempt(() => {
      const got = log.offsetForTimestamp(targetMs);
      const want = modelOffsetForTimestamp(pool.expected, targetMs);
      check(got === want, () => `${context}: offsetForTimestamp(${targetMs}) = ${got}, model says ${want}`);
    }, `offsetForTimestamp(${targetMs})`);
  }
  check(offlineError !== undefined, () => `${context}: corruption was never reported`);
  const healthy = pool.expected.batches.find((b) => b !== damaged)!;
  await expectOfflineWith(log, offlineError, healthy.baseOffset, context);
  await log.close();
  expectFilesUnchanged(disk, before, context);
  check(disk.names().length === before.size, () => `${context}: files were added`);
}

describe('corruption in the middle of the log', () => {
  afterAll(removeTempDirs);

  it('regression: a flipped offset, count or length field is reported by reads and timestamp lookups, not followed', async () => {
    // Strictly rising timestamps, so a lookup of a timestamp in batch B must read B. The walk from an
    // index entry to a batch reads these header fields without a checksum (baseOffset is outside
    // it): a flipped one once made reads return the wrong batch or nothing, and lookups a wrong offset.
    const io = new MemoryFileIO();
    const source = memoryDisk(io, '/data/c/r');
    const config = faultConfig({ indexIntervalBytes: 4096 });
    const log = SegmentLog.open({ dir: source.dir, io, clock: testClock(), config });
    for (let i = 0; log.segmentCount < 2; i++) {
      const records = [0, 1].map((j) => ({ key: null, value: Buffer.alloc(300, i), headers: [], timestampMs: START_MS + 10 * i + j }));
      await log.append(encodeBatch({ records }));
    }
    await log.close();
    const places = batchPlaces(source, 0);
    const target = places[Math.floor(places.length / 2) + 1]!;
    const fields = [
      { name: 'baseOffset, low byte', at: 7, mask: 0x01 },
      { name: 'baseOffset, high byte', at: 0, mask: 0x80 },
      { name: 'batchLength, high byte', at: 8, mask: 0x40 },
      { name: 'batchLength, low byte', at: 11, mask: 0x10 },
      { name: 'lastOffsetDelta, low byte', at: 25, mask: 0x01 },
    ];
    for (const field of fields) {
      for (const lookup of ['read', 'offsetForTimestamp'] as const) {
        const disk = source.clone();
        const damaged = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config });
        const name = segmentFileName(0, '.log');
        disk.write(name, flipByte(disk.read(name), target.position + field.at, field.mask));
        const error = caught(() =>
          lookup === 'read'
            ? damaged.read({ fromOffset: target.lastOffset, maxBytes: 1 })
            : damaged.offsetForTimestamp(START_MS + 10 * (target.baseOffset / 2) + 1),
        );
        expectCorrupt(error, path.join(disk.dir, name), undefined, `${field.name}, ${lookup}`);
        expect(damaged.offline).toBe(error);
        await damaged.close();
      }
    }
  });

  for (const kind of ['memory', 'node'] as const) {
    describe(kind === 'memory' ? 'on MemoryFileIO' : 'on the real disk', () => {
      // Many rounds in memory, a few on the real disk.
      const rounds = kind === 'memory' ? 120 : 6;
      let pool: Pool;
      beforeAll(async () => {
        const disk = kind === 'memory' ? memoryDisk(new MemoryFileIO(), '/data/c/0') : nodeDisk(path.join(makeTempDir(), 'log'));
        pool = await buildPool(disk, 201);
      });

      it('refuses to open with a flipped byte in an early batch of the active segment after a crash, changing nothing', async () => {
        for (let round = 0; round < rounds; round++) await withSeed(10_000 + round, pool.label, () => Promise.resolve(activeCrashRound(pool, 10_000 + round)));
        expect(activePlaces(pool.disk).length).toBeGreaterThanOrEqual(12);
      });

      it('refuses to open with a flipped byte anywhere in a sealed segment that open scans, changing nothing', async () => {
        for (let round = 0; round < rounds; round++) {
          await withSeed(20_000 + round, pool.label, () => Promise.resolve(sealedNoIndexRound(pool, 20_000 + round)));
          await withSeed(25_000 + round, pool.label, () => Promise.resolve(sealedLastBatchRound(pool, 25_000 + round)));
        }
        expect(sealedPlaces(pool.disk).length).toBeGreaterThanOrEqual(2);
      });

      it('goes offline when a read finds a flipped byte in a sealed segment, and stays offline with the same error', async () => {
        for (let round = 0; round < rounds; round++) await withSeed(30_000 + round, pool.label, () => readTimeRound(pool, 30_000 + round));
      });

      it('never serves a flipped byte: open refuses or reads fail with LOG_CORRUPT, nothing is truncated', async () => {
        for (let round = 0; round < rounds; round++) await withSeed(40_000 + round, pool.label, () => anyFlipRound(pool, 40_000 + round));
      });
    });
  }
});
