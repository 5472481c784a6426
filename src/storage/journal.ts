/**
 * The broker's write-ahead journal for `always` logs: each such log writes its appends to its segment
 * and to this one shared file, and one fdatasync of the journal then makes the appends of every
 * partition durable at once. Without it each partition fsyncs its own segment file: eight partitions
 * cost eight fdatasyncs per group commit instead of one (a third of a core at 5,000 records/s here).
 * BookKeeper's bookies keep their journal the same way.
 *
 * Files: `<dir>/<20-digit sequence>.journal`, written front to back, never rewritten. A frame is
 *   u32 frameBytes (the whole frame) | u32 CRC-32 of everything after it | u8 kind | u8 0 | u16 keyBytes
 *   | key (the log's directory relative to the data directory, UTF-8) | body
 * where the body is whole record batches, stamped with their offsets (kind 1), or the u64 offset a
 * log was truncated to (kind 2).
 *
 * Durability: a write is durable once a `sync()` called after it resolves. Appends larger than
 * `appendBytesMax` do not come here (their log fsyncs its segment). Segment files are fsynced in the
 * background every `segmentSyncBytes` of journaled appends, when they roll or close, and when a
 * journal file is retired: at `fileBytesMax` the journal starts a new file and deletes the old one
 * after every log that wrote to it has fsynced its segment (a checkpoint). Until then a power loss
 * may take a segment's tail; the journal still has it.
 *
 * Recovery: `open` scans the files (a torn frame can end only the newest file: a file is fsynced
 * before the next one starts); each log opened afterwards calls `replay` for its frames; then
 * `finishRecovery` deletes the scanned files, unless a log that still exists did not replay them (its
 * log failed to open: they are kept for a later start), and starts a new file.
 *
 * Failures: an I/O error takes the journal out of service; every later write and sync fails with it,
 * which takes the `always` logs offline.
 */
import path from 'node:path';
import { type Clock, type Logger, assert, crc32, readBatchHeader, silentLogger, systemClock } from '../base/index.js';
import { BrokerError, isBrokerError } from '../errors.js';
import { type Fd, type FileIO, nodeFileIO, readAt } from './file-io.js';

export interface JournalOptions {
  /** The journal's directory; log keys are the logs' directories relative to its parent. */
  dir: string;
  /** The size at which the journal starts a new file and checkpoints the old one. */
  fileBytesMax: number;
  /**
   * Larger appends skip the journal: their log fsyncs its segment instead. A big append costs its
   * write more than the sync, and partitions fsyncing their own files in parallel move more bytes
   * than one journal file fsynced after each group, written twice over.
   */
  appendBytesMax: number;
  /**
   * Above this byte rate of `always` appends, appends skip the journal too: at a high byte rate each
   * sync of a partition's own segment carries plenty of data anyway, and writing everything twice
   * (journal and segment) would load the disk twice. Measured over 100 ms windows.
   */
  bytesPerSecondMax: number;
  clock?: Clock;
  /**
   * A log fsyncs its segment in the background once it has written this many bytes through the
   * journal since its last segment sync, so that a retiring file finds little left to fsync: one
   * burst of a whole file's worth of segment data stalls the journal's syncs behind it on the disk.
   */
  segmentSyncBytes?: number;
  io?: FileIO;
  logger?: Logger;
}

/** A log that writes to the journal; the journal calls `syncData` to checkpoint a file it wrote to. */
export interface JournalWriter {
  readonly key: string;
  /** Makes everything the log has written so far durable in its own files. */
  syncData(): Promise<void>;
}

/** What the journal has done since the broker started, for the metrics. */
export interface JournalStats {
  syncs: number;
  /** From starting each fdatasync to seeing it complete (a busy event loop adds to it). */
  syncSeconds: number;
  /** Bytes written to journal files (frames, headers included). */
  writtenBytes: number;
  /** `always` appends that fsynced their segment instead: larger than `appendBytesMax`, or above the byte rate. */
  skippedForSize: number;
  skippedForRate: number;
}

export type ReplayedFrame = { kind: 'batches'; batches: Buffer[] } | { kind: 'truncate'; offset: number };

