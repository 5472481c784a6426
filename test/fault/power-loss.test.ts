/**
 * Simulated power loss. A seeded workload runs against a log on MemoryFileIO: bursts of appends that
 * are not awaited one by one, awaits of some of them, segment rolls (small segments), retention,
 * clean closes and reopens. Between awaits the test takes `io.crashed()`: the disk as a power loss
 * at that instant would leave it (only fsynced bytes and fsynced directory entries, or, with
 * `tornWrites`, a random prefix of the writes since, the last one torn). A log reopened on it must
 *  - open (a crash is never corruption),
 *  - hold every append that was acknowledged before the crash, at its offsets, byte for byte:
 *    in `always` mode every append whose promise had resolved; in `interval` mode everything written
 *    before a `flush()` that had completed,
 *  - hold nothing else than a contiguous prefix of what was appended (some unacknowledged appends may
 *    survive whole; none partly, none garbled),
 *  - take new appends at its end, which survive a clean reopen.
 * Sometimes the recovered disk becomes the workload's disk, so crashes also hit recovered logs.
 * With a journal (as the broker runs `always` logs) the segments are not fsynced before the ack, so
 * a crash takes their tails and the reopened log must get them back from the journal; small journal
 * files make the journal retire (checkpoint) files often.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, type Random, seededRandom } from '../../src/base/index.js';
import type { DurabilityMode, LogConfig } from '../../src/config.js';
import { type AppendResult, Journal, MemoryFileIO, SegmentLog, readBatchHeader, splitBatches } from '../../src/storage/index.js';
import { BatchMaker, type ModelBatch, START_MS, check, faultConfig, modelBatch, withSeed } from '../helpers/fault-model.js';

const DIR = '/data/p/0';
const JOURNAL_DIR = '/data/journal';
const READ_BYTES = 256 * 1024;

interface Stats {
  crashes: number;
  tornCrashes: number;
  tornTailsCut: number;
  /** Crashes after which appends beyond the acknowledged end survived. */
  unacknowledgedSurvived: number;
  /** Crashes after which segments deleted by retention (not yet durably) came back. */
  retentionUndone: number;
  adoptions: number;
  rolls: number;
  retentionDeletes: number;
  acknowledgedBatches: number;
  flushes: number;
  /** Crashes after which the reopened log took batches from the journal. */
  journalReplays: number;
  /** Most journal files on a disk at a crash. */
  journalFilesMax: number;
}

function newStats(): Stats {
  return {
    crashes: 0,
    tornCrashes: 0,
    tornTailsCut: 0,
    unacknowledgedSurvived: 0,
    retentionUndone: 0,
    adoptions: 0,
    rolls: 0,
    retentionDeletes: 0,
    acknowledgedBatches: 0,
    flushes: 0,
    journalReplays: 0,
    journalFilesMax: 0,
  };
}

/** A log recovered from a crash image, still open, with the one batch appended after recovery. */
interface Recovered {
  io: MemoryFileIO;
  log: SegmentLog;
  startOffset: number;
  /** The log end right after recovery (before the new append). */
  endOffset: number;
  appended: ModelBatch;
}

/** One seeded workload: the log, its disk, and the model of what it must hold. */
class Run {
  readonly random: Random;
  readonly clock = new ManualClock(START_MS);
  readonly config: LogConfig;
  readonly maker: BatchMaker;
  io = new MemoryFileIO();
  log: SegmentLog;
  /** Every batch appended to this disk's log, by baseOffset (superseded entries replaced on adoption). */
  batches = new Map<number, ModelBatch>();
  /** Offsets below this were acknowledged as durable: they must survive any crash. */
  acknowledgedEnd = 0;
  /** Bumped when the workload moves to a recovered disk: callbacks of the old log are ignored. */
  generation = 0;
  pending: Promise<void>[] = [];
  appendedBytes = 0;

