/**
 * A torn or garbled tail of the active segment (what a crash mid-write leaves): recovery must keep
 * exactly the longest valid prefix of batches, cut the rest, report what it cut, and let appends go on.
 *
 * Each round damages a copy of a cleanly closed log (several sealed segments, many index entries) in
 * one of these ways, then reopens it and compares it with the model:
 * - truncate the active .log at a random byte;
 * - overwrite it from a random byte to the end (and maybe beyond) with garbage or zeros;
 * - append garbage, zeros, or the first bytes of a batch that was being written.
 * The expected survivors are computed from the bytes alone: the batches of the active segment whose
 * bytes are all still there, unchanged, up to the first that is not.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Random, seededRandom } from '../../src/base/index.js';
import type { LogConfig } from '../../src/config.js';
import { MemoryFileIO, SegmentLog, encodeBatch } from '../../src/storage/index.js';
import {
  type FaultDisk,
  batchPlaces,
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
  endOffsetOf,
  expectLogMatches,
  faultConfig,
  modelBatch,
  START_MS,
  randomBytes,
  testClock,
  withSeed,
} from '../helpers/fault-model.js';

interface Pool {
  label: string;
  disk: FaultDisk;
  config: LogConfig;
  expected: ExpectedLog;
}

interface PoolSpec {
  seed: number;
  indexIntervalBytes: number;
  activeBatchesMin: number;
  valueBytesMax: number;
}

const POOL_SPECS: readonly PoolSpec[] = [
  // Every batch indexed: recovery resumes from the index files at the very last batch.
  { seed: 101, indexIntervalBytes: 64, activeBatchesMin: 30, valueBytesMax: 700 },
  { seed: 102, indexIntervalBytes: 2048, activeBatchesMin: 30, valueBytesMax: 700 },
  { seed: 103, indexIntervalBytes: 1024, activeBatchesMin: 3, valueBytesMax: 300 },
  { seed: 104, indexIntervalBytes: 64, activeBatchesMin: 1, valueBytesMax: 1000 },
];

async function buildPool(spec: PoolSpec, disk: FaultDisk): Promise<Pool> {
  const config = faultConfig({ indexIntervalBytes: spec.indexIntervalBytes });
  const expected = await buildLog({
    io: disk.io,
    dir: disk.dir,
    config,
    random: seededRandom(spec.seed),
    sealedSegmentsMin: 2,
    activeBatchesMin: spec.activeBatchesMin,
    valueBytesMax: spec.valueBytesMax,
  });
  return { label: `${disk.kind} pool ${spec.seed}, indexIntervalBytes ${spec.indexIntervalBytes}`, disk, config, expected };
}

type DamageKind = 'truncate' | 'garbage-tail' | 'zero-tail' | 'append-garbage' | 'append-zeros' | 'append-torn-batch';
const DAMAGE_KINDS: readonly DamageKind[] = ['truncate', 'garbage-tail', 'zero-tail', 'append-garbage', 'append-zeros', 'append-torn-batch'];

function damage(random: Random, original: Buffer, nextOffset: number): { bytes: Buffer; description: string } {
  const kind = DAMAGE_KINDS[random.int(0, DAMAGE_KINDS.length)]!;
  const at = random.int(0, original.length + 1);
  const extra = random.int(0, 200);
  switch (kind) {
    case 'truncate':
      return { bytes: original.subarray(0, at), description: `truncated at byte ${at} of ${original.length}` };
    case 'garbage-tail':
      return {
        bytes: Buffer.concat([original.subarray(0, at), randomBytes(random, original.length - at + extra)]),
        description: `garbage from byte ${at} of ${original.length} plus ${extra} bytes`,
      };
    case 'zero-tail':
      return {
        bytes: Buffer.concat([original.subarray(0, at), Buffer.alloc(original.length - at + extra)]),
        description: `zeros from byte ${at} of ${original.length} plus ${extra} bytes`,
      };
    case 'append-garbage': {
      const length = random.int(1, 600);
      return { bytes: Buffer.concat([original, randomBytes(random, length)]), description: `${length} garbage bytes appended` };
    }
    case 'append-zeros': {
      const length = random.int(1, 600);
      return { bytes: Buffer.concat([original, Buffer.alloc(length)]), description: `${length} zero bytes appended` };
    }
    case 'append-torn-batch': {
      const { batch } = new BatchMaker(random).next();
      batch.writeBigInt64BE(BigInt(nextOffset), 0);
      const length = random.int(1, batch.length);
      return { bytes: Buffer.concat([original, batch.subarray(0, length)]), description: `first ${length} of ${batch.length} bytes of a batch appended` };
    }
  }
}

/** Damages a copy of the pool's active segment, reopens, and checks recovery, reads and appends. */
async function tornTailRound(pool: Pool, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const activeBase = segmentBases(disk).at(-1)!;
  const activeName = segmentFileName(activeBase, '.log');
  const activeFiles = new Set([activeName, segmentFileName(activeBase, '.index'), segmentFileName(activeBase, '.timeindex')]);
  const original = disk.read(activeName);
  const places = batchPlaces(disk, activeBase);
  const { bytes: damaged, description } = damage(random, original, endOffsetOf(pool.expected));
  const context = `seed ${seed} (${pool.label}; ${description})`;
  disk.write(activeName, damaged);
  const before = snapshotFiles(disk);

  // The longest prefix of the active segment's batches whose bytes are all intact.
  let keptBytes = 0;
  let cutOffset = Number.POSITIVE_INFINITY;
  for (const place of places) {
    const end = place.position + place.batchBytes;
    if (end > damaged.length || !damaged.subarray(place.position, end).equals(original.subarray(place.position, end))) {
      cutOffset = place.baseOffset;
      break;
    }
    keptBytes = end;
  }
  const batches: ModelBatch[] = pool.expected.batches.filter((b) => b.baseOffset < cutOffset);

  const config = { ...pool.config, durability: 'always' as const };
  let log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config });
  const tornTail = log.recovery.tornTail;
  if (damaged.length > keptBytes) {
    check(tornTail !== undefined, () => `${context}: recovery did not report a torn tail`);
    check(tornTail.file === path.join(disk.dir, activeName), () => `${context}: torn tail reported in ${tornTail.file}`);
    check(tornTail.position === keptBytes, () => `${context}: torn tail at ${tornTail.position}, expected ${keptBytes}`);
    check(tornTail.bytesCut === damaged.length - keptBytes, () => `${context}: ${tornTail.bytesCut} bytes cut, expected ${damaged.length - keptBytes}`);
  } else {
    check(tornTail === undefined, () => `${context}: torn tail reported on an intact segment: ${JSON.stringify(tornTail)}`);
  }
  check(disk.read(activeName).length === keptBytes, () => `${context}: active segment is ${disk.read(activeName).length} bytes, expected ${keptBytes}`);
  for (const [name, bytes] of before) {
    if (activeFiles.has(name)) continue;
    check(disk.exists(name) && disk.read(name).equals(bytes), () => `${context}: recovery changed ${name}`);
  }
  expectLogMatches(log, { startOffset: 0, batches }, `${context}, after recovery`, { random });

  // Appends continue at the recovered end and survive a clean reopen.
  const maker = new BatchMaker(random, { startMs: Math.max(...pool.expected.batches.flatMap((b) => b.timestampsMs)) - 50 });
  for (let appendCount = random.int(1, 4); appendCount > 0; appendCount--) {
    const made = maker.next();
    const expectedBase = endOffsetOf({ startOffset: 0, batches });
    const result = await log.append(made.batch);
    check(result.baseOffset === expectedBase, () => `${context}: append after recovery got offset ${result.baseOffset}, expected ${expectedBase}`);
    check(result.durability === 'fsynced', () => `${context}: append after recovery was ${result.durability}`);
    batches.push(modelBatch(made.batch, made.timestampsMs));
  }
  expectLogMatches(log, { startOffset: 0, batches }, `${context}, after appends`, { random, everyOffset: false });
  await log.close();
  log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config });
  check(log.recovery.tornTail === undefined, () => `${context}: second reopen found a torn tail`);
  expectLogMatches(log, { startOffset: 0, batches }, `${context}, after a second reopen`, { random, everyOffset: false });
  await log.close();
}

