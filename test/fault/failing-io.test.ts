/**
 * Failing I/O through the FileIO seam. The first I/O error takes the log offline: whatever waited on
 * the failed call is rejected with STORAGE_IO_ERROR, every later call fails with that same error, and
 * a failed fsync is never retried (Linux may already have dropped the pages it could not write, so a
 * second fsync could "succeed" over lost data). Run on MemoryFileIO and on the real disk.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../src/base/index.js';
import { type BrokerError, isBrokerError } from '../../src/errors.js';
import { type FileIO, MemoryFileIO, SegmentLog, nodeFileIO, readBatchHeader, splitBatches } from '../../src/storage/index.js';
import { makeTempDir, removeTempDirs } from '../helpers/fault-disk.js';
import { BatchMaker, START_MS, faultConfig } from '../helpers/fault-model.js';
import { type FaultableCall, FaultyFileIO } from '../helpers/faulty-file-io.js';

type Kind = 'memory' | 'node';

function setup(kind: Kind, overrides: Readonly<Record<string, unknown>> = {}) {
  const inner: FileIO = kind === 'memory' ? new MemoryFileIO() : nodeFileIO;
  const dir = kind === 'memory' ? '/data/f/0' : path.join(makeTempDir(), 'log');
  const io = new FaultyFileIO(inner);
  const clock = new ManualClock(START_MS);
  const config = faultConfig(overrides);
  const log = SegmentLog.open({ dir, io, clock, config });
  const maker = new BatchMaker(seededRandom(7));
  return { inner, dir, io, clock, config, log, maker };
}

/** Lets pending fsyncs complete (on the real disk they take real time) and their callbacks run. */
async function settle(io: FaultyFileIO): Promise<void> {
  for (let i = 0; i < 5000 && io.syncsInFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  if (io.syncsInFlight > 0) throw new Error('an fdatasync did not complete within 5 s');
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function expectIoError(error: unknown, action: string, injected: Error | undefined): asserts error is BrokerError {
  expect(isBrokerError(error), `expected a BrokerError, got ${String(error)}`).toBe(true);
  const brokerError = error as BrokerError;
  expect(brokerError.code).toBe('STORAGE_IO_ERROR');
  expect(brokerError.retriable).toBe(false);
  expect(brokerError.details['action']).toBe(action);
  expect(brokerError.details['errno']).toBe('EIO');
  expect(brokerError.message).toContain('EIO');
  expect(brokerError.cause).toBe(injected);
}

/** Every call on an offline log fails with exactly `error`, and none reaches the files. */
async function expectOffline(setupResult: ReturnType<typeof setup>, error: BrokerError): Promise<void> {
  const { log, io, maker } = setupResult;
  await settle(io);
  const calls = { ...io.calls };
  expect(log.offline).toBe(error);
  expect(await rejection(log.append(maker.next().batch))).toBe(error);
  expect(thrown(() => log.read({ fromOffset: log.logStartOffset, maxBytes: 4096 }))).toBe(error);
  expect(thrown(() => log.offsetForTimestamp(START_MS))).toBe(error);
  expect(thrown(() => log.enforceRetention())).toBe(error);
  expect(await rejection(log.flush())).toBe(error);
  await log.close();
  await settle(io);
  // Not retried, and nothing written, by the calls above or by close.
  for (const call of ['fdatasync', 'fdatasyncSync', 'writeAll', 'fsyncDir'] as const satisfies readonly FaultableCall[]) {
    expect(io.calls[call], `${call} calls after the log went offline`).toBe(calls[call]);
  }
}

describe('failing I/O takes the log offline', () => {
  afterAll(removeTempDirs);

  for (const kind of ['memory', 'node'] as const) {
    describe(kind === 'memory' ? 'on MemoryFileIO' : 'on the real disk', () => {
      it('a failed fdatasync rejects every append waiting on it with STORAGE_IO_ERROR and is not retried', async () => {
        const s = setup(kind);
        const { log, io, maker } = s;
        const durable = await log.append(maker.next().batch);
        expect(durable.durability).toBe('fsynced');

        io.failNext('fdatasync');
        const syncsBefore = io.calls.fdatasync;
        const appends = Array.from({ length: 8 }, () => log.append(maker.next().batch));
        const errors = await Promise.all(appends.map(rejection));
        expectIoError(errors[0], 'fdatasync', io.injected[0]);
        for (const error of errors) expect(error).toBe(errors[0]);
        expect(log.highWatermark).toBe(durable.logEndOffset);
        await expectOffline(s, errors[0]);
        expect(io.calls.fdatasync - syncsBefore, 'fdatasync calls since the failure was armed').toBe(1);

        // What was acknowledged before the failure is still there after a restart.
        const inner = s.inner instanceof MemoryFileIO ? s.inner.crashed() : s.inner;
        const reopened = SegmentLog.open({ dir: s.dir, io: inner, clock: new ManualClock(START_MS), config: s.config });
        expect(reopened.logEndOffset).toBeGreaterThanOrEqual(durable.logEndOffset);
        expect(splitBatches(reopened.read({ fromOffset: 0, maxBytes: 1 }).bytes)).toHaveLength(1);
        await reopened.close();
      });

      it('a failed fdatasync fails only the appends it or a later sync would have covered', async () => {
        const s = setup(kind);
        const { log, io, maker } = s;
        const covered = log.append(maker.next().batch); // starts sync 1
        io.failNext('fdatasync'); // sync 2, which the next appends wait for
        const failing = [log.append(maker.next().batch), log.append(maker.next().batch)];
        const result = await covered;
        expect(result.durability).toBe('fsynced');
        const errors = await Promise.all(failing.map(rejection));
        expectIoError(errors[0], 'fdatasync', io.injected[0]);
        expect(errors[1]).toBe(errors[0]);
        expect(log.highWatermark).toBe(result.logEndOffset);
        await expectOffline(s, errors[0]);
      });

      it('a failed write rejects the append and takes the log offline', async () => {
        const s = setup(kind);
        const { log, io, maker } = s;
        await log.append(maker.next().batch);
        const endBefore = log.logEndOffset;
        const waitingBatch = maker.next().batch;
        const waiting = log.append(waitingBatch); // written, waiting for its sync
        io.failNext('writeAll');
        const error = await rejection(log.append(maker.next().batch));
        expectIoError(error, 'write', io.injected[0]);
        expect(await rejection(waiting)).toBe(error);
        // The failed append took no offsets.
        expect(log.logEndOffset).toBe(endBefore + readBatchHeader(waitingBatch, 0).recordCount);
        await expectOffline(s, error);
      });

      it('a failed directory fsync or fdatasync while rolling a segment takes the log offline', async () => {
        for (const call of ['fsyncDir', 'fdatasyncSync'] as const) {
          const s = setup(kind);
          const { log, io, maker } = s;
          // Fill the first segment (appends not awaited one by one: they share fsyncs).
          const filling: Promise<unknown>[] = [];
          let next = maker.next().batch;
          while (log.sizeBytes + next.length <= s.config.segmentBytesMax) {
            filling.push(log.append(next));
            next = maker.next().batch;
          }
          await Promise.all(filling);
          expect(log.segmentCount).toBe(1);
          io.failNext(call);
          const error = await rejection(log.append(next));
          expectIoError(error, 'roll', io.injected[0]);
          await expectOffline(s, error);
        }
      });

      it('a failed read takes the log offline', async () => {
        const s = setup(kind);
        const { log, io, maker } = s;
        await log.append(maker.next().batch);
        io.failNext('read');
        const error = thrown(() => log.read({ fromOffset: 0, maxBytes: 4096 }));
        expectIoError(error, 'read', io.injected[0]);
        await expectOffline(s, error);
      });

      it('in interval mode, a failed timer fsync takes the log offline and stops the timer', async () => {
        const s = setup(kind, { durability: 'interval', flushIntervalMs: 200 });
        const { log, io, clock, maker } = s;
        const written = await log.append(maker.next().batch);
        expect(written.durability).toBe('written');
        const syncsBefore = io.calls.fdatasync;
        clock.advance(200);
        await settle(io);
        expect(io.calls.fdatasync, 'the timer fsynced').toBe(syncsBefore + 1);
        expect(log.offline).toBeUndefined();

        await log.append(maker.next().batch);
        io.failNext('fdatasync');
        clock.advance(199);
        expect(io.calls.fdatasync, 'no fsync before the interval').toBe(syncsBefore + 1);
        clock.advance(1);
        await settle(io);
        expect(io.calls.fdatasync).toBe(syncsBefore + 2);
        const error = log.offline;
        expectIoError(error, 'fdatasync', io.injected[0]);
        expect(clock.pendingTimerCount()).toBe(0);
        clock.advance(10_000);
        await expectOffline(s, error);
      });
    });
  }
});

