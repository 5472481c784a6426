/**
 * The log of one partition: an ordered list of segments in one directory, the last one active.
 *
 * Writes. `append` stamps offsets and writes its batches to the active segment with one write call
 * before it returns its promise, so offsets follow call order and no lock is needed. The promise
 * resolves when the append is acknowledgeable under the log's durability mode, and says which:
 * - `always` (default): after an fdatasync covering it. Appends that arrive while a sync is in
 *   flight wait for the next one, which covers them all (group commit). With a journal (the broker
 *   always gives one) an append the journal admits (small, within its byte rate) is also written
 *   there, and when every append waiting is, the sync is the journal's, shared by every partition;
 *   the segment is then fsynced in the background every `journal.segmentSyncBytes` and when the
 *   journal checkpoints it (see Journal). Otherwise the sync is the segment's.
 * - `interval`: once written to the OS (a process crash keeps it; a power loss may not); a timer
 *   fsyncs every `flushIntervalMs`.
 * - `never`: once written to the OS; fsynced only at roll, close and `flush()`.
 *
 * Reads see offsets below the high watermark: in `always` mode only fsynced data (a reader never
 * sees a record that a power loss could take back), otherwise everything written.
 *
 * Failures. An I/O error (write, read, fsync) or corruption found under acknowledged data takes the
 * log offline: every later call fails with that same error. A failed fsync is never retried, since
 * Linux may already have dropped the dirty pages it failed to write.
 *
 * Interleaving: everything is synchronous except the completion of an fsync, which only advances the
 * durable end and resolves waiting appends; the next sync then starts one event-loop turn later, so
 * the appends those acknowledgments trigger share it.
 */
import path from 'node:path';
import { type Clock, type Logger, type Offset, type Timer, asOffset, assert, silentLogger, systemClock } from '../base/index.js';
import type { LogConfig } from '../config.js';
import { BrokerError, isBrokerError } from '../errors.js';
import { type FileIO, nodeFileIO } from './file-io.js';
import { BATCH_HEADER_BYTES, BATCH_MAGIC, type BatchHeader, batchNextOffset, decodeRecords, readBatchHeader, setBaseOffset } from '../base/index.js';
import type { Journal, JournalWriter, ReplayedFrame } from './journal.js';
import { Segment, parseSegmentFileName, type SegmentLimits } from './segment.js';

export interface SegmentLogOptions {
  dir: string;
  config: LogConfig;
  io?: FileIO;
  clock?: Clock;
  logger?: Logger;
  /** Replayed at open; `always` logs write to it and sync it instead of their segments. */
  journal?: Journal;
}

export interface AppendResult {
  baseOffset: Offset;
  lastOffset: Offset;
  logEndOffset: Offset;
  /** `fsynced`: on disk. `written`: in the OS page cache; survives a process crash, not a power loss. */
  durability: 'fsynced' | 'written';
}

export interface ReadRequest {
  fromOffset: number;
  /** Byte budget; at least one whole batch is returned even if it is larger. */
  maxBytes: number;
}

export interface ReadResult {
  /** Whole record batches back to back; empty at the high watermark. */
  bytes: Buffer;
  /** Where the next read should start. */
  nextOffset: Offset;
  logStartOffset: Offset;
  highWatermark: Offset;
}

export interface RetentionOptions {
  /**
   * Size-based retention deletes only segments entirely below this offset (records every consumer
   * group has consumed); age-based retention ignores it.
   */
  sizeDeletableBelowOffset?: number;
}

export interface RetentionResult {
  deletedSegmentCount: number;
  deletedBytes: number;
  logStartOffset: Offset;
}

export interface RecoveryReport {
  segmentCount: number;
  /** Set when a torn tail was cut from the active segment. */
  tornTail?: { file: string; position: number; bytesCut: number; problem: string };
  /** Batches the journal had that the segments had lost (a power loss), appended again. */
  replayedBatchCount: number;
}

