/**
 * Group commit in `always` mode: appends that arrive while an fdatasync is in flight share the next
 * one, so N concurrent appends cost far fewer than N syncs, and each still resolves only once a sync
 * covering it has completed. Readers never see past the fsynced end (the high watermark).
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../src/base/index.js';
import { type AppendResult, type FileIO, MemoryFileIO, SegmentLog, nodeFileIO, readBatchHeader, splitBatches } from '../../src/storage/index.js';
import { makeTempDir, removeTempDirs } from '../helpers/fault-disk.js';
import { BatchMaker, START_MS, faultConfig } from '../helpers/fault-model.js';
import { FaultyFileIO } from '../helpers/faulty-file-io.js';

type Kind = 'memory' | 'node';

function setup(kind: Kind) {
  const inner: FileIO = kind === 'memory' ? new MemoryFileIO() : nodeFileIO;
  const dir = kind === 'memory' ? '/data/g/0' : path.join(makeTempDir(), 'log');
  const io = new FaultyFileIO(inner);
  const log = SegmentLog.open({ dir, io, clock: new ManualClock(START_MS), config: faultConfig({ durability: 'always' }) });
  return { io, log, maker: new BatchMaker(seededRandom(11)) };
}

/** Waits (event-loop turns, then real time for the thread pool) until `condition` holds. */
async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) {
    await new Promise((resolve) => (i < 20 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  if (!condition()) throw new Error(`timed out waiting until ${what}`);
}

describe('group commit', () => {
  afterAll(removeTempDirs);

  for (const kind of ['memory', 'node'] as const) {
    describe(kind === 'memory' ? 'on MemoryFileIO' : 'on the real disk', () => {
      it('N appends issued without awaiting in between share a few fdatasyncs and all resolve fsynced, in order', async () => {
        const { io, log, maker } = setup(kind);
        const count = 200;
        const syncsBefore = io.calls.fdatasync;
        const batches = Array.from({ length: count }, () => maker.next().batch);
        const hwAtResolve: number[] = [];
        const results = await Promise.all(
          batches.map((batch, i) =>
            log.append(batch).then((result) => {
              hwAtResolve[i] = log.highWatermark;
              return result;
            }),
          ),
        );
        const syncs = io.calls.fdatasync - syncsBefore;
        // The first append starts a sync that covers only itself; the other 199 arrive while it is in
        // flight and share the next one.
        expect(syncs).toBeGreaterThanOrEqual(1);
        expect(syncs).toBeLessThanOrEqual(2);
        let expectedBase = 0;
        results.forEach((result, i) => {
          expect(result.durability).toBe('fsynced');
          expect(result.baseOffset).toBe(expectedBase);
          expect(result.lastOffset).toBe(expectedBase + readBatchHeader(batches[i]!, 0).recordCount - 1);
          expect(hwAtResolve[i]).toBeGreaterThanOrEqual(result.logEndOffset);
          expectedBase = result.lastOffset + 1;
        });
        expect(log.highWatermark).toBe(expectedBase);
        await log.close();
      });

      it('the high watermark never passes an offset before an fsync covering it has completed', async () => {
        const { io, log, maker } = setup(kind);
        const first = await log.append(maker.next().batch);
        const startEnd = first.logEndOffset;
        io.holdSyncs();

        const resolved: AppendResult[] = [];
        const track = (promise: Promise<AppendResult>): Promise<AppendResult> =>
          promise.then((result) => {
            expect(log.highWatermark, 'high watermark when an append resolves').toBeGreaterThanOrEqual(result.logEndOffset);
            resolved.push(result);
            return result;
          });
        const batchA = maker.next();
        const a = track(log.append(batchA.batch)); // starts sync 1, which covers only A
        await waitUntil(() => io.heldSyncCount === 1, 'sync 1 is held');
        const b = track(log.append(maker.next().batch)); // wait for sync 2
        const c = track(log.append(maker.next().batch));
        const endC = log.logEndOffset;

        // Sync 1 has written A to disk but not reported back: A is invisible and unacknowledged.
        expect(resolved).toHaveLength(0);
        expect(log.highWatermark).toBe(startEnd);
        const early = log.read({ fromOffset: startEnd, maxBytes: 1 << 20 });
        expect(early.bytes.length).toBe(0);
        expect(early.nextOffset).toBe(startEnd);
        expect(() => log.read({ fromOffset: startEnd + 1, maxBytes: 4096 })).toThrow(expect.objectContaining({ code: 'OFFSET_OUT_OF_RANGE' }));
        expect(log.offsetForTimestamp(Math.min(...batchA.timestampsMs))).toBeUndefined();

        io.releaseSync();
        const resultA = await a;
        expect(log.highWatermark).toBe(resultA.logEndOffset); // not C's end: B and C were written after sync 1 began
        expect(resolved).toHaveLength(1);
        const visible = splitBatches(log.read({ fromOffset: startEnd, maxBytes: 1 << 20 }).bytes);
        expect(visible).toHaveLength(1);
        expect(visible[0]!.equals(batchA.batch)).toBe(true);

        await waitUntil(() => io.heldSyncCount === 1, 'sync 2 is held');
        expect(resolved).toHaveLength(1);
        expect(log.highWatermark).toBe(resultA.logEndOffset);
        io.releaseSync();
        const [resultB, resultC] = await Promise.all([b, c]);
        expect(resultB.durability).toBe('fsynced');
        expect(resultC.logEndOffset).toBe(endC);
        expect(log.highWatermark).toBe(endC);
        expect(io.calls.fdatasync).toBe(3); // the first append's, then one per group
        io.stopHoldingSyncs();
        await log.close();
      });
    });
  }
});