const FRAME_HEADER_BYTES = 12;
const KIND_BATCHES = 1;
const KIND_TRUNCATE = 2;
const FILE_SUFFIX = '.journal';
const SEGMENT_SYNC_BYTES_DEFAULT = 256 * 1024;
const RATE_WINDOW_MS = 100;
/** Bytes read per step while scanning a file at open. */
const SCAN_READ_BYTES = 1024 * 1024;

interface JournalFile {
  sequence: number;
  path: string;
  fd: Fd;
  sizeBytes: number;
  /** Logs with frames in this file; each fsyncs its segment before the file may go. */
  writers: Set<JournalWriter>;
}

/** A frame found by the scan at open, read again when its log replays it. */
interface ScannedFrame {
  file: JournalFile;
  position: number;
  frameBytes: number;
  kind: number;
  keyBytes: number;
}

export function journalFileName(sequence: number): string {
  return `${String(sequence).padStart(20, '0')}${FILE_SUFFIX}`;
}

export class Journal {
  private readonly io: FileIO;
  private readonly logger: Logger;
  /** Files found at open, until `finishRecovery`. */
  private scanned: JournalFile[] = [];
  private framesByKey = new Map<string, ScannedFrame[]>();
  private readonly replayedKeys = new Set<string>();
  private current: JournalFile | undefined;
  private nextSequence = 0;
  private inFlight: Promise<void> | undefined;
  private pendingSync: Promise<void> | undefined;
  /** Retired files are deleted one after another, oldest first (see `retire`). */
  private retiring: Promise<void> = Promise.resolve();
  /** Set when a retired file could not be checkpointed: no newer file is deleted either. */
  private retireStopped = false;
  private failure: BrokerError | undefined;
  private closed = false;
  /** Bytes of `always` appends in the current rate window, and whether the rate is over the limit (see `admits`). */
  private windowBytes = 0;
  private overRate = false;
  private windowStartMs = 0;
  readonly stats: JournalStats = { syncs: 0, syncSeconds: 0, writtenBytes: 0, skippedForSize: 0, skippedForRate: 0 };
  /** The longest fdatasync since `takeSyncSecondsMax` last read it. */
  private syncSecondsMax = 0;

  private constructor(private readonly options: JournalOptions) {
    this.io = options.io ?? nodeFileIO;
    this.logger = options.logger ?? silentLogger;
  }

