/**
 * The journal of `always` logs: one fdatasync for the appends of every partition, replay of what a
 * power loss took from the segments, and the cases where recovery must not guess.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/base/index.js';
import { logConfig } from '../../../src/config.js';
import { type FileIO, Journal, MemoryFileIO, SegmentLog, encodeBatch } from '../../../src/storage/index.js';
import { journalFileName } from '../../../src/storage/journal.js';
import { FaultyFileIO } from '../../helpers/faulty-file-io.js';
import { numberedRecord, readAll } from '../../helpers/records.js';

const JOURNAL_DIR = '/data/journal';
const config = logConfig({ durability: 'always', segmentBytesMax: 64 * 1024, indexIntervalBytes: 512, batchBytesMax: 16 * 1024 });
const logDirs = Array.from({ length: 8 }, (_, i) => `/data/topics/t-1/${i}`);

function batchOf(first: number, count: number): Buffer {
  return encodeBatch({ records: Array.from({ length: count }, (_, i) => numberedRecord(first + i, { valueBytes: 100 })) });
}

/** Opens the journal and the logs on `io` the way the broker does at start-up. */
function start(
  io: FileIO,
  dirs: readonly string[] = logDirs,
  fileBytesMax = 1024 * 1024,
  limits: { appendBytesMax?: number; bytesPerSecondMax?: number; clock?: ManualClock; segmentSyncBytes?: number } = {},
): { journal: Journal; logs: SegmentLog[] } {
  const journal = Journal.open({ dir: JOURNAL_DIR, io, fileBytesMax, appendBytesMax: 64 * 1024, bytesPerSecondMax: 1024 ** 3, ...limits });
  const logs = dirs.map((dir) => SegmentLog.open({ dir, io, config, journal }));
  journal.finishRecovery(() => true);
  return { journal, logs };
}

async function stop({ journal, logs }: { journal: Journal; logs: SegmentLog[] }): Promise<void> {
  await Promise.all(logs.map((log) => log.close()));
  await journal.close();
}

function offsetsOf(log: SegmentLog): number[] {
  return readAll(log).map((record) => record.offset);
}

