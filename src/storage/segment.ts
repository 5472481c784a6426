/**
 * One segment of a partition log: a file of consecutive record batches, `<baseOffset>.log`, with its
 * sparse offset and time indexes.
 *
 * Lifecycle: a segment is *active* (the last one; appends go here; its indexes live in memory and
 * are written out only when it is sealed) or *closed* (sealed by a roll: fsynced, its index files
 * written durably; read-only from then on). A closed segment keeps only a few numbers in memory; its
 * index and file descriptor are loaded on demand and may be dropped again by the log's caches.
 *
 * Everything here is synchronous: no other call interleaves with a segment operation.
 */
import path from 'node:path';
import { assert } from '../base/index.js';
import { BrokerError } from '../errors.js';
import type { FileIO, Fd } from './file-io.js';
import { readAt, readWholeFile, writeFileDurably } from './file-io.js';
import { OffsetIndex, decodeOffsetIndex } from './offset-index.js';
import { TimeIndex, decodeTimeIndex } from './time-index.js';
import { type BatchHeader, BATCH_HEADER_BYTES, batchNextOffset, checkBatch, readBatchHeader } from '../base/index.js';
import { findValidBatchAfter, scanBatches, type ScanProblem } from './scan.js';

const OFFSET_DIGITS = 20;

export function segmentFileName(baseOffset: number, suffix: '.log' | '.index' | '.timeindex'): string {
  return `${String(baseOffset).padStart(OFFSET_DIGITS, '0')}${suffix}`;
}

/** Parses `<20 digits>.log` (and the index suffixes) into a base offset. */
export function parseSegmentFileName(name: string): { baseOffset: number; suffix: string } | undefined {
  const match = /^(\d{20})(\.log|\.index|\.timeindex)$/.exec(name);
  if (match === null) return undefined;
  return { baseOffset: Number(match[1]), suffix: match[2]! };
}

/** Batch positions an active segment remembers for readers at the tail. */
const RECENT_BATCHES = 64;

export interface SegmentLimits {
  indexIntervalBytes: number;
  batchBytesMax: number;
}

export class Segment {
  /** Offset the next batch appended here gets; `baseOffset` while empty. */
  nextOffset: number;
  sizeBytes = 0;
  /** Largest record timestamp in the segment; -1 while empty. */
  maxTimestampMs = -1;
  /** Async fsyncs under way on this segment's descriptor; it must not be closed meanwhile. */
  syncsInFlight = 0;

  private fd: Fd | undefined;
  private offsetIndex: OffsetIndex | undefined;
  private timeIndex: TimeIndex | undefined;
  /** Log bytes appended since the last index entry; starts high so the first batch is always indexed. */
  private bytesSinceIndexEntry = Number.MAX_SAFE_INTEGER;
  /**
   * Base offsets and positions of the last RECENT_BATCHES batches, oldest first from `recentStart`
   * (a ring): readers at the tail find their batch here without reading the file to walk headers.
   */
  private readonly recentOffsets: number[] = [];
  private readonly recentPositions: number[] = [];
  private recentStart = 0;

  private constructor(
    private readonly io: FileIO,
    readonly dir: string,
    readonly baseOffset: number,
    private readonly limits: SegmentLimits,
  ) {
    this.nextOffset = baseOffset;
  }