  /** Opens the journal in `dir` and scans what a previous run left there. Throws LOG_CORRUPT on corruption. */
  static open(options: JournalOptions): Journal {
    const journal = new Journal(options);
    try {
      journal.scan();
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException | undefined)?.code;
      if (isBrokerError(error) || typeof errno !== 'string') throw error;
      throw new BrokerError('STORAGE_IO_ERROR', `opening the journal in ${options.dir} failed: ${(error as Error).message}`, { dir: options.dir, errno }, { cause: error });
    }
    return journal;
  }

  /**
   * Whether an append of `bytes` goes through the journal: at most `appendBytesMax`, and while the
   * byte rate of `always` appends (every one asking counts) stays within `bytesPerSecondMax`. A
   * window over the rate keeps the next one off the journal as well: at a steady high rate every
   * append then fsyncs its segment, instead of each window starting with a journaled burst and
   * ending in segment syncs that also flush the data the burst left in the segments. A log that
   * gets true must then `write` it.
   */
  admits(bytes: number): boolean {
    const nowMs = (this.options.clock ?? systemClock).nowMs();
    const windowBytesMax = (this.options.bytesPerSecondMax * RATE_WINDOW_MS) / 1000;
    const elapsedMs = nowMs - this.windowStartMs;
    if (elapsedMs >= RATE_WINDOW_MS) {
      this.overRate = elapsedMs < 2 * RATE_WINDOW_MS && this.windowBytes > windowBytesMax;
      this.windowStartMs = nowMs;
      this.windowBytes = 0;
    }
    this.windowBytes += bytes;
    if (this.windowBytes > windowBytesMax) this.overRate = true;
    if (bytes > this.options.appendBytesMax) this.stats.skippedForSize++;
    else if (this.overRate) this.stats.skippedForRate++;
    else return true;
    return false;
  }

  /** The longest fdatasync of the journal since the previous call (a scrape), in seconds. */
  takeSyncSecondsMax(): number {
    const max = this.syncSecondsMax;
    this.syncSecondsMax = 0;
    return max;
  }

  /** Journal files on disk: the current one, retired ones not yet deleted, and any kept for a later start. */
  fileCount(): number {
    return this.fileSequences().length;
  }

  /** The sequence numbers of the journal files in its directory, oldest first. */
  private fileSequences(): number[] {
    return this.io
      .readdir(this.options.dir)
      .filter((name) => name.endsWith(FILE_SUFFIX))
      .map((name) => Number(name.slice(0, -FILE_SUFFIX.length)))
      .filter((sequence) => Number.isSafeInteger(sequence))
      .sort((a, b) => a - b);
  }

  get segmentSyncBytes(): number {
    return this.options.segmentSyncBytes ?? SEGMENT_SYNC_BYTES_DEFAULT;
  }

  /** The key under which the log in `logDir` writes its frames. */
  keyOf(logDir: string): string {
    return path.relative(path.dirname(this.options.dir), logDir);
  }

  // ---- recovery ----

  private scan(): void {
    const { io, options } = this;
    io.mkdirp(options.dir);
    const sequences = this.fileSequences();
    sequences.forEach((sequence, i) => {
      const filePath = path.join(options.dir, journalFileName(sequence));
      const fd = io.openReadWrite(filePath);
      const file: JournalFile = { sequence, path: filePath, fd, sizeBytes: io.sizeOf(fd), writers: new Set() };
      this.scanned.push(file);
      this.scanFile(file, i === sequences.length - 1);
      this.nextSequence = sequence + 1;
    });
  }

  private scanFile(file: JournalFile, newest: boolean): void {
    let position = 0;
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = 0;
    const bytesAt = (at: number, length: number): Buffer => {
      if (at < chunkStart || at + length > chunkStart + chunk.length) {
        chunkStart = at;
        chunk = readAt(this.io, file.fd, at, Math.max(length, SCAN_READ_BYTES));
      }
      return chunk.subarray(at - chunkStart, at - chunkStart + length);
    };
    while (position < file.sizeBytes) {
      const problem = this.checkFrame(file, position, bytesAt);
      if (problem !== undefined) {
        if (!newest) {
          throw new BrokerError('LOG_CORRUPT', `journal file ${file.path} is corrupt at byte ${position}: ${problem}`, { file: file.path, position, problem });
        }
        this.logger.warn({ file: file.path, position, bytesCut: file.sizeBytes - position, problem }, 'ignoring a torn tail of the journal');
        return;
      }
      const header = bytesAt(position, FRAME_HEADER_BYTES);
      const frame: ScannedFrame = { file, position, frameBytes: header.readUInt32LE(0), kind: header[8]!, keyBytes: header.readUInt16LE(10) };
      const key = bytesAt(position + FRAME_HEADER_BYTES, frame.keyBytes).toString('utf8');
      const frames = this.framesByKey.get(key) ?? [];
      frames.push(frame);
      this.framesByKey.set(key, frames);
      position += frame.frameBytes;
    }
  }

  /** Why the frame at `position` is not a whole, intact frame, or undefined if it is. */
  private checkFrame(file: JournalFile, position: number, bytesAt: (at: number, length: number) => Buffer): string | undefined {
    if (file.sizeBytes - position < FRAME_HEADER_BYTES) return 'short frame header';
    const header = bytesAt(position, FRAME_HEADER_BYTES);
    const frameBytes = header.readUInt32LE(0);
    const keyBytes = header.readUInt16LE(10);
    if (frameBytes < FRAME_HEADER_BYTES + keyBytes || position + frameBytes > file.sizeBytes) return `bad frame length ${frameBytes}`;
    if (header[8] !== KIND_BATCHES && header[8] !== KIND_TRUNCATE) return `unknown frame kind ${header[8]}`;
    const checksum = crc32(bytesAt(position + 8, frameBytes - 8));
    if (checksum !== header.readUInt32LE(4)) return 'checksum mismatch';
    return undefined;
  }

  /**
   * Hands the frames the previous run wrote for the log in `logDir` to `apply`, oldest first. The
   * log must make what it applies durable before anything else is written (the scanned files go at
   * `finishRecovery`).
   */
  replay(logDir: string, apply: (frame: ReplayedFrame) => void): void {
    if (this.current !== undefined) return; // a log created after start-up
    const key = this.keyOf(logDir);
    for (const frame of this.framesByKey.get(key) ?? []) apply(this.readFrame(frame));
    this.replayedKeys.add(key);
  }

  private readFrame(frame: ScannedFrame): ReplayedFrame {
    const bodyStart = FRAME_HEADER_BYTES + frame.keyBytes;
    const body = readAt(this.io, frame.file.fd, frame.position + bodyStart, frame.frameBytes - bodyStart);
    if (frame.kind === KIND_TRUNCATE) return { kind: 'truncate', offset: Number(body.readBigUInt64LE(0)) };
    const batches: Buffer[] = [];
    for (let at = 0; at < body.length; ) {
      const { batchBytes } = readBatchHeader(body, at);
      batches.push(body.subarray(at, at + batchBytes));
      at += batchBytes;
    }
    return { kind: 'batches', batches };
  }

  /**
   * Ends recovery: deletes the scanned files unless a log that `stillExists` has not replayed its
   * frames, and starts a new file. Call after every log has been opened.
   */
  finishRecovery(stillExists: (key: string) => boolean): void {
    assert(this.current === undefined, 'finishRecovery called twice');
    const unreplayed = [...this.framesByKey.keys()].filter((key) => !this.replayedKeys.has(key) && stillExists(key));
    try {
      if (unreplayed.length === 0) {
        for (const file of this.scanned) {
          this.io.close(file.fd);
          this.io.unlink(file.path);
        }
      } else {
        // Kept until a start at which those logs open; newer files still retire as usual. (Logs that
        // did replay them skip their frames next time: those end at or below their log end.)
        this.logger.warn({ logs: unreplayed, files: this.scanned.map((f) => f.path) }, 'keeping journal files that logs which failed to open have not replayed');
        for (const file of this.scanned) this.io.close(file.fd);
      }
      this.current = this.createFile();
    } catch (error) {
      throw this.fail(error, 'start');
    }
    this.scanned = [];
    this.framesByKey = new Map();
  }

  private createFile(): JournalFile {
    const sequence = this.nextSequence++;
    const filePath = path.join(this.options.dir, journalFileName(sequence));
    const fd = this.io.openReadWrite(filePath);
    this.io.truncate(fd, 0);
    this.io.fsyncDir(this.options.dir);
    return { sequence, path: filePath, fd, sizeBytes: 0, writers: new Set() };
  }

  // ---- writes ----

  /** Writes already-stamped batches of `writer`'s log (to the OS: durable after a later `sync()`). */
  write(writer: JournalWriter, batches: readonly Buffer[]): void {
    let bodyBytes = 0;
    for (const batch of batches) bodyBytes += batch.length;
    this.writeFrame(writer, KIND_BATCHES, batches, bodyBytes);
  }

  /** Records that `writer`'s log was truncated to `offset`, durably (before the log writes at it again). */
  truncate(writer: JournalWriter, offset: number): void {
    const body = Buffer.alloc(8);
    body.writeBigUInt64LE(BigInt(offset));
    this.writeFrame(writer, KIND_TRUNCATE, [body], body.length);
    try {
      this.io.fdatasyncSync(this.file().fd);
    } catch (error) {
      throw this.fail(error, 'fdatasync');
    }
  }

  private writeFrame(writer: JournalWriter, kind: number, body: readonly Buffer[], bodyBytes: number): void {
    const file = this.file();
    const key = Buffer.from(writer.key, 'utf8');
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES + key.length);
    header.writeUInt32LE(FRAME_HEADER_BYTES + key.length + bodyBytes, 0);
    header[8] = kind;
    header[9] = 0;
    header.writeUInt16LE(key.length, 10);
    key.copy(header, FRAME_HEADER_BYTES);
    let checksum = crc32(header.subarray(8));
    for (const part of body) checksum = crc32(part, checksum);
    header.writeUInt32LE(checksum, 4);
    try {
      this.io.writeAll(file.fd, [header, ...body], file.sizeBytes);
    } catch (error) {
      throw this.fail(error, 'write');
    }
    file.sizeBytes += header.length + bodyBytes;
    this.stats.writtenBytes += header.length + bodyBytes;
    file.writers.add(writer);
    if (file.sizeBytes >= this.options.fileBytesMax) this.roll();
  }

  private file(): JournalFile {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new BrokerError('LOG_CLOSED', 'the journal is closed');
    assert(this.current !== undefined, 'journal written before finishRecovery');
    return this.current;
  }

  /**
   * Resolves once everything written before the call is durable. One fdatasync runs at a time;
   * calls made while it runs, and in the same event-loop turn, share the next one (group commit).
   */
  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.pendingSync ??= this.runNextSync();
    return this.pendingSync;
  }

  private async runNextSync(): Promise<void> {
    if (this.inFlight !== undefined) await this.inFlight.catch(() => undefined);
    // One more turn, so that the appends of one produce request to several partitions share the sync.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Calls from here on wait for the sync after this one: this one may not cover their writes.
    this.pendingSync = undefined;
    const file = this.file();
    const startedAt = performance.now();
    const syncing = this.io.fdatasync(file.fd);
    this.inFlight = syncing;
    try {
      await syncing;
      const seconds = (performance.now() - startedAt) / 1000;
      this.stats.syncs++;
      this.stats.syncSeconds += seconds;
      this.syncSecondsMax = Math.max(this.syncSecondsMax, seconds);
    } catch (error) {
      throw this.fail(error, 'fdatasync');
    } finally {
      if (this.inFlight === syncing) this.inFlight = undefined;
    }
  }

  /** Starts a new file; the old one goes once every log that wrote to it has fsynced its segment. */
  private roll(): void {
    const old = this.current!;
    try {
      // The old file must end in whole, durable frames: a torn frame may end only the newest file.
      this.io.fdatasyncSync(old.fd);
      this.current = this.createFile();
    } catch (error) {
      throw this.fail(error, 'roll');
    }
    this.retiring = this.retiring.then(() => this.retire(old));
  }

  /**
   * Deletes `file` after its writers' checkpoints. Files go oldest first, and none after one that
   * could not go: replaying a newer file without an older one kept would skip a truncation.
   */
  private async retire(file: JournalFile): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight.catch(() => undefined);
    try {
      await Promise.all([...file.writers].map((writer) => writer.syncData()));
    } catch (error) {
      this.retireStopped = true;
      this.logger.warn({ file: file.path, err: error }, 'keeping a journal file: a log could not checkpoint it (a later start replays it)');
    }
    try {
      this.io.close(file.fd);
      if (this.retireStopped) return;
      this.io.unlink(file.path);
      this.io.fsyncDir(this.options.dir);
    } catch (error) {
      this.retireStopped = true;
      this.logger.warn({ file: file.path, err: error }, 'deleting a retired journal file failed (a later start replays it)');
    }
  }

  private fail(cause: unknown, action: string): BrokerError {
    if (this.failure !== undefined) return this.failure;
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    this.failure = new BrokerError(
      'STORAGE_IO_ERROR',
      `journal ${action} failed in ${this.options.dir}: ${(cause as Error).message}; partitions with durability always are offline`,
      { dir: this.options.dir, action, errno },
      { cause },
    );
    this.logger.error({ dir: this.options.dir, action, err: cause }, 'the journal is out of service');
    return this.failure;
  }

  // ---- lifecycle ----

  /** Retires the current file (every log should be closed, its segments fsynced) and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    const last = this.current;
    this.closed = true;
    for (const file of this.scanned) this.io.close(file.fd);
    this.scanned = [];
    if (last !== undefined) {
      // After a failure the file stays for the next start to replay; only its descriptor goes.
      this.retiring = this.retiring.then(() => (this.failure === undefined ? this.retire(last) : this.closeQuietly(last)));
    }
    await this.retiring;
  }

  private async closeQuietly(file: JournalFile): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight.catch(() => undefined);
    try {
      this.io.close(file.fd);
    } catch {
      // The journal is already out of service.
    }
  }
}
