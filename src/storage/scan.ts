/**
 * Walking the batches of a segment file: recovery, index rebuilds and the search for valid data past
 * a bad batch all go through here. Reads go in windows of `SCAN_WINDOW_BYTES`, so a scan never holds
 * more than one window (or one batch, if a batch is larger) in memory.
 */
import type { FileIO, Fd } from './file-io.js';
import { readAt } from './file-io.js';
import {
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_PREFIX_BYTES,
  BATCH_MAGIC,
  BatchField as Field,
  type BatchHeader,
  type BatchProblem,
  batchNextOffset,
  checkBatch,
} from '../base/index.js';

const SCAN_WINDOW_BYTES = 1024 * 1024;

export interface ScanProblem {
  position: number;
  problem: BatchProblem | 'bad-offset';
  /** The offset the bad batch should have started at. */
  expectedOffset: number;
}

export interface ScanResult {
  /** Position just past the last good batch. */
  endPosition: number;
  /** nextOffset of the last good batch (`fromOffset` when there was none). */
  nextOffset: number;
  /** Set when the scan stopped before the end of the file. */
  problem?: ScanProblem;
}

export interface ScanOptions {
  fromPosition: number;
  /** The baseOffset the batch at `fromPosition` must have; every next batch continues from the last. */
  fromOffset: number;
  fileBytes: number;
  batchBytesMax: number;
  /** Called for each good batch, in file order. */
  onBatch?: (header: BatchHeader, position: number) => void;
}

/** Verifies batches from `fromPosition` to the end of the file, stopping at the first bad one. */
export function scanBatches(io: FileIO, fd: Fd, options: ScanOptions): ScanResult {
  const { fileBytes, batchBytesMax } = options;
  let position = options.fromPosition;
  let expectedOffset = options.fromOffset;
  let window: Buffer = Buffer.alloc(0);
  let windowStart = position;
  while (position < fileBytes) {
    let check = checkBatch(window, position - windowStart, batchBytesMax);
    if (!check.ok && (check.problem === 'short-header' || check.problem === 'short-batch')) {
      // The window ends inside this batch: read a new window starting at it, large enough to hold it.
      const wanted = check.problem === 'short-batch' ? batchBytesFrom(window, position - windowStart) : 0;
      window = readAt(io, fd, position, Math.min(fileBytes - position, Math.max(SCAN_WINDOW_BYTES, wanted)));
      windowStart = position;
      check = checkBatch(window, 0, batchBytesMax);
    }
    if (!check.ok) return { endPosition: position, nextOffset: expectedOffset, problem: { position, problem: check.problem, expectedOffset } };
    if (check.header.baseOffset !== expectedOffset) {
      return { endPosition: position, nextOffset: expectedOffset, problem: { position, problem: 'bad-offset', expectedOffset } };
    }
    options.onBatch?.(check.header, position);
    position += check.header.batchBytes;
    expectedOffset = batchNextOffset(check.header);
  }
  return { endPosition: position, nextOffset: expectedOffset };
}

function batchBytesFrom(window: Buffer, pos: number): number {
  return window.readInt32BE(pos + Field.batchLength) + BATCH_LENGTH_PREFIX_BYTES;
}

/**
 * Looks for any intact batch starting after `afterPosition` whose offset is at least `minOffset`.
 * Recovery uses it to tell a torn tail (nothing valid follows: safe to cut) from corruption in the
 * middle of the log (acknowledged data follows: cutting would lose it). Candidates are found by the
 * magic byte, then confirmed by the length, offset and checksum.
 */
export function findValidBatchAfter(
  io: FileIO,
  fd: Fd,
  options: { afterPosition: number; minOffset: number; fileBytes: number; batchBytesMax: number },
): { position: number; baseOffset: number } | undefined {
  const { fileBytes, batchBytesMax, minOffset } = options;
  for (let windowStart = options.afterPosition + 1; windowStart + BATCH_HEADER_BYTES <= fileBytes; ) {
    const window = readAt(io, fd, windowStart, Math.min(SCAN_WINDOW_BYTES + BATCH_HEADER_BYTES, fileBytes - windowStart));
    const lastCandidate = Math.min(SCAN_WINDOW_BYTES, window.length - BATCH_HEADER_BYTES);
    for (let magicAt = window.indexOf(BATCH_MAGIC, Field.magic); magicAt !== -1; magicAt = window.indexOf(BATCH_MAGIC, magicAt + 1)) {
      const candidate = magicAt - Field.magic;
      if (candidate > lastCandidate) break;
      const batchBytes = batchBytesFrom(window, candidate);
      const baseOffset = window.readInt32BE(candidate) * 0x1_0000_0000 + window.readUInt32BE(candidate + 4);
      if (batchBytes < BATCH_HEADER_BYTES || batchBytes > batchBytesMax) continue;
      if (windowStart + candidate + batchBytes > fileBytes) continue;
      if (baseOffset < minOffset || baseOffset > minOffset + 0x7fff_ffff) continue;
      const batch = readAt(io, fd, windowStart + candidate, batchBytes);
      if (checkBatch(batch, 0, batchBytesMax).ok) return { position: windowStart + candidate, baseOffset };
    }
    windowStart += SCAN_WINDOW_BYTES;
  }
  return undefined;
}