  /** The journal each open log was given (journaled runs). */
  private readonly journals = new WeakMap<SegmentLog, Journal>();
  readonly journalFileBytesMax: number | undefined;
  /** Appends larger than this skip the journal: the log mixes journal syncs and segment syncs. */
  readonly journalAppendBytesMax: number;
  /** Small values make background segment syncs run among everything else. */
  readonly journalSegmentSyncBytes: number;
  /** The low one sends most appends of a 100 ms window past the journal. */
  readonly journalBytesPerSecondMax: number;

  constructor(
    readonly seed: number,
    readonly mode: DurabilityMode,
    readonly stats: Stats,
    journaled = false,
  ) {
    this.random = seededRandom(seed);
    this.journalFileBytesMax = journaled ? [8, 24, 64][this.random.int(0, 3)]! * 1024 : undefined;
    this.journalAppendBytesMax = [600, 1500, 64 * 1024][this.random.int(0, 3)]!;
    this.journalSegmentSyncBytes = [2 * 1024, 16 * 1024, 1024 * 1024][this.random.int(0, 3)]!;
    this.journalBytesPerSecondMax = [64 * 1024, 1024 ** 3][this.random.int(0, 2)]!;
    const indexIntervalBytes = [64, 1024, 4096][this.random.int(0, 3)]!;
    const retentionBytes = this.random.next() < 0.6 ? 64 * 1024 : -1;
    this.config = faultConfig({ durability: mode, flushIntervalMs: 50, indexIntervalBytes, retentionBytes });
    this.maker = new BatchMaker(this.random, { valueBytesMax: 800 });
    this.log = this.open(this.io);
  }

  open(io: MemoryFileIO): SegmentLog {
    if (this.journalFileBytesMax === undefined) return SegmentLog.open({ dir: DIR, io, clock: this.clock, config: this.config });
    const journal = Journal.open({ dir: JOURNAL_DIR, io, fileBytesMax: this.journalFileBytesMax, appendBytesMax: this.journalAppendBytesMax,
      segmentSyncBytes: this.journalSegmentSyncBytes,
      bytesPerSecondMax: this.journalBytesPerSecondMax,
      clock: this.clock,
    });
    const log = SegmentLog.open({ dir: DIR, io, clock: this.clock, config: this.config, journal });
    journal.finishRecovery(() => true);
    this.journals.set(log, journal);
    return log;
  }

  /** Closes `log` and its journal, as the broker does. */
  async close(log: SegmentLog): Promise<void> {
    await log.close();
    await this.journals.get(log)?.close();
  }

  get context(): string {
    const journal =
      this.journalFileBytesMax === undefined ? '' : `, journal files of ${this.journalFileBytesMax} bytes, appends of up to ${this.journalAppendBytesMax} bytes, ${this.journalBytesPerSecondMax} bytes/s, segment syncs every ${this.journalSegmentSyncBytes} bytes`;
    return `seed ${this.seed} (${this.mode}, indexIntervalBytes ${this.config.indexIntervalBytes}, retentionBytes ${this.config.retentionBytes}${journal})`;
  }

  /** Fires `count` appends of 1-3 batches each without awaiting them. */
  fireAppends(count: number): void {
    for (let i = 0; i < count; i++) {
      const made = Array.from({ length: this.random.int(1, 4) }, () => this.maker.next());
      const segmentCount = this.log.segmentCount;
      const expectedBase = this.log.logEndOffset;
      const promise = this.log.append(made.map((m) => m.batch));
      // The log stamped the offsets and wrote the bytes before append returned.
      for (const m of made) {
        const batch = modelBatch(m.batch, m.timestampsMs);
        this.batches.set(batch.baseOffset, batch);
        this.appendedBytes += m.batch.length;
      }
      if (this.log.segmentCount > segmentCount) this.stats.rolls++;
      const generation = this.generation;
      this.pending.push(
        promise.then((result: AppendResult) => {
          check(result.baseOffset === expectedBase, () => `${this.context}: append got offset ${result.baseOffset}, expected ${expectedBase}`);
          if (generation !== this.generation || this.mode !== 'always') return;
          check(result.durability === 'fsynced', () => `${this.context}: always-mode append resolved ${result.durability}`);
          this.acknowledgedEnd = Math.max(this.acknowledgedEnd, result.logEndOffset);
          this.stats.acknowledgedBatches += made.length;
        }),
      );
    }
  }

