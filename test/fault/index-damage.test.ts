/**
 * Damaged index files. The .index and .timeindex files are derived data: when one is missing, torn
 * (not a whole number of entries) or garbled, the log rebuilds it from the segment file, and every
 * read and timestamp lookup stays right. Damage is applied to sealed segments and to the last segment
 * after a clean close (whose index files let the next open skip most of the scan), both before an
 * open and under an open log whose index cache has dropped them.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Random, seededRandom } from '../../src/base/index.js';
import type { LogConfig } from '../../src/config.js';
import { MemoryFileIO, SegmentLog } from '../../src/storage/index.js';
import { type FaultDisk, makeTempDir, memoryDisk, nodeDisk, removeTempDirs, segmentBases, segmentFileName } from '../helpers/fault-disk.js';
import { type ExpectedLog, buildLog, check, expectLogMatches, faultConfig, randomBytes, testClock, withSeed } from '../helpers/fault-model.js';

const ENTRY_BYTES = { '.index': 8, '.timeindex': 12 } as const;
type IndexSuffix = keyof typeof ENTRY_BYTES;
type IndexDamage = 'delete' | 'truncate-mid-entry' | 'extend-mid-entry' | 'scramble' | 'zero' | 'shuffle-column';
const DAMAGES: readonly IndexDamage[] = ['delete', 'truncate-mid-entry', 'extend-mid-entry', 'scramble', 'zero', 'shuffle-column'];

interface Pool {
  label: string;
  disk: FaultDisk;
  config: LogConfig;
  expected: ExpectedLog;
  /** Index files of every segment after the clean close, by name. */
  indexFiles: Map<string, Buffer>;
}

async function buildPool(disk: FaultDisk, seed: number): Promise<Pool> {
  const config = faultConfig({ indexIntervalBytes: 512 });
  const expected = await buildLog({ io: disk.io, dir: disk.dir, config, random: seededRandom(seed), sealedSegmentsMin: 3, activeBatchesMin: 30, valueBytesMax: 700 });
  const indexFiles = new Map<string, Buffer>();
  for (const base of segmentBases(disk)) {
    for (const suffix of ['.index', '.timeindex'] as const) {
      const name = segmentFileName(base, suffix);
      indexFiles.set(name, disk.read(name));
    }
  }
  return { label: `${disk.kind} pool ${seed}`, disk, config, expected, indexFiles };
}

/** Damages one index file; returns a description for messages. */
function damageIndexFile(disk: FaultDisk, random: Random, name: string, suffix: IndexSuffix): string {
  const original = disk.read(name);
  const entryBytes = ENTRY_BYTES[suffix];
  const kind = DAMAGES[random.int(0, DAMAGES.length)]!;
  switch (kind) {
    case 'delete':
      disk.remove(name);
      break;
    case 'truncate-mid-entry': {
      const entries = random.int(0, original.length / entryBytes);
      disk.write(name, original.subarray(0, entries * entryBytes + random.int(1, entryBytes)));
      break;
    }
    case 'extend-mid-entry':
      disk.write(name, Buffer.concat([original, randomBytes(random, random.int(1, entryBytes))]));
      break;
    case 'scramble':
      disk.write(name, randomBytes(random, original.length));
      break;
    case 'zero':
      disk.write(name, Buffer.alloc(original.length));
      break;
    case 'shuffle-column':
      disk.write(name, shuffleColumn(random, original, suffix));
      break;
  }
  return `${name} ${kind}`;
}

/**
 * Shuffles one column of the entries and keeps the other in order: the positions of the offset
 * index, or the timestamps of the time index (whose offsets then still look plausible).
 */
function shuffleColumn(random: Random, original: Buffer, suffix: IndexSuffix): Buffer {
  const entryBytes = ENTRY_BYTES[suffix];
  const [columnAt, columnBytes] = suffix === '.index' ? [4, 4] : [0, 8];
  const count = original.length / entryBytes;
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = random.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const shuffled = Buffer.from(original);
  order.forEach((from, to) => original.copy(shuffled, to * entryBytes + columnAt, from * entryBytes + columnAt, from * entryBytes + columnAt + columnBytes));
  return shuffled;
}

/** Damages the index files of a random non-empty set of segments (the last one included sometimes). */
function damageSomeIndexes(disk: FaultDisk, random: Random, bases: readonly number[]): string[] {
  const damaged: string[] = [];
  while (damaged.length === 0) {
    for (const base of bases) {
      if (random.next() < 0.5) continue;
      const which = random.int(0, 3); // .index, .timeindex, or both
      if (which !== 1) damaged.push(damageIndexFile(disk, random, segmentFileName(base, '.index'), '.index'));
      if (which !== 0) damaged.push(damageIndexFile(disk, random, segmentFileName(base, '.timeindex'), '.timeindex'));
    }
  }
  return damaged;
}

