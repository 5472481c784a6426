/**
 * The sparse time index of one segment: for finding the first offset at or after a timestamp.
 * Each entry says "every record before `offset` has a timestamp <= `timestampMs`": the timestamp is
 * the largest seen so far in the segment, so entries increase in both fields even when producers send
 * timestamps out of order. When a segment is closed its final entry carries the segment's largest
 * timestamp, which retention reads without scanning the segment.
 *
 * File layout (`<baseOffset>.timeindex`), a sequence of 12-byte entries, big-endian:
 *
 * | offset | size | field          | meaning                                                     |
 * | ------ | ---- | -------------- | ----------------------------------------------------------- |
 * | 0      | 8    | timestampMs    | int64, largest record timestamp up to and including `offset`'s batch |
 * | 8      | 4    | relativeOffset | uint32, baseOffset of the batch after which it holds - segment baseOffset |
 *
 * Derived data like the offset index: checked on load (monotonic, in bounds) and rebuilt if wrong.
 */
import { assert } from '../base/index.js';

export const TIME_INDEX_ENTRY_BYTES = 12;
const UINT32 = 0x1_0000_0000;

export interface TimeIndexEntry {
  timestampMs: number;
  /** The offset of the indexed batch; the batch's records have timestamps <= timestampMs. */
  offset: number;
}

export class TimeIndex {
  private timestamps: number[] = [];
  private relativeOffsets: number[] = [];

  constructor(readonly baseOffset: number) {}

  get entryCount(): number {
    return this.timestamps.length;
  }

  last(): TimeIndexEntry | undefined {
    const n = this.timestamps.length;
    if (n === 0) return undefined;
    return { timestampMs: this.timestamps[n - 1]!, offset: this.baseOffset + this.relativeOffsets[n - 1]! };
  }

  /** Adds an entry if `timestampMs` is larger than the last one (otherwise it adds nothing new). */
  maybeAppend(timestampMs: number, offset: number): void {
    const last = this.last();
    if (last !== undefined && timestampMs <= last.timestampMs) return;
    assert(last === undefined || offset > last.offset, 'time index offsets must strictly increase');
    this.timestamps.push(timestampMs);
    this.relativeOffsets.push(offset - this.baseOffset);
  }

  /**
   * Where to start scanning for the first record with timestamp >= `targetMs`: the offset of the
   * last entry whose timestamp is < target (every record before that batch is older), else the
   * segment start.
   */
  startOffsetFor(targetMs: number): number {
    let low = 0;
    let high = this.timestamps.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.timestamps[mid]! < targetMs) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found === -1 ? this.baseOffset : this.baseOffset + this.relativeOffsets[found]!;
  }

  /** Drops entries for batches at or past `offset` (the segment was truncated there). */
  truncateToOffset(offset: number): void {
    while (this.timestamps.length > 0 && this.baseOffset + this.relativeOffsets[this.relativeOffsets.length - 1]! >= offset) {
      this.timestamps.pop();
      this.relativeOffsets.pop();
    }
  }

  encode(): Buffer {
    const buf = Buffer.allocUnsafe(this.timestamps.length * TIME_INDEX_ENTRY_BYTES);
    this.timestamps.forEach((timestampMs, i) => {
      const pos = i * TIME_INDEX_ENTRY_BYTES;
      const high = Math.floor(timestampMs / UINT32);
      buf.writeInt32BE(high, pos);
      buf.writeUInt32BE(timestampMs - high * UINT32, pos + 4);
      buf.writeUInt32BE(this.relativeOffsets[i]!, pos + 8);
    });
    return buf;
  }
}

/** Decodes a time index file, or undefined when it is not plausible (the caller rebuilds it). */
export function decodeTimeIndex(bytes: Buffer, baseOffset: number, nextOffset: number): TimeIndex | undefined {
  if (bytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return undefined;
  const index = new TimeIndex(baseOffset);
  for (let pos = 0; pos < bytes.length; pos += TIME_INDEX_ENTRY_BYTES) {
    const timestampMs = bytes.readInt32BE(pos) * UINT32 + bytes.readUInt32BE(pos + 4);
    const offset = baseOffset + bytes.readUInt32BE(pos + 8);
    const last = index.last();
    if (offset >= nextOffset) return undefined;
    if (last !== undefined && (timestampMs <= last.timestampMs || offset <= last.offset)) return undefined;
    index.maybeAppend(timestampMs, offset);
  }
  return index;
}