interface Waiter {
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

export class SegmentLog {
  private readonly io: FileIO;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly limits: SegmentLimits;
  private segments: Segment[];
  private activeSinceMs: number;
  private durableEndOffset: number;
  /** Always-mode appends waiting for a covering fsync, in offset order. */
  private waiters: Waiter[] = [];
  private syncing: Promise<void> | undefined;
  /** A finished sync scheduled the next one for the next turn (see startSync). */
  private syncDeferred = false;
  /** Bumped by truncation, so a sync that started before it cannot mark re-written offsets durable. */
  private truncations = 0;
  private flushTimer: Timer | undefined;
  private offlineError: BrokerError | undefined;
  private closed = false;
  /** Sealed segments holding an open file or a loaded index, most recently used last. */
  private recentlyUsed: Segment[] = [];
  private readonly journal: Journal | undefined;
  /** Set when appends go through the journal (`always` mode with a journal). */
  private readonly journalWriter: JournalWriter | undefined;
  /** Background and checkpoint fsyncs of the active segment, chained one after another. */
  private checkpointing: Promise<void> | undefined;
  /** Bytes appended through the journal since the segment's last background or checkpoint sync. */
  private journaledSinceSegmentSync = 0;
  /** The log end after the last append that skipped the journal: a sync covering it must be the segment's. */
  private unjournaledEnd = 0;

  readonly recovery: RecoveryReport;

  private constructor(
    readonly dir: string,
    readonly config: LogConfig,
    options: SegmentLogOptions,
  ) {
    this.io = options.io ?? nodeFileIO;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.limits = { indexIntervalBytes: config.indexIntervalBytes, batchBytesMax: config.batchBytesMax };
    const { segments, recovery } = this.recover();
    this.segments = segments;
    this.recovery = recovery;
    this.activeSinceMs = this.clock.nowMs();
    this.durableEndOffset = 0;
    this.journal = options.journal;
    // Whatever the mode now: the frames may come from a run in `always` mode.
    this.journal?.replay(dir, (frame) => this.replayFrame(frame));
    // What recovery kept may sit only in the page cache (after a process crash): make it durable.
    this.active.syncNow();
    this.durableEndOffset = this.logEndOffset;
    if (this.journal !== undefined && config.durability === 'always') {
      this.journalWriter = { key: this.journal.keyOf(dir), syncData: () => this.checkpoint() };
    }
    this.scheduleIntervalFlush();
  }

  /** Opens (creating, or recovering after a crash) the log in `dir`. Throws LOG_CORRUPT on corruption. */
  static open(options: SegmentLogOptions): SegmentLog {
    try {
      return new SegmentLog(options.dir, options.config, options);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException | undefined)?.code;
      if (isBrokerError(error) || typeof errno !== 'string') throw error;
      throw new BrokerError('STORAGE_IO_ERROR', `opening ${options.dir} failed: ${(error as Error).message}; the partition is offline`, { dir: options.dir, action: 'open', errno }, { cause: error });
    }
  }

  get logStartOffset(): Offset {
    return asOffset(this.segments[0]!.baseOffset);
  }

  get logEndOffset(): Offset {
    return asOffset(this.active.nextOffset);
  }

  /** Readers see offsets below this. */
  get highWatermark(): Offset {
    return asOffset(this.config.durability === 'always' ? this.durableEndOffset : this.logEndOffset);
  }