function expectIndexFilesRebuilt(pool: Pool, disk: FaultDisk, bases: readonly number[], context: string): void {
  for (const base of bases) {
    for (const suffix of ['.index', '.timeindex'] as const) {
      const name = segmentFileName(base, suffix);
      check(disk.exists(name), () => `${context}: ${name} was not rebuilt`);
      check(disk.read(name).equals(pool.indexFiles.get(name)!), () => `${context}: rebuilt ${name} differs from the one written at seal`);
    }
  }
}

function cacheConfig(pool: Pool, random: Random): LogConfig {
  // Small caches make sealed segments reload (or rebuild) their indexes while the test reads.
  return { ...pool.config, indexCacheSegmentsMax: random.int(1, 4), openSegmentFilesMax: random.int(1, 3) };
}

/** Damage before an open: the open rebuilds sealed segments' index files; reads are right. */
async function damagedBeforeOpenRound(pool: Pool, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const bases = segmentBases(disk);
  const damaged = damageSomeIndexes(disk, random, bases);
  const context = `seed ${seed} (${pool.label}; ${damaged.join(', ')})`;
  const log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: cacheConfig(pool, random) });
  check(log.recovery.tornTail === undefined, () => `${context}: recovery cut a torn tail`);
  check(log.segmentCount === bases.length, () => `${context}: ${log.segmentCount} segments after open, expected ${bases.length}`);
  expectIndexFilesRebuilt(pool, disk, bases.slice(0, -1), `${context}, after open`);
  expectLogMatches(log, pool.expected, context, { random, timestampProbeCount: 40 });
  await log.close();
  expectIndexFilesRebuilt(pool, disk, bases, `${context}, after close`);
  for (const base of bases) {
    const name = segmentFileName(base, '.log');
    check(disk.read(name).equals(pool.disk.read(name)), () => `${context}: ${name} changed`);
  }
}

/** Damage under an open log whose cache has dropped the indexes: they are rebuilt in memory on use. */
async function damagedWhileOpenRound(pool: Pool, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const disk = pool.disk.clone();
  const bases = segmentBases(disk);
  const log = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: { ...pool.config, indexCacheSegmentsMax: 1, openSegmentFilesMax: 1 } });
  const first = `seed ${seed} (${pool.label}; before damage)`;
  expectLogMatches(log, pool.expected, first, { random, everyOffset: false });
  const damaged = damageSomeIndexes(disk, random, bases.slice(0, -1));
  const context = `seed ${seed} (${pool.label}; under an open log: ${damaged.join(', ')})`;
  expectLogMatches(log, pool.expected, context, { random, timestampProbeCount: 40 });
  await log.close();
  const reopened = SegmentLog.open({ dir: disk.dir, io: disk.io, clock: testClock(), config: pool.config });
  expectIndexFilesRebuilt(pool, disk, bases.slice(0, -1), `${context}, after reopen`);
  expectLogMatches(reopened, pool.expected, `${context}, after reopen`, { random, everyOffset: false });
  await reopened.close();
}

describe('damaged index files', () => {
  afterAll(removeTempDirs);

  for (const kind of ['memory', 'node'] as const) {
    describe(kind === 'memory' ? 'on MemoryFileIO' : 'on the real disk', () => {
      const rounds = kind === 'memory' ? 40 : 5;
      let pool: Pool;
      beforeAll(async () => {
        const disk = kind === 'memory' ? memoryDisk(new MemoryFileIO(), '/data/i/0') : nodeDisk(path.join(makeTempDir(), 'log'));
        pool = await buildPool(disk, 301);
      });

      it('rebuilds deleted, torn or garbled index files at open, and every read and timestamp lookup stays right', async () => {
        for (let round = 0; round < rounds; round++) await withSeed(50_000 + round, pool.label, () => damagedBeforeOpenRound(pool, 50_000 + round));
        expect(segmentBases(pool.disk).length).toBeGreaterThanOrEqual(4);
      });

      it('rebuilds them in memory when a sealed segment reloads damaged index files under an open log', async () => {
        for (let round = 0; round < rounds; round++) await withSeed(60_000 + round, pool.label, () => damagedWhileOpenRound(pool, 60_000 + round));
      });
    });
  }
});