  async awaitOne(): Promise<void> {
    if (this.pending.length === 0) return;
    const [promise] = this.pending.splice(this.random.int(0, this.pending.length), 1);
    await promise;
  }

  async awaitAll(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }

  async flush(): Promise<void> {
    const end = this.log.logEndOffset;
    const generation = this.generation;
    await this.log.flush();
    if (generation !== this.generation) return;
    this.acknowledgedEnd = Math.max(this.acknowledgedEnd, end);
    this.stats.flushes++;
  }

  enforceRetention(): void {
    this.stats.retentionDeletes += this.log.enforceRetention().deletedSegmentCount;
  }

  async closeAndReopen(): Promise<void> {
    const end = this.log.logEndOffset;
    const start = this.log.logStartOffset;
    await this.close(this.log);
    await this.awaitAll();
    this.log = this.open(this.io);
    check(this.log.recovery.tornTail === undefined, () => `${this.context}: a clean close left a torn tail`);
    check(this.log.logEndOffset === end && this.log.logStartOffset === start, () => `${this.context}: a clean reopen changed the offset range`);
    this.acknowledgedEnd = end; // the close fsynced everything
  }

  /**
   * Takes the crash image now (synchronously, between awaits) and checks a log recovered from it.
   * Returns that log and its disk, still open, for the caller to close or adopt.
   */
  async crashAndCheck(): Promise<Recovered> {
    const torn = this.random.next() < 0.75;
    const crashSeed = this.random.int(0, 0x7fff_ffff);
    const disk = this.io.crashed(torn ? { tornWrites: seededRandom(crashSeed) } : {});
    const acknowledgedEnd = this.acknowledgedEnd;
    const startBefore = this.log.logStartOffset;
    const endBefore = this.log.logEndOffset;
    const context = `${this.context}, crash #${this.stats.crashes} (${torn ? `torn writes, crash seed ${crashSeed}` : 'no torn writes'}; acknowledged end ${acknowledgedEnd}, log end ${endBefore})`;
    this.stats.crashes++;
    if (torn) this.stats.tornCrashes++;
    if (this.journalFileBytesMax !== undefined) this.stats.journalFilesMax = Math.max(this.stats.journalFilesMax, disk.readdir(JOURNAL_DIR).length);

    let log: SegmentLog;
    try {
      log = this.open(disk);
    } catch (error) {
      throw new Error(`${context}: the log did not open after a crash: ${String(error)}`, { cause: error });
    }
    if (log.recovery.tornTail !== undefined) this.stats.tornTailsCut++;
    if (log.recovery.replayedBatchCount > 0) this.stats.journalReplays++;
    const startOffset = log.logStartOffset;
    const endOffset = log.logEndOffset;
    check(endOffset >= acknowledgedEnd, () => `${context}: acknowledged offsets lost: the log ends at ${endOffset}`);
    check(endOffset <= endBefore, () => `${context}: the log ends at ${endOffset}, past anything appended`);
    check(startOffset <= startBefore, () => `${context}: the log starts at ${startOffset}, after ${startBefore}`);
    check(log.highWatermark === endOffset, () => `${context}: high watermark ${log.highWatermark} after recovery, log end ${endOffset}`);
    if (endOffset > acknowledgedEnd) this.stats.unacknowledgedSurvived++;
    if (startOffset < startBefore) this.stats.retentionUndone++;
    check(startOffset === endOffset || this.batches.has(startOffset), () => `${context}: the log starts at ${startOffset}, not a batch boundary`);

    // A contiguous run of the appended batches, byte for byte.
    let offset: number = startOffset;
    while (offset < endOffset) {
      const result = log.read({ fromOffset: offset, maxBytes: READ_BYTES });
      const parts = splitBatches(result.bytes);
      check(parts.length > 0, () => `${context}: read at ${offset} returned nothing`);
      for (const part of parts) {
        const want = this.batches.get(offset);
        check(want !== undefined && part.equals(want.bytes), () => `${context}: the batch at offset ${offset} differs from the one appended`);
        offset = want.lastOffset + 1;
      }
      check(result.nextOffset === offset, () => `${context}: read said nextOffset ${result.nextOffset}, expected ${offset}`);
    }

    // Appends continue at the recovered end.
    const made = this.maker.next();
    const result = await log.append(made.batch);
    check(result.baseOffset === endOffset, () => `${context}: append after recovery got offset ${result.baseOffset}, expected ${endOffset}`);
    check(result.durability === (this.mode === 'always' ? 'fsynced' : 'written'), () => `${context}: append after recovery was ${result.durability}`);
    const appended = splitBatches(log.read({ fromOffset: endOffset, maxBytes: READ_BYTES }).bytes);
    check(appended.length === 1 && appended[0]!.equals(made.batch), () => `${context}: the append after recovery reads back differently`);
    const after = result.logEndOffset;
    check(after === endOffset + readBatchHeader(made.batch, 0).recordCount, () => `${context}: log end ${after} after one append`);
    return { io: disk, log, startOffset, endOffset, appended: modelBatch(made.batch, made.timestampsMs) };
  }

