/**
 * The sparse offset index of one segment: maps a batch's baseOffset to its byte position in the
 * segment file, one entry per `indexIntervalBytes` of log. Derived data: the segment file is the
 * truth, and a missing or inconsistent index is rebuilt from it.
 *
 * File layout (`<baseOffset>.index`), a sequence of 8-byte entries, big-endian:
 *
 * | offset | size | field          | meaning                                       |
 * | ------ | ---- | -------------- | --------------------------------------------- |
 * | 0      | 4    | relativeOffset | uint32, batch baseOffset - segment baseOffset |
 * | 4      | 4    | position       | uint32, byte position of the batch            |
 *
 * Entries are strictly increasing in both fields. The file has no checksum: `decodeOffsetIndex`
 * checks monotonicity and bounds, and recovery checks that the last entry points at a batch with
 * that offset; anything else makes the index be rebuilt.
 */
import { assert } from '../base/index.js';

export const OFFSET_INDEX_ENTRY_BYTES = 8;

export interface IndexEntry {
  /** Absolute baseOffset of the indexed batch. */
  offset: number;
  position: number;
}

export class OffsetIndex {
  private relativeOffsets: Uint32Array;
  private positions: Uint32Array;
  private count = 0;

  constructor(
    readonly baseOffset: number,
    initialCapacity = 64,
  ) {
    this.relativeOffsets = new Uint32Array(initialCapacity);
    this.positions = new Uint32Array(initialCapacity);
  }

  get entryCount(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.count * OFFSET_INDEX_ENTRY_BYTES;
  }

  last(): IndexEntry | undefined {
    if (this.count === 0) return undefined;
    return { offset: this.baseOffset + this.relativeOffsets[this.count - 1]!, position: this.positions[this.count - 1]! };
  }

  append(offset: number, position: number): void {
    const relative = offset - this.baseOffset;
    assert(relative >= 0 && relative <= 0xffff_ffff, () => `offset ${offset} outside the segment at ${this.baseOffset}`);
    const last = this.last();
    assert(last === undefined || offset > last.offset, 'offset index entries must strictly increase in offset');
    assert(last === undefined || position > last.position, 'offset index entries must strictly increase in position');
    if (this.count === this.positions.length) this.grow();
    this.relativeOffsets[this.count] = relative;
    this.positions[this.count] = position;
    this.count++;
  }

  private grow(): void {
    const relativeOffsets = new Uint32Array(this.relativeOffsets.length * 2);
    relativeOffsets.set(this.relativeOffsets);
    const positions = new Uint32Array(this.positions.length * 2);
    positions.set(this.positions);
    this.relativeOffsets = relativeOffsets;
    this.positions = positions;
  }

  /** The entry with the largest offset <= `target`; the segment start when there is none. */
  lookup(target: number): IndexEntry {
    const relative = target - this.baseOffset;
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.relativeOffsets[mid]! <= relative) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (found === -1) return { offset: this.baseOffset, position: 0 };
    return { offset: this.baseOffset + this.relativeOffsets[found]!, position: this.positions[found]! };
  }

  /** Drops entries at or past `position` (the segment file was truncated there). */
  truncateToPosition(position: number): void {
    while (this.count > 0 && this.positions[this.count - 1]! >= position) this.count--;
  }

  encode(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * OFFSET_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.count; i++) {
      buf.writeUInt32BE(this.relativeOffsets[i]!, i * OFFSET_INDEX_ENTRY_BYTES);
      buf.writeUInt32BE(this.positions[i]!, i * OFFSET_INDEX_ENTRY_BYTES + 4);
    }
    return buf;
  }
}

/**
 * Decodes an index file, or returns undefined when it is not a plausible index for a segment file of
 * `segmentBytes` (torn, garbled or stale): the caller then rebuilds it.
 */
export function decodeOffsetIndex(bytes: Buffer, baseOffset: number, segmentBytes: number): OffsetIndex | undefined {
  if (bytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return undefined;
  const count = bytes.length / OFFSET_INDEX_ENTRY_BYTES;
  const index = new OffsetIndex(baseOffset, Math.max(64, count));
  let previousRelative = -1;
  let previousPosition = -1;
  for (let i = 0; i < count; i++) {
    const relative = bytes.readUInt32BE(i * OFFSET_INDEX_ENTRY_BYTES);
    const position = bytes.readUInt32BE(i * OFFSET_INDEX_ENTRY_BYTES + 4);
    if (relative <= previousRelative || position <= previousPosition || position >= segmentBytes) return undefined;
    index.append(baseOffset + relative, position);
    previousRelative = relative;
    previousPosition = position;
  }
  return index;
}