describe('Journal', () => {
  it('makes the appends of every partition durable with one fdatasync, and gives them back after a power loss', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const running = start(io);
    const syncsBefore = io.calls.fdatasync;
    // One produce request's worth: an append to each partition in the same turn.
    const results = await Promise.all(running.logs.map((log, i) => log.append(batchOf(0, i + 1))));
    expect(results.every((result) => result.durability === 'fsynced')).toBe(true);
    expect(io.calls.fdatasync - syncsBefore).toBe(1);

    // The segments were never fsynced: a power loss now leaves them empty, the journal has it all.
    const disk = (io.inner as MemoryFileIO).crashed();
    const recovered = start(disk);
    recovered.logs.forEach((log, i) => {
      expect(log.recovery.replayedBatchCount).toBe(1);
      expect(offsetsOf(log)).toEqual(Array.from({ length: i + 1 }, (_, n) => n));
    });
    // Recovery made the replayed records durable in the segments and started a fresh journal file.
    expect(disk.readdir(JOURNAL_DIR)).toEqual([journalFileName(1)]);
    const again = start(disk.crashed());
    expect(again.logs.map((log) => log.logEndOffset)).toEqual(recovered.logs.map((log) => log.logEndOffset));
    await stop(recovered);
    await stop(again);
    await stop(running);
  });

  it('sends appends past its size limit, and every append while the byte rate is over its limit, to their own segment sync', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const clock = new ManualClock(1_000_000);
    // 15 KiB/s: 1,536 bytes per 100 ms window.
    const running = start(io, logDirs.slice(0, 1), 1024 * 1024, { appendBytesMax: 1000, bytesPerSecondMax: 15 * 1024, clock });
    const [log] = running.logs as [SegmentLog];
    const journalBytes = (): number => io.sizeOf(io.openReadOnly(`${JOURNAL_DIR}/${journalFileName(0)}`));
    expect(batchOf(0, 5).length).toBeLessThan(1000); // ~650 bytes
    expect(batchOf(0, 12).length).toBeGreaterThan(1000); // ~1,480
    let offset = 0;
    const appendSmall = (): Promise<unknown> => log.append(batchOf((offset += 5) - 5, 5));
    const journaled = async (append: () => Promise<unknown>): Promise<boolean> => {
      const before = journalBytes();
      await append();
      return journalBytes() > before;
    };

    expect(await journaled(appendSmall)).toBe(true);
    expect(await journaled(appendSmall)).toBe(true);
    expect(await journaled(appendSmall)).toBe(false); // past 1,536 bytes in this window
    clock.advance(100);
    expect(await journaled(appendSmall)).toBe(false); // the window after one over the rate
    clock.advance(100);
    expect(await journaled(appendSmall)).toBe(true); // that one stayed under it
    expect(await journaled(() => log.append(batchOf((offset += 12) - 12, 12)))).toBe(false); // too large, and over the rate with it
    clock.advance(1000);
    expect(await journaled(() => log.append(batchOf((offset += 12) - 12, 12)))).toBe(false); // too large, though within the rate
    clock.advance(1000);
    expect(await journaled(appendSmall)).toBe(true);
    expect(offsetsOf(log)).toEqual(Array.from({ length: offset }, (_, i) => i));
    await stop(running);
  });

  it('fsyncs a segment in the background every segmentSyncBytes of journaled appends, so the segment alone holds them', async () => {
    const io = new MemoryFileIO();
    const running = start(io, logDirs.slice(0, 1), 1024 * 1024, { segmentSyncBytes: 4096 });
    const [log] = running.logs as [SegmentLog];
    // ~650-byte appends: the seventh passes 4,096 journaled bytes and starts a segment sync.
    for (let i = 0; i < 10; i++) await log.append(batchOf(i * 5, 5));
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));

    // A power loss that also takes the journal: the segment still has what its background sync covered.
    const disk = io.crashed();
    for (const name of disk.readdir(JOURNAL_DIR)) disk.unlink(`${JOURNAL_DIR}/${name}`);
    const recovered = start(disk, logDirs.slice(0, 1));
    expect(recovered.logs[0]!.recovery.replayedBatchCount).toBe(0);
    expect(recovered.logs[0]!.logEndOffset).toBeGreaterThanOrEqual(35);
    await stop(recovered);
    await stop(running);
  });

  it('retires a full file once every log that wrote to it has fsynced its segment, and a clean close leaves none', async () => {
    const io = new MemoryFileIO();
    const running = start(io, logDirs.slice(0, 2), 16 * 1024);
    let next = 0;
    for (let i = 0; i < 60; i++) {
      await Promise.all(running.logs.map((log) => log.append(batchOf(next, 5))));
      next += 5;
    }
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    // Rolled several times; retired files went after their checkpoint.
    const files = io.readdir(JOURNAL_DIR);
    expect(files.length).toBeLessThanOrEqual(2);
    expect(Number(files.at(-1)!.slice(0, 20))).toBeGreaterThanOrEqual(3);
    // What only the deleted files held is durable in the segments.
    const recovered = start(io.crashed(), logDirs.slice(0, 2));
    expect(recovered.logs.map((log) => log.logEndOffset)).toEqual([next, next]);
    await stop(recovered);

    await stop(running);
    expect(io.readdir(JOURNAL_DIR)).toEqual([]);
  });

  it('does not bring back batches a log truncated, when it replays the frames written before the cut', async () => {
    const io = new MemoryFileIO();
    const running = start(io, logDirs.slice(0, 1));
    const [log] = running.logs as [SegmentLog];
    await log.append(batchOf(0, 3));
    await log.append(batchOf(3, 3));
    log.truncate(3);
    await log.append(batchOf(100, 2));
    const recovered = start(io.crashed(), logDirs.slice(0, 1));
    const records = readAll(recovered.logs[0]!);
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(records.slice(3).map((r) => r.value!.toString().split('.')[0])).toEqual(['value-100', 'value-101']);
    await stop(recovered);
    await stop(running);
  });

  it('ignores a torn frame at the end of the newest file, and refuses a damaged older file', async () => {
    const io = new MemoryFileIO();
    const running = start(io, logDirs.slice(0, 1), 4 * 1024);
    const [log] = running.logs as [SegmentLog];
    // Appends in one turn: the journal rolls (fsyncing each full file) and no retirement has run yet.
    const appends = Array.from({ length: 30 }, (_, i) => log.append(batchOf(i * 5, 5)));
    const disk = io.crashed();
    await Promise.all(appends);
    const files = disk.readdir(JOURNAL_DIR);
    expect(files.length).toBeGreaterThan(2);
    const intact = start(disk.crashed(), logDirs.slice(0, 1));
    const durableEnd = intact.logs[0]!.logEndOffset;
    expect(durableEnd).toBeGreaterThan(0);
    await stop(intact);

    const torn = disk.crashed();
    const newest = torn.openReadWrite(`${JOURNAL_DIR}/${files.at(-1)!}`);
    torn.writeAll(newest, [Buffer.from([200, 0, 0, 0, 1, 2, 3])], torn.sizeOf(newest));
    torn.fdatasyncSync(newest);
    const recovered = start(torn, logDirs.slice(0, 1));
    expect(recovered.logs[0]!.logEndOffset).toBe(durableEnd);
    await stop(recovered);

    const damaged = disk.crashed();
    const oldest = damaged.openReadWrite(`${JOURNAL_DIR}/${files[0]!}`);
    damaged.writeAll(oldest, [Buffer.from([0xff])], 40);
    damaged.fdatasyncSync(oldest);
    expect(() => Journal.open({ dir: JOURNAL_DIR, io: damaged, fileBytesMax: 4096, appendBytesMax: 4096, bytesPerSecondMax: 1024 ** 3 })).toThrow(
      expect.objectContaining({ code: 'LOG_CORRUPT', message: expect.stringContaining('checksum mismatch') }),
    );
    await stop(running);
  });

  it('keeps its files for a later start when a log that still exists did not replay them', async () => {
    const io = new MemoryFileIO();
    const running = start(io, logDirs.slice(0, 2));
    await Promise.all(running.logs.map((log) => log.append(batchOf(0, 4))));
    const disk = io.crashed();

    // This start opens only the first log (as if the second had failed to open).
    const partial = start(disk, logDirs.slice(0, 1));
    expect(disk.readdir(JOURNAL_DIR)).toEqual([journalFileName(0), journalFileName(1)]);
    await stop(partial);
    const full = start(disk.crashed());
    expect(full.logs.slice(0, 2).map((log) => log.logEndOffset)).toEqual([4, 4]);
    expect(full.logs[1]!.recovery.replayedBatchCount).toBe(1);
    await stop(full);
    await stop(running);
  });

  it('keeps a file, and every newer one, while a log that wrote to it cannot checkpoint, so a later start replays it', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const running = start(io, logDirs.slice(0, 2), 8 * 1024, { appendBytesMax: 1500 });
    const [failing, healthy] = running.logs as [SegmentLog, SegmentLog];
    await Promise.all(running.logs.map((log) => log.append(batchOf(0, 5))));
    // An append too large for the journal fsyncs the segment itself; that fdatasync fails.
    io.failNext('fdatasync');
    await expect(failing.append(batchOf(5, 20))).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    expect(failing.offline?.code).toBe('STORAGE_IO_ERROR');

    // The healthy log fills two more files (~700 bytes a frame, 8 KiB files); none can go, the
    // first one holds the failed log's frames.
    let next = 5;
    for (let i = 0; i < 30; i++) {
      await healthy.append(batchOf(next, 5));
      next += 5;
    }
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(io.readdir(JOURNAL_DIR).slice(0, 3)).toEqual([0, 1, 2].map(journalFileName));

    // Power loss: the failed log gets back what it acknowledged, from the kept first file.
    const recovered = start((io.inner as MemoryFileIO).crashed(), logDirs.slice(0, 2));
    expect(offsetsOf(recovered.logs[0]!)).toEqual([0, 1, 2, 3, 4]);
    expect(recovered.logs[1]!.logEndOffset).toBe(next);
    await stop(recovered);
    await stop(running);
  });

  it('takes every always log offline when a journal write fails, and loses nothing it acknowledged', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const running = start(io, logDirs.slice(0, 2));
    const [first, second] = running.logs as [SegmentLog, SegmentLog];
    await Promise.all(running.logs.map((log) => log.append(batchOf(0, 3))));
    // The segment's write goes first and succeeds; the journal's write after it fails.
    io.failNext('writeAll', 'ENOSPC', 1);
    await expect(first.append(batchOf(3, 3))).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    await expect(second.append(batchOf(3, 3))).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    for (const log of running.logs) expect(log.offline?.code).toBe('STORAGE_IO_ERROR');

    const recovered = start((io.inner as MemoryFileIO).crashed(), logDirs.slice(0, 2));
    for (const log of recovered.logs) expect(offsetsOf(log).slice(0, 3)).toEqual([0, 1, 2]);
    await stop(recovered);
    await stop(running);
  });

  it('is not used when journalBytesPerSecondMax is 0: every append fsyncs its own segment', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const running = start(io, logDirs.slice(0, 2), 1024 * 1024, { bytesPerSecondMax: 0 });
    const syncsBefore = io.calls.fdatasync;
    await Promise.all(running.logs.map((log) => log.append(batchOf(0, 1))));
    expect(io.calls.fdatasync - syncsBefore).toBe(2);
    expect(io.sizeOf(io.openReadOnly(`${JOURNAL_DIR}/${journalFileName(0)}`))).toBe(0);
    await stop(running);
  });

  it('takes every always log offline when its fdatasync fails, failing what waits and every later append', async () => {
    const io = new FaultyFileIO(new MemoryFileIO());
    const running = start(io, logDirs.slice(0, 2));
    io.failNext('fdatasync');
    const outcomes = await Promise.allSettled(running.logs.map((log) => log.append(batchOf(0, 1))));
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'STORAGE_IO_ERROR' });
    }
    for (const log of running.logs) {
      expect(log.offline?.code).toBe('STORAGE_IO_ERROR');
      await expect(log.append(batchOf(1, 1))).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    }
    await stop(running);
  });
});