  get logPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, '.log'));
  }

  private get indexPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, '.index'));
  }

  private get timeIndexPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, '.timeindex'));
  }

  get isEmpty(): boolean {
    return this.sizeBytes === 0;
  }

  get hasOpenFile(): boolean {
    return this.fd !== undefined;
  }

  get hasIndexLoaded(): boolean {
    return this.offsetIndex !== undefined;
  }

  /** Creates a new, empty active segment file (the caller fsyncs the directory). */
  static create(io: FileIO, dir: string, baseOffset: number, limits: SegmentLimits): Segment {
    const segment = new Segment(io, dir, baseOffset, limits);
    segment.fd = io.openReadWrite(segment.logPath);
    io.truncate(segment.fd, 0);
    segment.offsetIndex = new OffsetIndex(baseOffset);
    segment.timeIndex = new TimeIndex(baseOffset);
    segment.removeIndexFiles();
    return segment;
  }

  /**
   * Opens the segment that was active when the log last stopped. Its index files exist only after a
   * clean close or a roll, both of which fsync the log first; they are a valid prefix, so the scan
   * starts at their last entry. Otherwise the whole file is scanned and the indexes rebuilt. The
   * index files are then deleted: an active segment's indexes live in memory until it is sealed.
   * Returns the first bad batch, if any; the caller decides whether it is a torn tail.
   */
  static openActive(io: FileIO, dir: string, baseOffset: number, limits: SegmentLimits): { segment: Segment; problem?: ScanProblem } {
    const segment = new Segment(io, dir, baseOffset, limits);
    segment.fd = io.openReadWrite(segment.logPath);
    const fileBytes = io.sizeOf(segment.fd);
    const start = segment.loadIndexFilesForResume(fileBytes);
    const result = segment.scanInto({ fromPosition: start.position, fromOffset: start.offset, fileBytes });
    segment.removeIndexFiles();
    return result.problem === undefined ? { segment } : { segment, problem: result.problem };
  }

  /**
   * Opens a sealed segment: checks the batches after its last index entry (a cheap check that the
   * file ends on a whole, valid batch) to learn its nextOffset, and reads its largest timestamp from
   * the time index. Any problem in a sealed segment is corruption, never a torn tail: it was
   * fsynced before the next segment existed.
   */
  static openClosed(io: FileIO, dir: string, baseOffset: number, limits: SegmentLimits): Segment {
    const segment = new Segment(io, dir, baseOffset, limits);
    const fileBytes = io.sizeOf(segment.file());
    const start = segment.loadIndexFilesForResume(fileBytes);
    const result = segment.scanInto({ fromPosition: start.position, fromOffset: start.offset, fileBytes });
    if (result.problem !== undefined) throw segment.corruption(result.problem);
    if (start.position === 0 && !segment.isEmpty) {
      // The index files were missing or wrong and have just been rebuilt by a full scan: keep them.
      segment.seal();
    }
    segment.dropIndexes();
    // Reopened on demand: a log of thousands of segments must not hold a descriptor for each one
    // from its open on (the log's cache keeps at most openSegmentFilesMax of them).
    segment.closeFile();
    return segment;
  }

  /** Loads index files if they are a plausible prefix of this segment; returns where scanning resumes. */
  private loadIndexFilesForResume(fileBytes: number): { position: number; offset: number } {
    const fromStart = { position: 0, offset: this.baseOffset };
    this.offsetIndex = new OffsetIndex(this.baseOffset);
    this.timeIndex = new TimeIndex(this.baseOffset);
    if (!this.io.exists(this.indexPath) || !this.io.exists(this.timeIndexPath)) return fromStart;
    const offsetIndex = decodeOffsetIndex(readWholeFile(this.io, this.indexPath), this.baseOffset, fileBytes);
    const last = offsetIndex?.last();
    if (offsetIndex === undefined || last === undefined) return fromStart;
    // The whole last indexed batch must be intact, not just its header: the time index may already
    // count its timestamps, and if a crash tore it those belong to records that are gone.
    if (!this.intactBatchAt(last.position, last.offset, fileBytes)) return fromStart;
    const timeIndex = decodeTimeIndex(readWholeFile(this.io, this.timeIndexPath), this.baseOffset, Number.MAX_SAFE_INTEGER);
    if (timeIndex === undefined) return fromStart;
    // Entries past the last indexed batch (the final one a seal adds) are recomputed by the scan;
    // entries up to it hold the largest timestamp so far, which the scan continues from.
    timeIndex.truncateToOffset(last.offset + 1);
    // Resume at the last indexed batch; it is re-indexed by the scan, so drop its entry first.
    offsetIndex.truncateToPosition(last.position);
    this.offsetIndex = offsetIndex;
    this.timeIndex = timeIndex;
    this.maxTimestampMs = timeIndex.last()?.timestampMs ?? -1;
    return last;
  }

  /** Whether a whole batch with checksum intact and baseOffset `offset` starts at `position`. */
  private intactBatchAt(position: number, offset: number, fileBytes: number): boolean {
    const head = readAt(this.io, this.file(), position, BATCH_HEADER_BYTES);
    if (head.length < BATCH_HEADER_BYTES) return false;
    const { baseOffset, batchBytes } = readBatchHeader(head, 0);
    if (baseOffset !== offset || batchBytes < BATCH_HEADER_BYTES || batchBytes > this.limits.batchBytesMax) return false;
    if (position + batchBytes > fileBytes) return false;
    return checkBatch(readAt(this.io, this.file(), position, batchBytes), 0, this.limits.batchBytesMax).ok;
  }

  private scanInto(options: { fromPosition: number; fromOffset: number; fileBytes: number }): {
    problem?: ScanProblem;
  } {
    this.sizeBytes = options.fromPosition;
    this.nextOffset = options.fromOffset;
    this.forgetRecent();
    this.bytesSinceIndexEntry = this.limits.indexIntervalBytes; // index the first scanned batch
    const result = scanBatches(this.io, this.file(), {
      batchBytesMax: this.limits.batchBytesMax,
      onBatch: (header, position) => this.noteBatch(header, position),
      ...options,
    });
    assert(result.endPosition === this.sizeBytes, 'scan and index disagree on the end of the segment');
    return result.problem === undefined ? {} : { problem: result.problem };
  }

  /** Records a batch now at `position` in the in-memory state and indexes. */
  private noteBatch(header: BatchHeader, position: number): void {
    assert(header.baseOffset === this.nextOffset, () => `batch at ${position} has offset ${header.baseOffset}, expected ${this.nextOffset}`);
    assert(position === this.sizeBytes, 'batches are contiguous');
    this.maxTimestampMs = Math.max(this.maxTimestampMs, header.maxTimestampMs);
    if (this.bytesSinceIndexEntry >= this.limits.indexIntervalBytes) {
      this.offsetIndex!.append(header.baseOffset, position);
      this.timeIndex!.maybeAppend(this.maxTimestampMs, header.baseOffset);
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += header.batchBytes;
    this.rememberRecent(header.baseOffset, position);
    this.sizeBytes = position + header.batchBytes;
    this.nextOffset = batchNextOffset(header);
  }

  /**
   * Writes already-stamped batches at the end of the file in one write call and indexes them. The
   * data is in the OS page cache when this returns, not yet on disk.
   */
  append(batches: readonly Buffer[], headers: readonly BatchHeader[]): void {
    assert(this.offsetIndex !== undefined && this.timeIndex !== undefined, 'append to a sealed segment');
    this.io.writeAll(this.file(), batches, this.sizeBytes);
    let position = this.sizeBytes;
    headers.forEach((header) => {
      this.noteBatch(header, position);
      position += header.batchBytes;
    });
  }

  /** Makes the written bytes durable (blocking); used at roll and close, not on the hot path. */
  syncNow(): void {
    this.io.fdatasyncSync(this.file());
  }

  /** Starts an fdatasync on the thread pool. */
  async sync(): Promise<void> {
    const fd = this.file();
    this.syncsInFlight++;
    try {
      await this.io.fdatasync(fd);
    } finally {
      this.syncsInFlight--;
    }
  }

  /** Seals the segment: the final time-index entry, then both index files written durably. */
  seal(): void {
    this.sealInMemory();
    writeFileDurably(this.io, this.indexPath, this.offsetIndex!.encode());
    writeFileDurably(this.io, this.timeIndexPath, this.timeIndex!.encode());
  }

  private sealInMemory(): void {
    if (this.isEmpty) return;
    // The last indexed batch may predate the largest timestamp: record it against the last batch.
    const lastIndexed = this.offsetIndex!.last()!;
    const lastBatchOffset = this.locateFrom(lastIndexed, this.nextOffset - 1).offset;
    this.timeIndex!.maybeAppend(this.maxTimestampMs, lastBatchOffset);
  }

  /** The offset index, loading (or rebuilding) it for a sealed segment. */
  private index(): OffsetIndex {
    if (this.offsetIndex !== undefined) return this.offsetIndex;
    const fileBytes = this.sizeBytes;
    const decoded = this.io.exists(this.indexPath)
      ? decodeOffsetIndex(readWholeFile(this.io, this.indexPath), this.baseOffset, fileBytes)
      : undefined;
    if (decoded !== undefined) {
      this.offsetIndex = decoded;
      return decoded;
    }
    this.rebuildIndexes();
    return this.offsetIndex!;
  }

  private rebuildIndexes(): void {
    const expectedNext = this.nextOffset;
    const expectedBytes = this.sizeBytes;
    this.offsetIndex = new OffsetIndex(this.baseOffset);
    this.timeIndex = new TimeIndex(this.baseOffset);
    this.maxTimestampMs = -1;
    const { problem } = this.scanInto({ fromPosition: 0, fromOffset: this.baseOffset, fileBytes: expectedBytes });
    if (problem !== undefined) throw this.corruption(problem);
    assert(this.nextOffset === expectedNext && this.sizeBytes === expectedBytes, 'rebuilt index disagrees with the segment');
  }

  private timeIndexLoaded(): TimeIndex {
    if (this.timeIndex !== undefined) return this.timeIndex;
    const decoded = this.io.exists(this.timeIndexPath)
      ? decodeTimeIndex(readWholeFile(this.io, this.timeIndexPath), this.baseOffset, this.nextOffset)
      : undefined;
    if (decoded !== undefined) {
      this.timeIndex = decoded;
      return decoded;
    }
    this.rebuildIndexes();
    this.sealInMemory();
    return this.timeIndex!;
  }

  /** Forgets a sealed segment's in-memory indexes (they are reloaded from their files on demand). */
  dropIndexes(): void {
    this.offsetIndex = undefined;
    this.timeIndex = undefined;
  }

  /** Closes the file descriptor (reopened on demand). */
  closeFile(): void {
    assert(this.syncsInFlight === 0, 'closing a segment with an fsync in flight');
    if (this.fd === undefined) return;
    this.io.close(this.fd);
    this.fd = undefined;
  }

  private file(): Fd {
    this.fd ??= this.io.openReadWrite(this.logPath);
    return this.fd;
  }

  /**
   * Position and baseOffset of the batch containing `offset` (which must be in this segment), found
   * from the index entry at or before it by walking the batch headers in one read window.
   */
  locate(offset: number): { position: number; offset: number } {
    assert(offset >= this.baseOffset && offset < this.nextOffset, () => `offset ${offset} not in segment ${this.baseOffset}`);
    return this.recentBatchAt(offset) ?? this.locateFrom(this.index().lookup(offset), offset);
  }

  private rememberRecent(baseOffset: number, position: number): void {
    if (this.recentOffsets.length < RECENT_BATCHES) {
      this.recentOffsets.push(baseOffset);
      this.recentPositions.push(position);
      return;
    }
    this.recentOffsets[this.recentStart] = baseOffset;
    this.recentPositions[this.recentStart] = position;
    this.recentStart = (this.recentStart + 1) % RECENT_BATCHES;
  }

  /** The recent batch containing `offset` (below nextOffset), newest first: tail readers hit in a step or two. */
  private recentBatchAt(offset: number): { position: number; offset: number } | undefined {
    const count = this.recentOffsets.length;
    if (count === 0 || offset < this.recentOffsets[this.recentStart]!) return undefined;
    for (let i = count - 1; i >= 0; i--) {
      const slot = (this.recentStart + i) % count;
      const baseOffset = this.recentOffsets[slot]!;
      if (baseOffset <= offset) return { position: this.recentPositions[slot]!, offset: baseOffset };
    }
    return undefined;
  }

  private forgetRecent(): void {
    this.recentOffsets.length = 0;
    this.recentPositions.length = 0;
    this.recentStart = 0;
  }

  private locateFrom(start: { position: number; offset: number }, offset: number): { position: number; offset: number } {
    let position = start.position;
    let expectedOffset = start.offset;
    let window: Buffer = Buffer.alloc(0);
    let windowStart = position;
    for (;;) {
      let at = position - windowStart;
      if (window.length - at < BATCH_HEADER_BYTES) {
        window = readAt(this.io, this.file(), position, Math.min(this.sizeBytes - position, 2 * this.limits.indexIntervalBytes + BATCH_HEADER_BYTES));
        windowStart = position;
        at = 0;
      }
      if (window.length - at < BATCH_HEADER_BYTES) throw this.corruption({ position, problem: 'short-header', expectedOffset });
      const header = readBatchHeader(window, at);
      // The walk reads fields without checking the checksum (and baseOffset is outside it anyway):
      // check offsets by continuity and bound the length, so a flipped byte is reported as
      // corruption instead of silently landing on the wrong batch.
      if (header.baseOffset !== expectedOffset) throw this.corruption({ position, problem: 'bad-offset', expectedOffset });
      if (header.batchBytes < BATCH_HEADER_BYTES || header.batchBytes > this.limits.batchBytesMax || position + header.batchBytes > this.sizeBytes) {
        throw this.corruption({ position, problem: 'bad-length', expectedOffset });
      }
      if (header.baseOffset + header.lastOffsetDelta >= offset) return { position, offset: header.baseOffset };
      position += header.batchBytes;
      expectedOffset = batchNextOffset(header);
    }
  }

  /**
   * Reads whole batches starting with the one containing `fromOffset`: as many as fit in `maxBytes`
   * (at least one, however large), none starting at or after `endOffset`. Each batch's checksum is
   * verified; a bad one means corruption under acknowledged data.
   */
  read(fromOffset: number, maxBytes: number, endOffset: number): { bytes: Buffer; nextOffset: number } {
    const start = this.locate(fromOffset);
    const windowBytes = Math.min(this.sizeBytes - start.position, Math.max(maxBytes, BATCH_HEADER_BYTES));
    let window: Buffer = readAt(this.io, this.file(), start.position, windowBytes);
    let used = 0;
    let nextOffset = start.offset;
    while (nextOffset < endOffset && used < window.length) {
      let check = checkBatch(window, used, this.limits.batchBytesMax);
      if (!check.ok && used === 0 && (check.problem === 'short-header' || check.problem === 'short-batch')) {
        // The first batch is larger than maxBytes: return it whole so the reader makes progress.
        window = readAt(this.io, this.file(), start.position, readBatchHeader(window, 0).batchBytes);
        check = checkBatch(window, 0, this.limits.batchBytesMax);
      }
      // Short is the end of the window, except for the first batch, which was read whole.
      if (!check.ok && used > 0 && (check.problem === 'short-header' || check.problem === 'short-batch')) break;
      if (!check.ok || check.header.baseOffset !== nextOffset) {
        throw this.corruption({
          position: start.position + used,
          problem: check.ok ? 'bad-offset' : check.problem,
          expectedOffset: nextOffset,
        });
      }
      used += check.header.batchBytes;
      nextOffset = batchNextOffset(check.header);
    }
    return { bytes: window.subarray(0, used), nextOffset };
  }

  /** Offset to start scanning from for the first record at or after `timestampMs`. */
  timeScanStart(timestampMs: number): number {
    return this.timeIndexLoaded().startOffsetFor(timestampMs);
  }

  /**
   * Cuts the segment at the start of the batch containing `offset` (or at `position` directly), drops
   * index entries past it, and fsyncs. Returns the new nextOffset. The segment becomes active: its
   * index files, now stale, are removed.
   */
  truncateAt(cut: { position: number; offset: number }): void {
    this.index();
    this.timeIndexLoaded();
    this.io.truncate(this.file(), cut.position);
    this.io.fdatasyncSync(this.file());
    this.offsetIndex!.truncateToPosition(cut.position);
    this.timeIndex!.truncateToOffset(cut.offset);
    this.sizeBytes = cut.position;
    this.nextOffset = cut.offset;
    this.forgetRecent();
    this.removeIndexFiles();
    this.recomputeTimestampsAfterTruncate();
    const last = this.offsetIndex!.last();
    this.bytesSinceIndexEntry = last === undefined ? this.limits.indexIntervalBytes : cut.position - last.position;
  }

  private recomputeTimestampsAfterTruncate(): void {
    this.maxTimestampMs = -1;
    if (this.isEmpty) return;
    // Rare (recovery and replication only): rescan the surviving batches for exact timestamps.
    scanBatches(this.io, this.file(), {
      fromPosition: 0,
      fromOffset: this.baseOffset,
      fileBytes: this.sizeBytes,
      batchBytesMax: this.limits.batchBytesMax,
      onBatch: (header) => (this.maxTimestampMs = Math.max(this.maxTimestampMs, header.maxTimestampMs)),
    });
  }

  /** Cuts the file back to `sizeBytes`, dropping a torn tail found by `openActive`, and fsyncs. */
  cutTornTail(): void {
    this.io.truncate(this.file(), this.sizeBytes);
    this.io.fdatasyncSync(this.file());
  }

  /** An intact batch somewhere after `position` with an offset >= `minOffset`, if there is one. */
  findValidBatchAfter(position: number, minOffset: number): { position: number; baseOffset: number } | undefined {
    return findValidBatchAfter(this.io, this.file(), {
      afterPosition: position,
      minOffset,
      fileBytes: this.fileBytes(),
      batchBytesMax: this.limits.batchBytesMax,
    });
  }

  /** Bytes in the file, which after a crash may exceed `sizeBytes` by a torn tail. */
  fileBytes(): number {
    return this.io.sizeOf(this.file());
  }

  private removeIndexFiles(): void {
    for (const file of [this.indexPath, this.timeIndexPath]) {
      if (this.io.exists(file)) this.io.unlink(file);
    }
  }

  /** Deletes the segment's files: the log first, so a crash half-way leaves only orphan indexes. */
  deleteFiles(): void {
    this.closeFile();
    this.io.unlink(this.logPath);
    this.removeIndexFiles();
  }

  corruption(problem: ScanProblem): BrokerError {
    return new BrokerError(
      'LOG_CORRUPT',
      `corrupt batch in ${this.logPath} at byte ${problem.position} (expected offset ${problem.expectedOffset}): ${problem.problem}`,
      { file: this.logPath, position: problem.position, expectedOffset: problem.expectedOffset, problem: problem.problem },
    );
  }

  /** Reads and verifies the batch at `position`, which must start at `expectedOffset` (used by timestamp lookups). */
  batchAt(position: number, expectedOffset: number): { header: BatchHeader; bytes: Buffer } {
    const head = readAt(this.io, this.file(), position, BATCH_HEADER_BYTES);
    const batchBytes = head.length < BATCH_HEADER_BYTES ? 0 : readBatchHeader(head, 0).batchBytes;
    // A length out of bounds is not followed: checkBatch reports it from the header alone.
    const inBounds = batchBytes >= BATCH_HEADER_BYTES && batchBytes <= this.limits.batchBytesMax;
    const bytes = inBounds ? readAt(this.io, this.file(), position, batchBytes) : head;
    const check = checkBatch(bytes, 0, this.limits.batchBytesMax);
    if (!check.ok) throw this.corruption({ position, problem: check.problem, expectedOffset });
    if (check.header.baseOffset !== expectedOffset) throw this.corruption({ position, problem: 'bad-offset', expectedOffset });
    return { header: check.header, bytes };
  }
}