  get sizeBytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.sizeBytes, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** The error that took the log offline, if any. */
  get offline(): BrokerError | undefined {
    return this.offlineError;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  // ---- recovery ----

  private recover(): { segments: Segment[]; recovery: RecoveryReport } {
    const { io, dir, limits } = this;
    if (!io.exists(dir)) {
      io.mkdirp(dir);
      io.fsyncDir(path.dirname(dir));
    }
    const bases = new Set<number>();
    const indexFiles: { name: string; baseOffset: number }[] = [];
    for (const name of io.readdir(dir)) {
      if (name.endsWith('.tmp')) {
        io.unlink(path.join(dir, name)); // a durable write that did not finish its rename
        continue;
      }
      const parsed = parseSegmentFileName(name);
      if (parsed === undefined) continue;
      if (parsed.suffix === '.log') bases.add(parsed.baseOffset);
      else indexFiles.push({ name, baseOffset: parsed.baseOffset });
    }
    for (const orphan of indexFiles.filter((f) => !bases.has(f.baseOffset))) io.unlink(path.join(dir, orphan.name));

    const sorted = [...bases].sort((a, b) => a - b);
    if (sorted.length === 0) {
      const segment = Segment.create(io, dir, 0, limits);
      io.fsyncDir(dir);
      return { segments: [segment], recovery: { segmentCount: 1, replayedBatchCount: 0 } };
    }
    const segments = sorted.slice(0, -1).map((base) => Segment.openClosed(io, dir, base, limits));
    const { segment: active, problem } = Segment.openActive(io, dir, sorted[sorted.length - 1]!, limits);
    segments.push(active);
    for (let i = 1; i < segments.length; i++) {
      const previous = segments[i - 1]!;
      const current = segments[i]!;
      if (previous.nextOffset !== current.baseOffset) {
        throw new BrokerError(
          'LOG_CORRUPT',
          `segments of ${dir} are not contiguous: ${previous.logPath} ends at offset ${previous.nextOffset} but ${current.logPath} starts at ${current.baseOffset}`,
          { dir, file: current.logPath, expectedOffset: previous.nextOffset, baseOffset: current.baseOffset },
        );
      }
    }
    const recovery: RecoveryReport = { segmentCount: segments.length, replayedBatchCount: 0 };
    if (problem !== undefined) {
      // A bad batch in the active segment is a torn tail only if nothing valid follows it.
      const following = problem.problem === 'bad-offset' ? problem : active.findValidBatchAfter(problem.position, problem.expectedOffset);
      if (following !== undefined) throw active.corruption(problem);
      const bytesCut = active.fileBytes() - problem.position;
      active.cutTornTail();
      recovery.tornTail = { file: active.logPath, position: problem.position, bytesCut, problem: problem.problem };
      this.logger.warn({ offset: problem.expectedOffset, ...recovery.tornTail }, 'cut a torn tail from the active segment');
    }
    return { segments, recovery };
  }

  /**
   * Applies one journal frame: appends the batches the segments lost, redoes a truncation. A batch
   * past the log end was never acknowledged: an append is acknowledged only once everything before
   * it is durable, and what came before it here skipped the journal and was lost with the segment.
   */
  private replayFrame(frame: ReplayedFrame): void {
    if (frame.kind === 'truncate') {
      if (frame.offset < this.logEndOffset) this.truncateFiles(frame.offset);
      return;
    }
    for (const batch of frame.batches) {
      const header = readBatchHeader(batch, 0);
      if (batchNextOffset(header) <= this.logEndOffset) continue;
      if (header.baseOffset !== this.logEndOffset) {
        this.logger.warn({ dir: this.dir, offset: header.baseOffset, logEndOffset: this.logEndOffset }, 'not replaying a journal batch that does not start at the log end');
        continue;
      }
      this.maybeRoll(header.batchBytes);
      this.active.append([batch], [header]);
      this.recovery.replayedBatchCount++;
    }
  }

  // ---- append ----

  /**
   * Appends encoded batches (from `encodeBatch`): stamps their offsets and writes them in one call
   * before returning. The promise resolves when the append is acknowledgeable (see the class comment).
   */
  async append(batches: Buffer | readonly Buffer[]): Promise<AppendResult> {
    const list: readonly Buffer[] = Buffer.isBuffer(batches) ? [batches] : batches;
    this.checkUsable();
    const headers = list.map((batch) => this.validateBatch(batch));
    assert(headers.length > 0, 'append needs at least one batch');
    const totalBytes = headers.reduce((sum, header) => sum + header.batchBytes, 0);
    this.maybeRoll(totalBytes);

    const baseOffset = this.logEndOffset;
    let nextOffset: number = baseOffset;
    headers.forEach((header, i) => {
      setBaseOffset(list[i]!, nextOffset);
      header.baseOffset = asOffset(nextOffset);
      nextOffset = batchNextOffset(header);
    });
    try {
      this.active.append(list, headers);
      if (this.journalWriter !== undefined && this.journal!.admits(totalBytes)) {
        this.journal!.write(this.journalWriter, list);
        this.journaledSinceSegmentSync += totalBytes;
        if (this.journaledSinceSegmentSync >= this.journal!.segmentSyncBytes && this.checkpointing === undefined) {
          this.checkpoint().catch(() => undefined); // a failure takes the log offline
        }
      } else {
        this.unjournaledEnd = nextOffset;
      }
    } catch (error) {
      throw this.goOffline(error, 'write');
    }
    const result: AppendResult = {
      baseOffset,
      lastOffset: asOffset(nextOffset - 1),
      logEndOffset: asOffset(nextOffset),
      durability: this.config.durability === 'always' ? 'fsynced' : 'written',
    };
    if (this.config.durability !== 'always') return result;
    const durable = new Promise<AppendResult>((resolve, reject) => this.waiters.push({ result, resolve, reject }));
    if (!this.syncDeferred) void this.startSync();
    return durable;
  }

  private validateBatch(batch: Buffer): BatchHeader {
    if (batch.length < BATCH_HEADER_BYTES) {
      throw new BrokerError('INVALID_ARGUMENT', `a batch needs at least ${BATCH_HEADER_BYTES} bytes, got ${batch.length}`);
    }
    if (batch.length > this.config.batchBytesMax) {
      throw new BrokerError('BATCH_TOO_LARGE', `batch of ${batch.length} bytes exceeds batchBytesMax ${this.config.batchBytesMax}`, {
        batchBytes: batch.length,
        batchBytesMax: this.config.batchBytesMax,
      });
    }
    const header = readBatchHeader(batch, 0);
    assert(header.magic === BATCH_MAGIC, 'append of a batch with an unknown magic byte');
    assert(header.batchBytes === batch.length, 'batch length field disagrees with the buffer');
    return header;
  }

  private maybeRoll(incomingBytes: number): void {
    const active = this.active;
    if (active.isEmpty) return;
    const full = active.sizeBytes + incomingBytes > this.config.segmentBytesMax;
    const old = this.clock.nowMs() - this.activeSinceMs >= this.config.segmentAgeMsMax;
    if (full || old) this.roll();
  }

  /** Seals the active segment (fsync, index files) and starts a new one at the log end. */
  private roll(): void {
    const old = this.active;
    try {
      old.syncNow();
      this.journaledSinceSegmentSync = 0;
      old.seal();
      const next = Segment.create(this.io, this.dir, old.nextOffset, this.limits);
      this.io.fsyncDir(this.dir);
      this.segments.push(next);
    } catch (error) {
      throw this.goOffline(error, 'roll');
    }
    this.activeSinceMs = this.clock.nowMs();
    this.markDurable(old.nextOffset, this.truncations);
    this.touch(old);
  }

  // ---- durability ----

  /** Starts an fsync of the active segment unless one is in flight; it reschedules itself while needed. */
  private startSync(): Promise<void> | undefined {
    if (this.syncing !== undefined || this.offlineError !== undefined) return this.syncing;
    if (this.durableEndOffset >= this.logEndOffset) return undefined;
    const endOffset = this.logEndOffset;
    const truncations = this.truncations;
    // No sync is in flight: everything past the durable end waits for this one.
    const sync = this.journalWriter !== undefined && this.unjournaledEnd <= this.durableEndOffset ? this.journal!.sync() : this.active.sync();
    this.syncing = sync.then(
      () => {
        this.syncing = undefined;
        this.markDurable(endOffset, truncations);
        // Start the next sync one turn later: the appenders just acknowledged append again in their
        // continuations (microtasks, before setImmediate), and so ride this next sync instead of
        // waiting for the one after it. Without the pause, lockstep appenders split into two
        // alternating groups and each sync covers about half of them.
        this.syncDeferred = true;
        setImmediate(() => {
          this.syncDeferred = false;
          if (this.waiters.length > 0 && !this.closed) void this.startSync();
        });
      },
      (error: unknown) => {
        this.syncing = undefined;
        this.goOffline(error, 'fdatasync');
      },
    );
    return this.syncing;
  }

  /**
   * Makes what the segment holds durable, off the acknowledgment path: in the background as
   * journaled appends accumulate, and when the journal retires a file this log wrote to. Each sync
   * starts after the one before it ends, so the last one covers everything written before the call.
   */
  private checkpoint(): Promise<void> {
    const next = (this.checkpointing ?? Promise.resolve()).catch(() => undefined).then(() => this.syncSegment());
    this.checkpointing = next;
    next.then(
      () => this.checkpointDone(next),
      () => this.checkpointDone(next),
    );
    return next;
  }

  private checkpointDone(checkpoint: Promise<void>): void {
    if (this.checkpointing === checkpoint) this.checkpointing = undefined;
  }

  private async syncSegment(): Promise<void> {
    if (this.offlineError !== undefined) throw this.offlineError;
    if (this.closed) return; // close() fsynced it
    this.journaledSinceSegmentSync = 0;
    // Sealed segments were fsynced when they rolled.
    try {
      await this.active.sync();
    } catch (error) {
      throw this.goOffline(error, 'fdatasync');
    }
  }

  private markDurable(endOffset: number, truncations: number): void {
    if (truncations !== this.truncations) return;
    this.durableEndOffset = Math.max(this.durableEndOffset, Math.min(endOffset, this.logEndOffset));
    let done = 0;
    while (done < this.waiters.length && this.waiters[done]!.result.logEndOffset <= this.durableEndOffset) done++;
    for (const waiter of this.waiters.splice(0, done)) waiter.resolve(waiter.result);
  }

  private scheduleIntervalFlush(): void {
    if (this.config.durability !== 'interval') return;
    this.flushTimer = this.clock.setTimer(this.config.flushIntervalMs, () => {
      void this.startSync();
      this.scheduleIntervalFlush();
    });
  }

  /** Fsyncs everything written so far, whatever the durability mode. */
  async flush(): Promise<void> {
    this.checkUsable();
    while (this.syncing !== undefined) await this.syncing;
    if (this.durableEndOffset >= this.logEndOffset) return;
    await this.startSync();
    if (this.offlineError !== undefined) throw this.offlineError;
  }

  // ---- reads ----

  read(request: ReadRequest): ReadResult {
    this.checkUsable();
    const { fromOffset, maxBytes } = request;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new BrokerError('INVALID_ARGUMENT', `maxBytes must be a positive integer, got ${maxBytes}`, { maxBytes });
    }
    this.checkOffset(fromOffset);
    const highWatermark = this.highWatermark;
    const empty = { logStartOffset: this.logStartOffset, highWatermark };
    if (fromOffset === highWatermark) return { bytes: Buffer.alloc(0), nextOffset: highWatermark, ...empty };
    const segment = this.segmentFor(fromOffset);
    try {
      const { bytes, nextOffset } = segment.read(fromOffset, maxBytes, highWatermark);
      return { bytes, nextOffset: asOffset(nextOffset), ...empty };
    } catch (error) {
      throw this.goOffline(error, 'read');
    } finally {
      this.touch(segment);
    }
  }