  /** Continues the workload on a recovered disk: the model becomes what survived plus the new append. */
  adopt(recovered: Recovered): void {
    this.generation++;
    this.pending = [];
    const batches = new Map<number, ModelBatch>();
    for (const [base, batch] of this.batches) if (base < recovered.endOffset) batches.set(base, batch);
    batches.set(recovered.appended.baseOffset, recovered.appended);
    this.batches = batches;
    this.io = recovered.io;
    this.log = recovered.log;
    this.acknowledgedEnd = this.mode === 'always' ? recovered.log.logEndOffset : recovered.endOffset;
    this.stats.adoptions++;
  }
}

/** Runs one seed's workload, checking a crash image at random points. */
async function powerLossRound(
  seed: number,
  mode: DurabilityMode,
  stats: Stats,
  options: { crashChance: number; bytesMax: number; journaled?: boolean },
): Promise<void> {
  const run = new Run(seed, mode, stats, options.journaled);
  const { random } = run;
  for (let step = 0; run.appendedBytes < options.bytesMax && step < 2000; step++) {
    const roll = random.next();
    if (roll < 0.4) run.fireAppends(random.int(1, 7));
    else if (roll < 0.6) await run.awaitOne();
    else if (roll < 0.7) await run.awaitAll();
    else if (roll < 0.8) await new Promise((resolve) => setImmediate(resolve));
    else if (roll < 0.86) run.enforceRetention();
    else if (roll < 0.89) await run.closeAndReopen();
    else if (mode === 'interval' && roll < 0.95) await run.flush();
    else if (mode === 'interval' || (run.journalFileBytesMax !== undefined && roll < 0.93)) run.clock.advance(random.int(1, 120));
    else run.fireAppends(1);

    if (random.next() < options.crashChance) {
      const recovered = await run.crashAndCheck();
      const next = random.next();
      if (next < 0.08) {
        run.adopt(recovered);
      } else if (next < 0.25) {
        // The recovered log (with its new append) also survives a clean close and reopen.
        const end = recovered.log.logEndOffset;
        await run.close(recovered.log);
        const reopened = run.open(recovered.io);
        check(reopened.logEndOffset === end, () => `${run.context}: a recovered log lost its append over a clean reopen`);
        check(reopened.logStartOffset === recovered.startOffset, () => `${run.context}: a recovered log changed its start over a clean reopen`);
        await run.close(reopened);
      } else {
        await run.close(recovered.log);
      }
    }
  }
  await run.awaitAll();
  await run.close(run.log);
}