describe('torn or garbled tail of the active segment', () => {
  afterAll(removeTempDirs);

  describe('on MemoryFileIO', () => {
    const pools: Pool[] = [];
    beforeAll(async () => {
      for (const spec of POOL_SPECS) pools.push(await buildPool(spec, memoryDisk(new MemoryFileIO(), '/data/t/0')));
    });

    it('keeps exactly the longest valid prefix at hundreds of random damage points', async () => {
      const rounds = 320;
      for (let round = 0; round < rounds; round++) {
        const pool = pools[round % pools.length]!;
        await withSeed(1_000 + round, pool.label, () => tornTailRound(pool, 1_000 + round));
      }
      expect(pools.every((pool) => segmentBases(pool.disk).length >= 3 && pool.expected.batches.length > 60)).toBe(true);
    });
  });

  it('regression: a torn last batch that the index files point at does not break the next append', async () => {
    // Every batch indexed, timestamps rising: the clean close leaves a time-index entry for the
    // last batch. Tear that batch; recovery must not keep the entry (or its timestamp) for records
    // that are gone, or the next append with a newer timestamp trips the time index's order check.
    const io = new MemoryFileIO();
    const disk = memoryDisk(io, '/data/t/r');
    const config = faultConfig({ indexIntervalBytes: 64 });
    const record = (i: number) => ({ key: null, value: Buffer.alloc(200, i), headers: [], timestampMs: START_MS + 10 * i });
    let log = SegmentLog.open({ dir: disk.dir, io, clock: testClock(), config });
    const batches: ModelBatch[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = encodeBatch({ records: [record(i)] });
      await log.append(batch);
      batches.push(modelBatch(batch, [START_MS + 10 * i]));
    }
    await log.close();
    const name = segmentFileName(0, '.log');
    const last = batchPlaces(disk, 0).at(-1)!;
    disk.write(name, disk.read(name).subarray(0, last.position + 100));

    log = SegmentLog.open({ dir: disk.dir, io, clock: testClock(), config });
    expect(log.recovery.tornTail).toMatchObject({ position: last.position, bytesCut: 100 });
    expect(log.logEndOffset).toBe(9);
    const random = seededRandom(1);
    expectLogMatches(log, { startOffset: 0, batches: batches.slice(0, 9) }, 'after the tear', { random });
    const newer = encodeBatch({ records: [record(20)] });
    expect((await log.append(newer)).baseOffset).toBe(9);
    const expected = { startOffset: 0, batches: [...batches.slice(0, 9), modelBatch(newer, [START_MS + 200])] };
    expectLogMatches(log, expected, 'after the append', { random });
    expect(log.offsetForTimestamp(START_MS + 91)).toBe(9);
    await log.close();
    log = SegmentLog.open({ dir: disk.dir, io, clock: testClock(), config });
    expectLogMatches(log, expected, 'after a reopen', { random });
    await log.close();
  });

  describe('on the real disk', () => {
    const pools: Pool[] = [];
    beforeAll(async () => {
      for (const spec of POOL_SPECS.slice(0, 2)) pools.push(await buildPool(spec, nodeDisk(path.join(makeTempDir(), 'log'))));
    });

    it('keeps exactly the longest valid prefix at a few dozen random damage points', async () => {
      for (let round = 0; round < 24; round++) {
        const pool = pools[round % pools.length]!;
        await withSeed(5_000 + round, pool.label, () => tornTailRound(pool, 5_000 + round));
      }
      expect(pools.every((pool) => segmentBases(pool.disk).length >= 3)).toBe(true);
    });
  });
});