  private checkOffset(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset || offset > this.highWatermark) {
      throw new BrokerError(
        'OFFSET_OUT_OF_RANGE',
        // No path in the message: it reaches clients.
        `offset ${offset} is outside the readable range [${this.logStartOffset}, ${this.highWatermark}]`,
        { offset, logStartOffset: this.logStartOffset, highWatermark: this.highWatermark, logEndOffset: this.logEndOffset },
      );
    }
  }

  /** The segment holding `offset`, which must be in [logStartOffset, logEndOffset). */
  private segmentFor(offset: number): Segment {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) low = mid;
      else high = mid - 1;
    }
    const segment = this.segments[low]!;
    assert(offset >= segment.baseOffset && offset < segment.nextOffset, () => `no segment holds offset ${offset}`);
    return segment;
  }

  /**
   * The first offset whose record timestamp is >= `timestampMs`, or undefined when no readable record
   * is that new. Timestamps need not be monotonic; the answer is the first in offset order.
   */
  offsetForTimestamp(timestampMs: number): Offset | undefined {
    this.checkUsable();
    const highWatermark = this.highWatermark;
    for (const segment of this.segments) {
      if (segment.maxTimestampMs < timestampMs || segment.isEmpty) continue;
      try {
        const found = this.scanSegmentForTimestamp(segment, timestampMs, highWatermark);
        if (found !== undefined) return found;
      } catch (error) {
        throw this.goOffline(error, 'read');
      } finally {
        this.touch(segment);
      }
    }
    return undefined;
  }

  private scanSegmentForTimestamp(segment: Segment, timestampMs: number, highWatermark: number): Offset | undefined {
    let { position, offset: expectedOffset } = segment.locate(segment.timeScanStart(timestampMs));
    while (position < segment.sizeBytes) {
      const { header, bytes } = segment.batchAt(position, expectedOffset);
      if (header.baseOffset >= highWatermark) return undefined;
      if (header.maxTimestampMs >= timestampMs) {
        const record = decodeRecords(bytes).find((r) => r.timestampMs >= timestampMs);
        assert(record !== undefined, 'a batch with maxTimestamp >= target holds such a record');
        return record.offset;
      }
      position += header.batchBytes;
      expectedOffset = batchNextOffset(header);
    }
    return undefined;
  }

  // ---- retention and truncation ----

  /**
   * Deletes whole segments past the retention limits: by age (newest record older than retentionMs)
   * and by size (oldest first while the rest still holds retentionBytes, and only below
   * `sizeDeletableBelowOffset` when given). The active segment is
   * rolled first when all of it has expired, so an idle log empties out too.
   */
  enforceRetention(options: RetentionOptions = {}): RetentionResult {
    this.checkUsable();
    const sizeDeletableBelow = options.sizeDeletableBelowOffset ?? Number.MAX_SAFE_INTEGER;
    const { retentionMs, retentionBytes } = this.config;
    const expiredBeforeMs = this.clock.nowMs() - retentionMs;
    const isExpired = (segment: Segment): boolean => retentionMs !== -1 && !segment.isEmpty && segment.maxTimestampMs < expiredBeforeMs;
    let deletedSegmentCount = 0;
    let deletedBytes = 0;
    let totalBytes = this.sizeBytes;
    for (;;) {
      if (this.segments.length === 1 && isExpired(this.active)) this.roll();
      const oldest = this.segments[0]!;
      if (oldest === this.active || oldest.syncsInFlight > 0) break;
      const overSize =
        retentionBytes !== -1 && totalBytes - oldest.sizeBytes >= retentionBytes && oldest.nextOffset <= sizeDeletableBelow;
      if (!overSize && !isExpired(oldest)) break;
      this.deleteSegment(oldest);
      this.segments.shift();
      deletedSegmentCount++;
      deletedBytes += oldest.sizeBytes;
      totalBytes -= oldest.sizeBytes;
    }
    if (deletedSegmentCount > 0) {
      this.logger.info({ dir: this.dir, deletedSegmentCount, deletedBytes, logStartOffset: this.logStartOffset }, 'retention deleted segments');
    }
    return { deletedSegmentCount, deletedBytes, logStartOffset: this.logStartOffset };
  }

  private deleteSegment(segment: Segment): void {
    this.recentlyUsed = this.recentlyUsed.filter((s) => s !== segment);
    try {
      segment.deleteFiles();
    } catch (error) {
      throw this.goOffline(error, 'delete segment');
    }
  }

  /**
   * Drops everything from `offset` on. The cut falls at a batch boundary: if `offset` is inside a
   * batch, that whole batch goes and the new log end is its baseOffset. Below the log start, the log
   * is emptied and restarted at `offset`. The log must be quiet: no append awaiting durability.
   * Returns the new log end offset.
   */
  truncate(offset: number): Offset {
    this.checkUsable();
    assert(this.waiters.length === 0 && this.checkpointing === undefined, 'truncate while appends or segment syncs are in flight');
    assert(Number.isSafeInteger(offset) && offset >= 0, () => `truncate to a bad offset ${offset}`);
    if (offset >= this.logEndOffset) return this.logEndOffset;
    this.truncations++;
    try {
      this.truncateFiles(offset);
      // A replay of the journal's older frames must not bring the cut batches back. (Files a start
      // kept for a log that failed to open are older than this frame and outlive it: a truncated
      // log would replay their frames at its new end. Nothing truncates a log in service today.)
      if (this.journalWriter !== undefined) this.journal!.truncate(this.journalWriter, offset);
    } catch (error) {
      throw this.goOffline(error, 'truncate');
    }
    this.activeSinceMs = this.clock.nowMs();
    this.durableEndOffset = Math.min(this.durableEndOffset, this.logEndOffset);
    this.logger.warn({ dir: this.dir, offset, logEndOffset: this.logEndOffset }, 'truncated log');
    return this.logEndOffset;
  }

  private truncateFiles(offset: number): void {
    while (this.segments.length > 0 && this.active.baseOffset >= offset && !(this.segments.length === 1 && offset > this.active.baseOffset)) {
      const last = this.segments.pop()!;
      this.deleteSegment(last);
      if (this.segments.length === 0) {
        this.segments.push(Segment.create(this.io, this.dir, offset, this.limits));
        break;
      }
    }
    const active = this.active;
    if (offset > active.baseOffset && offset < active.nextOffset) active.truncateAt(active.locate(offset));
    this.recentlyUsed = this.recentlyUsed.filter((s) => s !== active);
    this.io.fsyncDir(this.dir);
  }

  // ---- lifecycle ----

  /** Fsyncs, writes the active segment's indexes (a clean close makes the next open fast), closes files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flushTimer?.cancel();
    while (this.syncing !== undefined) await this.syncing;
    while (this.checkpointing !== undefined) await this.checkpointing.catch(() => undefined);
    this.closed = true;
    if (this.offlineError === undefined) {
      try {
        this.active.syncNow();
        this.markDurable(this.logEndOffset, this.truncations);
        if (!this.active.isEmpty) this.active.seal();
      } catch (error) {
        this.goOffline(error, 'close');
      }
    }
    const closing = new BrokerError('LOG_CLOSED', `log ${this.dir} is closed`);
    for (const waiter of this.waiters.splice(0)) waiter.reject(closing);
    for (const segment of this.segments) {
      try {
        segment.closeFile();
      } catch {
        // Closing a descriptor after an I/O error may fail again; the log is already offline.
      }
    }
  }

  private checkUsable(): void {
    if (this.offlineError !== undefined) throw this.offlineError;
    if (this.closed) throw new BrokerError('LOG_CLOSED', `log ${this.dir} is closed`);
  }

  /**
   * Takes the log offline after `cause` (an I/O error, corruption, or a bug) and fails what waits.
   * Expected errors that say nothing about the files (a bad request) pass through unchanged.
   */
  private goOffline(cause: unknown, action: string): Error {
    if (this.offlineError !== undefined) return this.offlineError;
    // The journal's I/O errors (STORAGE_IO_ERROR) take the log offline too.
    if (isBrokerError(cause) && cause.code !== 'LOG_CORRUPT' && cause.code !== 'STORAGE_IO_ERROR') return cause;
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const error = isBrokerError(cause)
      ? cause
      : new BrokerError(
          typeof errno === 'string' ? 'STORAGE_IO_ERROR' : 'INTERNAL',
          `${action} failed in ${this.dir}: ${(cause as Error).message}; the partition is offline`,
          { dir: this.dir, action, errno },
          { cause },
        );
    this.offlineError = error;
    this.flushTimer?.cancel();
    this.logger.error({ dir: this.dir, action, code: error.code, err: cause }, 'partition log is offline');
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    // A bug (not an I/O error) is rethrown as itself so its stack is not lost.
    return typeof errno === 'string' || isBrokerError(cause) ? error : (cause as Error);
  }

  /** Marks a sealed segment used, closing files and dropping indexes of the least recently used. */
  private touch(segment: Segment): void {
    if (segment === this.active) return;
    this.recentlyUsed = this.recentlyUsed.filter((s) => s !== segment);
    this.recentlyUsed.push(segment);
    const { openSegmentFilesMax, indexCacheSegmentsMax } = this.config;
    const count = this.recentlyUsed.length;
    this.recentlyUsed.forEach((s, i) => {
      const age = count - 1 - i;
      if (age >= openSegmentFilesMax && s.hasOpenFile && s.syncsInFlight === 0) s.closeFile();
      if (age >= indexCacheSegmentsMax) s.dropIndexes();
    });
    this.recentlyUsed = this.recentlyUsed.filter((s) => s.hasOpenFile || s.hasIndexLoaded);
  }
}

