/**
 * The partition log's contract, run against the real file system and against the in-memory twin.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/base/index.js';
import { logConfig, type LogConfig } from '../../../src/config.js';
import { BrokerError } from '../../../src/errors.js';
import { MemoryFileIO, SegmentLog, encodeBatch, nodeFileIO, type FileIO } from '../../../src/storage/index.js';
import { numberedRecord, readAll } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';

const small = { segmentBytesMax: 64 * 1024, indexIntervalBytes: 512, batchBytesMax: 16 * 1024 };

const backends: { name: string; make: () => { io: FileIO; dir: string } }[] = [
  { name: 'real disk', make: () => ({ io: nodeFileIO, dir: path.join(tempDir(), 'p0') }) },
  { name: 'in-memory twin', make: () => ({ io: new MemoryFileIO(), dir: '/data/topic/0' }) },
];

function batchOf(first: number, count: number, options: { valueBytes?: number; timestampMs?: (n: number) => number } = {}): Buffer {
  const records = Array.from({ length: count }, (_, i) =>
    numberedRecord(first + i, { valueBytes: options.valueBytes ?? 40, ...(options.timestampMs ? { timestampMs: options.timestampMs(first + i) } : {}) }),
  );
  return encodeBatch({ records });
}

async function expectBrokerError(promise: Promise<unknown> | (() => unknown), code: string): Promise<BrokerError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe(code);
    return error as BrokerError;
  }
  throw new Error(`expected ${code}`);
}

describe.each(backends)('SegmentLog on $name', ({ make }) => {
  const open = (io: FileIO, dir: string, overrides: Partial<LogConfig> = {}, clock?: ManualClock) =>
    SegmentLog.open({ dir, io, config: logConfig({ ...small, ...overrides }), ...(clock ? { clock } : {}) });

  it('assigns contiguous offsets and reads every record back from every offset across segment rolls', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    let next = 0;
    for (let b = 0; b < 300; b++) {
      const count = 1 + (b % 5);
      const result = await log.append(batchOf(next, count, { valueBytes: 200 }));
      expect(result).toMatchObject({ baseOffset: next, lastOffset: next + count - 1, logEndOffset: next + count, durability: 'fsynced' });
      next += count;
    }
    expect(log.segmentCount).toBeGreaterThan(3);
    const all = readAll(log);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(all.every((r) => r.value!.toString().startsWith(`value-${r.offset}.`))).toBe(true);
    for (let offset = 0; offset < next; offset += 7) {
      const records = readAll(log, offset, 300);
      expect(records[0]!.offset).toBe(offset);
      expect(records.length).toBe(next - offset);
    }
    await log.close();
  });

  it('returns whole batches within maxBytes, and at least one batch even when it is larger', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    const big = batchOf(0, 50, { valueBytes: 200 });
    await log.append(big);
    await log.append(batchOf(50, 1));
    const first = log.read({ fromOffset: 10, maxBytes: 100 });
    expect(first.bytes.length).toBe(big.length);
    expect(first.nextOffset).toBe(50);
    const both = log.read({ fromOffset: 0, maxBytes: 1 << 20 });
    expect(both.nextOffset).toBe(51);
    expect(log.read({ fromOffset: 51, maxBytes: 100 }).bytes.length).toBe(0);
    await log.close();
  });

  it('rejects reads outside [logStartOffset, highWatermark] with the valid range', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    await log.append(batchOf(0, 3));
    const error = await expectBrokerError(() => log.read({ fromOffset: 4, maxBytes: 100 }), 'OFFSET_OUT_OF_RANGE');
    expect(error.details).toMatchObject({ offset: 4, logStartOffset: 0, highWatermark: 3 });
    await expectBrokerError(() => log.read({ fromOffset: -1, maxBytes: 100 }), 'OFFSET_OUT_OF_RANGE');
    await expectBrokerError(() => log.read({ fromOffset: 0, maxBytes: 0 }), 'INVALID_ARGUMENT');
    await log.close();
  });

  it('refuses a batch larger than batchBytesMax without writing anything', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    await expectBrokerError(log.append(batchOf(0, 100, { valueBytes: 400 })), 'BATCH_TOO_LARGE');
    expect(log.logEndOffset).toBe(0);
    expect((await log.append(batchOf(0, 1))).baseOffset).toBe(0);
    await log.close();
  });

  it('keeps everything across close and reopen, and continues appending', async () => {
    const { io, dir } = make();
    let log = open(io, dir);
    for (let n = 0; n < 400; n += 4) await log.append(batchOf(n, 4));
    await log.close();
    log = open(io, dir);
    expect(log.recovery.tornTail).toBeUndefined();
    expect(log.logEndOffset).toBe(400);
    expect((await log.append(batchOf(400, 2))).baseOffset).toBe(400);
    expect(readAll(log).map((r) => r.offset)).toEqual(Array.from({ length: 402 }, (_, i) => i));
    await log.close();
  });

  it('finds the first offset at or after a timestamp, even with out-of-order timestamps', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    // Timestamps rise by 10 ms per record, except every 50th record which carries an old timestamp.
    const ts = (n: number) => (n % 50 === 49 ? 1_000 : 1_000_000 + n * 10);
    for (let n = 0; n < 1000; n += 5) await log.append(batchOf(n, 5, { timestampMs: ts }));
    expect(log.segmentCount).toBeGreaterThan(1);
    for (const target of [0, 1_000_000, 1_000_005, 1_004_990, 1_009_990]) {
      let expected: number | undefined;
      for (let n = 0; n < 1000 && expected === undefined; n++) if (ts(n) >= target) expected = n;
      expect(log.offsetForTimestamp(target), `target ${target}`).toBe(expected);
    }
    expect(log.offsetForTimestamp(2_000_000)).toBeUndefined();
    await log.close();
    const reopened = open(io, dir);
    expect(reopened.offsetForTimestamp(1_004_990)).toBe(500); // 499 carries an old timestamp
    await reopened.close();
  });

  it('rolls a segment by age on the next append', async () => {
    const { io, dir } = make();
    const clock = new ManualClock();
    const log = open(io, dir, { segmentAgeMsMax: 60_000 }, clock);
    await log.append(batchOf(0, 1));
    clock.advance(59_000);
    await log.append(batchOf(1, 1));
    expect(log.segmentCount).toBe(1);
    clock.advance(1_000);
    await log.append(batchOf(2, 1));
    expect(log.segmentCount).toBe(2);
    await log.close();
  });

  it('deletes whole segments by size, moving logStartOffset, and reads below it fail', async () => {
    const { io, dir } = make();
    const log = open(io, dir, { retentionBytes: 128 * 1024, retentionMs: -1 });
    for (let n = 0; n < 5000; n += 10) await log.append(batchOf(n, 10));
    const before = log.sizeBytes;
    const result = log.enforceRetention();
    expect(result.deletedSegmentCount).toBeGreaterThan(0);
    expect(log.sizeBytes).toBe(before - result.deletedBytes);
    expect(log.sizeBytes).toBeGreaterThanOrEqual(128 * 1024);
    expect(log.sizeBytes - 64 * 1024).toBeLessThan(128 * 1024);
    expect(log.logStartOffset).toBe(result.logStartOffset);
    expect(log.logStartOffset).toBeGreaterThan(0);
    await expectBrokerError(() => log.read({ fromOffset: log.logStartOffset - 1, maxBytes: 100 }), 'OFFSET_OUT_OF_RANGE');
    expect(readAll(log)[0]!.offset).toBe(log.logStartOffset);
    expect(io.readdir(dir).filter((f) => f.endsWith('.log'))).toHaveLength(log.segmentCount);
    await log.close();
  });

  it('deletes segments whose newest record is older than retentionMs, the active one too once idle', async () => {
    const { io, dir } = make();
    const clock = new ManualClock(10_000_000);
    const log = open(io, dir, { retentionMs: 60_000 }, clock);
    for (let n = 0; n < 2000; n += 10) await log.append(batchOf(n, 10, { timestampMs: () => clock.nowMs() }));
    const segments = log.segmentCount;
    clock.advance(30_000);
    for (let n = 2000; n < 2100; n += 10) await log.append(batchOf(n, 10, { timestampMs: () => clock.nowMs() }));
    clock.advance(40_000);
    const partial = log.enforceRetention();
    // Only segments holding nothing newer than the first 2000 records go; the one with newer records stays.
    expect(partial.deletedSegmentCount).toBeGreaterThan(0);
    expect(log.segmentCount).toBeLessThan(segments + 1);
    expect(log.logStartOffset).toBeGreaterThan(0);
    expect(log.logStartOffset).toBeLessThanOrEqual(2000);
    clock.advance(60_000);
    log.enforceRetention();
    expect(log.logStartOffset).toBe(2100);
    expect(log.logEndOffset).toBe(2100);
    expect((await log.append(batchOf(2100, 1))).baseOffset).toBe(2100);
    await log.close();
  });

  it('truncates to an offset across segments, at a batch boundary, durably', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    for (let n = 0; n < 3000; n += 3) await log.append(batchOf(n, 3));
    expect(log.truncate(1001)).toBe(999); // 1001 sits in the batch 999..1001
    expect(log.logEndOffset).toBe(999);
    expect(readAll(log).map((r) => r.offset)).toEqual(Array.from({ length: 999 }, (_, i) => i));
    expect((await log.append(batchOf(999, 2))).baseOffset).toBe(999);
    await log.close();
    const reopened = open(io, dir);
    expect(reopened.logEndOffset).toBe(1001);
    expect(readAll(reopened).map((r) => r.value!.toString().split('.')[0])).toEqual(
      Array.from({ length: 1001 }, (_, i) => `value-${i}`),
    );
    await reopened.close();
  });

  it('reads from every offset near the tail after a truncation inside the active segment replaced its last batches', async () => {
    const { io, dir } = make();
    const log = open(io, dir, { segmentBytesMax: 1024 * 1024 });
    for (let n = 0; n < 300; n += 3) await log.append(batchOf(n, 3));
    log.truncate(250); // inside the batch 249..251: the log ends at 249
    for (let n = 249; n < 320; n += 7) await log.append(batchOf(n, 7, { valueBytes: 90 }));
    expect(log.segmentCount).toBe(1);
    for (let offset = 200; offset < log.logEndOffset; offset++) {
      const records = readAll(log, offset);
      expect(records[0]!.offset).toBe(offset);
      expect(records.map((r) => r.value!.toString().split('.')[0])).toEqual(Array.from({ length: log.logEndOffset - offset }, (_, i) => `value-${offset + i}`));
    }
    await log.close();
  });

  it('truncating below the log start empties the log and restarts it at that offset', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    for (let n = 0; n < 100; n += 5) await log.append(batchOf(n, 5));
    log.truncate(0);
    expect(log.logStartOffset).toBe(0);
    expect(log.logEndOffset).toBe(0);
    expect((await log.append(batchOf(0, 1))).baseOffset).toBe(0);
    await log.close();
  });

  it('acknowledges writes without fsync in interval and never modes, and says so', async () => {
    for (const durability of ['interval', 'never'] as const) {
      const { io, dir } = make();
      const clock = new ManualClock();
      const log = open(io, dir, { durability }, clock);
      const result = await log.append(batchOf(0, 2));
      expect(result.durability).toBe('written');
      expect(log.highWatermark).toBe(2);
      await log.flush();
      await log.close();
    }
  });

  it('refuses every call after close with LOG_CLOSED', async () => {
    const { io, dir } = make();
    const log = open(io, dir);
    await log.close();
    await expectBrokerError(log.append(batchOf(0, 1)), 'LOG_CLOSED');
    await expectBrokerError(() => log.read({ fromOffset: 0, maxBytes: 10 }), 'LOG_CLOSED');
  });
});