describe('simulated power loss', () => {
  it('regression: in MemoryFileIO, an fdatasync overtaken by a blocking one does not take back what that one made durable', async () => {
    // A roll fsyncs the active segment synchronously while an append's fdatasync may be in flight;
    // the late completion of the older sync once reset the crash image to its older snapshot.
    const io = new MemoryFileIO();
    io.mkdirp('/d');
    const fd = io.openReadWrite('/d/f');
    io.fsyncDir('/d');
    const [a, b, c] = [Buffer.from('first '), Buffer.from('second '), Buffer.from('third')];
    io.writeAll(fd, [a], 0);
    const slow = io.fdatasync(fd);
    io.writeAll(fd, [b], a.length);
    io.fdatasyncSync(fd);
    await slow;
    expect(io.crashed().contentOf('/d/f').toString()).toBe('first second ');
    io.writeAll(fd, [c], a.length + b.length);
    for (let seed = 0; seed < 20; seed++) {
      const content = io.crashed({ tornWrites: seededRandom(seed) }).contentOf('/d/f').toString();
      expect('first second third'.startsWith(content) && content.startsWith('first second '), content).toBe(true);
    }
  });

  it('in always mode, every append that resolved before the crash survives, byte for byte, and appends continue', async () => {
    const stats = newStats();
    for (let seed = 70_000; seed < 70_060; seed++) {
      await withSeed(seed, 'always mode', () => powerLossRound(seed, 'always', stats, { crashChance: 0.5, bytesMax: 220 * 1024 }));
    }
    // The workload reached the cases that matter.
    expect(stats.crashes).toBeGreaterThan(2000);
    expect(stats.tornTailsCut).toBeGreaterThan(100);
    expect(stats.unacknowledgedSurvived).toBeGreaterThan(100);
    expect(stats.acknowledgedBatches).toBeGreaterThan(5000);
    expect(stats.rolls).toBeGreaterThan(40);
    expect(stats.retentionDeletes).toBeGreaterThan(10);
    expect(stats.retentionUndone).toBeGreaterThan(0);
    expect(stats.adoptions).toBeGreaterThan(50);
  });

  it('in always mode with a journal, every append that resolved survives though the segments were not fsynced', async () => {
    const stats = newStats();
    for (let seed = 75_000; seed < 75_060; seed++) {
      await withSeed(seed, 'always mode with a journal', () => powerLossRound(seed, 'always', stats, { crashChance: 0.5, bytesMax: 220 * 1024, journaled: true }));
    }
    expect(stats.crashes).toBeGreaterThan(2000);
    expect(stats.acknowledgedBatches).toBeGreaterThan(5000);
    // The segments lost acknowledged tails and the journal gave them back.
    expect(stats.journalReplays).toBeGreaterThan(200);
    expect(stats.tornTailsCut).toBeGreaterThan(100);
    expect(stats.unacknowledgedSurvived).toBeGreaterThan(100);
    expect(stats.rolls).toBeGreaterThan(40);
    expect(stats.retentionDeletes).toBeGreaterThan(10);
    expect(stats.adoptions).toBeGreaterThan(50);
    // Retired journal files were deleted after their checkpoint: a few files at most (bursts of appends outrun a retirement), never a pile.
    expect(stats.journalFilesMax).toBeGreaterThan(1);
    expect(stats.journalFilesMax).toBeLessThan(10);
  });

  it('in interval mode, everything written before a completed flush() survives, and appends continue', async () => {
    const stats = newStats();
    for (let seed = 80_000; seed < 80_030; seed++) {
      await withSeed(seed, 'interval mode', () => powerLossRound(seed, 'interval', stats, { crashChance: 0.5, bytesMax: 160 * 1024 }));
    }
    expect(stats.crashes).toBeGreaterThan(500);
    expect(stats.flushes).toBeGreaterThan(40);
    expect(stats.tornTailsCut).toBeGreaterThan(50);
    expect(stats.rolls).toBeGreaterThan(20);
  });
});
