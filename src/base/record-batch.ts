/**
 * The record-batch format: the unit written to segment files, sent on the wire and verified on read.
 * It lives in base because both sides of the wire use it: the log (storage/) stores these batches and
 * the client builds and reads them (produce requests and fetch answers carry them as bytes).
 *
 * Batch layout, big-endian. `baseOffset` and `batchLength` sit outside the checksum so the log can
 * stamp the offset a batch gets at append time without re-checksumming it; recovery checks offsets
 * by continuity instead (each batch's baseOffset must equal the previous batch's nextOffset).
 *
 * | offset | size | field                | meaning                                                    |
 * | ------ | ---- | -------------------- | ---------------------------------------------------------- |
 * | 0      | 8    | baseOffset           | int64, offset of the first record                          |
 * | 8      | 4    | batchLength          | int32, bytes that follow this field (total size - 12)      |
 * | 12     | 4    | crc                  | uint32, CRC-32 (IEEE) of bytes [16, end of batch)          |
 * | 16     | 1    | magic                | int8, format version, = 1                                  |
 * | 17     | 1    | attributes           | int8, bits 0-2 compression (0 = none, others reserved)      |
 * | 18     | 4    | partitionLeaderEpoch | int32, 0 on a single node (room for replication)           |
 * | 22     | 4    | lastOffsetDelta      | int32, lastOffset - baseOffset                             |
 * | 26     | 4    | recordCount          | int32, records in the batch (= lastOffsetDelta + 1)        |
 * | 30     | 8    | firstTimestamp       | int64, ms since epoch, timestamp of the first record       |
 * | 38     | 8    | maxTimestamp         | int64, largest record timestamp in the batch               |
 * | 46     | 8    | producerId           | int64, idempotent producer id, -1 for none                 |
 * | 54     | 2    | producerEpoch        | int16, -1 for none                                         |
 * | 56     | 4    | baseSequence         | int32, sequence of the first record, -1 for none           |
 * | 60     | ...  | records              | recordCount records, laid out as below                     |
 *
 * Record layout; every varint is a zigzag varint (as protobuf's sint64), so -1 encodes null:
 *
 * | field          | type         | meaning                                        |
 * | -------------- | ------------ | ---------------------------------------------- |
 * | length         | varint       | bytes of this record after this field          |
 * | attributes     | int8         | reserved, 0                                    |
 * | timestampDelta | varint       | timestamp - firstTimestamp                     |
 * | offsetDelta    | varint       | offset - baseOffset                            |
 * | keyLength      | varint       | -1 for a null key                              |
 * | key            | bytes        |                                                |
 * | valueLength    | varint       | -1 for a null value                            |
 * | value          | bytes        |                                                |
 * | headerCount    | varint       |                                                |
 * | headers        | headerCount times: keyLength varint, key (UTF-8), valueLength varint (-1 null), value |
 */
import { assert } from './assert.js';
import { crc32 } from './checksum.js';
import { type Offset, asOffset } from './ids.js';

export const BATCH_MAGIC = 1;

/** Byte offsets of the header fields (see the table above). */
export const Field = {
  baseOffset: 0,
  batchLength: 8,
  crc: 12,
  magic: 16,
  attributes: 17,
  partitionLeaderEpoch: 18,
  lastOffsetDelta: 22,
  recordCount: 26,
  firstTimestamp: 30,
  maxTimestamp: 38,
  producerId: 46,
  producerEpoch: 54,
  baseSequence: 56,
} as const;

export const BATCH_HEADER_BYTES = 60;
/** Bytes before the length field plus the field itself: total batch size = batchLength + this. */
export const BATCH_LENGTH_PREFIX_BYTES = 12;
/** First byte the checksum covers. */
const CRC_START = Field.magic;

const UINT32 = 0x1_0000_0000;

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface RecordInput {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: readonly RecordHeader[];
  timestampMs: number;
}

export interface BatchInput {
  records: readonly RecordInput[];
  /** Stamped by the log at append; 0 while the batch is being built. */
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
}

export interface BatchHeader {
  baseOffset: Offset;
  /** Total size of the batch in bytes, header included. */
  batchBytes: number;
  crc: number;
  magic: number;
  attributes: number;
  partitionLeaderEpoch: number;
  lastOffsetDelta: number;
  recordCount: number;
  firstTimestampMs: number;
  maxTimestampMs: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export interface LogRecord {
  offset: Offset;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

// ---- int64 and zigzag varints on JavaScript numbers (exact for safe integers) ----

function writeInt64(buf: Buffer, pos: number, value: number): void {
  const high = Math.floor(value / UINT32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * UINT32, pos + 4);
}

function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * UINT32 + buf.readUInt32BE(pos + 4);
}

function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function varintBytes(value: number): number {
  let zz = zigzag(value);
  let bytes = 1;
  while (zz >= 128) {
    zz = Math.floor(zz / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let zz = zigzag(value);
  while (zz >= 128) {
    buf[pos++] = (zz % 128) | 128;
    zz = Math.floor(zz / 128);
  }
  buf[pos++] = zz;
  return pos;
}

/** Reads a zigzag varint at `cursor.pos`, advancing it. Throws on a varint running past `end`. */
function readVarint(buf: Buffer, cursor: { pos: number }, end: number): number {
  let zz = 0;
  let scale = 1;
  for (;;) {
    assert(cursor.pos < end, 'varint runs past the end of its record');
    const byte = buf[cursor.pos++]!;
    zz += (byte & 127) * scale;
    if (byte < 128) break;
    scale *= 128;
    assert(scale <= 2 ** 56, 'varint longer than 8 bytes');
  }
  return zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2;
}

// ---- encode ----

function recordBodyBytes(record: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let bytes = 1 + varintBytes(timestampDelta) + varintBytes(offsetDelta);
  bytes += record.key === null ? varintBytes(-1) : varintBytes(record.key.length) + record.key.length;
  bytes += record.value === null ? varintBytes(-1) : varintBytes(record.value.length) + record.value.length;
  bytes += varintBytes(record.headers.length);
  for (const header of record.headers) {
    const keyBytes = Buffer.byteLength(header.key, 'utf8');
    bytes += varintBytes(keyBytes) + keyBytes;
    bytes += header.value === null ? varintBytes(-1) : varintBytes(header.value.length) + header.value.length;
  }
  return bytes;
}

function writeBytes(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Size in bytes of the batch `encodeBatch` would produce, without producing it. */
export function encodedBatchBytes(records: readonly RecordInput[]): number {
  const first = records[0]?.timestampMs ?? 0;
  let bytes = BATCH_HEADER_BYTES;
  records.forEach((record, i) => {
    const body = recordBodyBytes(record, record.timestampMs - first, i);
    bytes += varintBytes(body) + body;
  });
  return bytes;
}

/**
 * Splits records, in order, into groups that each encode to at most `batchBytesMax`. Returns
 * undefined when a single record cannot fit in a batch of that size (with its batch header).
 */
export function planBatches(records: readonly RecordInput[], batchBytesMax: number): RecordInput[][] | undefined {
  const groups: RecordInput[][] = [];
  let current: RecordInput[] = [];
  let currentBytes = BATCH_HEADER_BYTES;
  let firstTimestampMs = 0;
  for (const record of records) {
    if (current.length > 0) {
      const bytes = framedRecordBytes(record, firstTimestampMs, current.length);
      if (currentBytes + bytes <= batchBytesMax) {
        current.push(record);
        currentBytes += bytes;
        continue;
      }
      groups.push(current);
    }
    const alone = BATCH_HEADER_BYTES + framedRecordBytes(record, record.timestampMs, 0);
    if (alone > batchBytesMax) return undefined;
    current = [record];
    currentBytes = alone;
    firstTimestampMs = record.timestampMs;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Bytes a record takes in a batch whose first timestamp is `firstTimestampMs`, at `index`, length prefix included. */
function framedRecordBytes(record: RecordInput, firstTimestampMs: number, index: number): number {
  const body = recordBodyBytes(record, record.timestampMs - firstTimestampMs, index);
  return varintBytes(body) + body;
}

/** A batch measured by `sizeBatch`: its size, and what `writeBatch` needs to write it without measuring again. */
export interface SizedBatch {
  readonly input: BatchInput;
  /** Total size of the encoded batch in bytes. */
  readonly bytes: number;
  readonly firstTimestampMs: number;
  readonly maxTimestampMs: number;
  /** Body size of each record (the varint length prefix excluded). */
  readonly bodies: readonly number[];
}

/** Measures the batch `input` encodes to. The batch must hold at least one record. */
export function sizeBatch(input: BatchInput): SizedBatch {
  const { records } = input;
  assert(records.length > 0, 'a batch holds at least one record');
  const firstTimestampMs = records[0]!.timestampMs;
  let maxTimestampMs = firstTimestampMs;
  const bodies: number[] = [];
  let bytes = BATCH_HEADER_BYTES;
  records.forEach((record, i) => {
    if (record.timestampMs > maxTimestampMs) maxTimestampMs = record.timestampMs;
    const body = recordBodyBytes(record, record.timestampMs - firstTimestampMs, i);
    bodies.push(body);
    bytes += varintBytes(body) + body;
  });
  return { input, bytes, firstTimestampMs, maxTimestampMs, bodies };
}

/**
 * Writes a measured batch, checksummed, into `buf` at `at` (`sized.bytes` bytes), so that a caller
 * framing it in a bigger message (the client's produce request) needs no second copy.
 */
export function writeBatch(sized: SizedBatch, buf: Buffer, at: number): void {
  const { input, bodies, firstTimestampMs } = sized;
  const { records } = input;
  const end = at + sized.bytes;
  assert(end <= buf.length, () => `a batch of ${sized.bytes} bytes does not fit at ${at} in ${buf.length} bytes`);
  writeInt64(buf, at + Field.baseOffset, input.baseOffset ?? 0);
  buf.writeInt32BE(sized.bytes - BATCH_LENGTH_PREFIX_BYTES, at + Field.batchLength);
  buf.writeInt8(BATCH_MAGIC, at + Field.magic);
  buf.writeInt8(0, at + Field.attributes);
  buf.writeInt32BE(input.partitionLeaderEpoch ?? 0, at + Field.partitionLeaderEpoch);
  buf.writeInt32BE(records.length - 1, at + Field.lastOffsetDelta);
  buf.writeInt32BE(records.length, at + Field.recordCount);
  writeInt64(buf, at + Field.firstTimestamp, firstTimestampMs);
  writeInt64(buf, at + Field.maxTimestamp, sized.maxTimestampMs);
  writeInt64(buf, at + Field.producerId, input.producerId ?? -1);
  buf.writeInt16BE(input.producerEpoch ?? -1, at + Field.producerEpoch);
  buf.writeInt32BE(input.baseSequence ?? -1, at + Field.baseSequence);

  let pos = at + BATCH_HEADER_BYTES;
  records.forEach((record, i) => {
    pos = writeVarint(buf, pos, bodies[i]!);
    buf[pos++] = 0;
    pos = writeVarint(buf, pos, record.timestampMs - firstTimestampMs);
    pos = writeVarint(buf, pos, i);
    pos = writeBytes(buf, pos, record.key);
    pos = writeBytes(buf, pos, record.value);
    pos = writeVarint(buf, pos, record.headers.length);
    for (const header of record.headers) {
      pos = writeBytes(buf, pos, Buffer.from(header.key, 'utf8'));
      pos = writeBytes(buf, pos, header.value);
    }
  });
  assert(pos === end, () => `encoded ${pos - at} bytes, sized ${sized.bytes}`);
  buf.writeUInt32BE(crc32(buf.subarray(at + CRC_START, end)), at + Field.crc);
}

/** Encodes records into one checksummed batch. The batch must hold at least one record. */
export function encodeBatch(input: BatchInput): Buffer {
  const sized = sizeBatch(input);
  const buf = Buffer.allocUnsafe(sized.bytes);
  writeBatch(sized, buf, 0);
  return buf;
}

/** Stamps the offset a batch gets in the log. The checksum does not cover it, so it stays valid. */
export function setBaseOffset(batch: Buffer, baseOffset: number): void {
  writeInt64(batch, Field.baseOffset, baseOffset);
}

// ---- verify and decode ----

export type BatchProblem =
  | 'short-header' // fewer than BATCH_HEADER_BYTES bytes left
  | 'bad-length' // batchLength below the header size or above the allowed maximum
  | 'short-batch' // the batch runs past the end of the bytes available
  | 'bad-magic'
  | 'bad-crc'
  | 'bad-count'; // recordCount disagrees with lastOffsetDelta

export type BatchCheck = { ok: true; header: BatchHeader } | { ok: false; problem: BatchProblem };

/** Reads the header fields at `pos` without checking anything. */
export function readBatchHeader(buf: Buffer, pos: number): BatchHeader {
  return {
    baseOffset: asOffset(readInt64(buf, pos + Field.baseOffset)),
    batchBytes: buf.readInt32BE(pos + Field.batchLength) + BATCH_LENGTH_PREFIX_BYTES,
    crc: buf.readUInt32BE(pos + Field.crc),
    magic: buf.readInt8(pos + Field.magic),
    attributes: buf.readInt8(pos + Field.attributes),
    partitionLeaderEpoch: buf.readInt32BE(pos + Field.partitionLeaderEpoch),
    lastOffsetDelta: buf.readInt32BE(pos + Field.lastOffsetDelta),
    recordCount: buf.readInt32BE(pos + Field.recordCount),
    firstTimestampMs: readInt64(buf, pos + Field.firstTimestamp),
    maxTimestampMs: readInt64(buf, pos + Field.maxTimestamp),
    producerId: readInt64(buf, pos + Field.producerId),
    producerEpoch: buf.readInt16BE(pos + Field.producerEpoch),
    baseSequence: buf.readInt32BE(pos + Field.baseSequence),
  };
}

/**
 * Checks that `buf` holds one whole, intact batch at `pos`: length in bounds, magic, record count and
 * checksum. `batchBytesMax` bounds the length field, so garbage cannot make us read gigabytes.
 */
export function checkBatch(buf: Buffer, pos: number, batchBytesMax: number): BatchCheck {
  if (buf.length - pos < BATCH_HEADER_BYTES) return { ok: false, problem: 'short-header' };
  const batchBytes = buf.readInt32BE(pos + Field.batchLength) + BATCH_LENGTH_PREFIX_BYTES;
  if (batchBytes < BATCH_HEADER_BYTES || batchBytes > batchBytesMax) return { ok: false, problem: 'bad-length' };
  if (buf.readInt8(pos + Field.magic) !== BATCH_MAGIC) return { ok: false, problem: 'bad-magic' };
  if (buf.length - pos < batchBytes) return { ok: false, problem: 'short-batch' };
  const header = readBatchHeader(buf, pos);
  if (header.recordCount !== header.lastOffsetDelta + 1 || header.recordCount < 1) return { ok: false, problem: 'bad-count' };
  if (crc32(buf.subarray(pos + CRC_START, pos + batchBytes)) !== header.crc) return { ok: false, problem: 'bad-crc' };
  return { ok: true, header };
}

export function batchLastOffset(header: BatchHeader): Offset {
  return asOffset(header.baseOffset + header.lastOffsetDelta);
}

export function batchNextOffset(header: BatchHeader): Offset {
  return asOffset(header.baseOffset + header.lastOffsetDelta + 1);
}

function readBytes(buf: Buffer, cursor: { pos: number }, end: number): Buffer | null {
  const length = readVarint(buf, cursor, end);
  if (length === -1) return null;
  assert(length >= 0 && cursor.pos + length <= end, 'field length runs past the end of its record');
  const bytes = buf.subarray(cursor.pos, cursor.pos + length);
  cursor.pos += length;
  return bytes;
}

/**
 * Decodes the records of a batch that `checkBatch` accepted. Keys, values and header values are views
 * into `batch` (no copy). A structural error here, behind a valid checksum, is our own encoder's bug.
 */
export function decodeRecords(batch: Buffer): LogRecord[] {
  const header = readBatchHeader(batch, 0);
  const records: LogRecord[] = [];
  const cursor = { pos: BATCH_HEADER_BYTES };
  for (let i = 0; i < header.recordCount; i++) {
    const length = readVarint(batch, cursor, header.batchBytes);
    const end = cursor.pos + length;
    assert(end <= header.batchBytes, 'record runs past the end of its batch');
    cursor.pos++; // attributes
    const timestampDelta = readVarint(batch, cursor, end);
    const offsetDelta = readVarint(batch, cursor, end);
    const key = readBytes(batch, cursor, end);
    const value = readBytes(batch, cursor, end);
    const headerCount = readVarint(batch, cursor, end);
    const headers: LogRecord['headers'] = [];
    for (let h = 0; h < headerCount; h++) {
      const headerKey = readBytes(batch, cursor, end);
      assert(headerKey !== null, 'a header key is never null');
      headers.push({ key: headerKey.toString('utf8'), value: readBytes(batch, cursor, end) });
    }
    assert(cursor.pos === end, 'record length disagrees with its fields');
    records.push({
      offset: asOffset(header.baseOffset + offsetDelta),
      timestampMs: header.firstTimestampMs + timestampDelta,
      key,
      value,
      headers,
    });
  }
  assert(cursor.pos === header.batchBytes, 'batch length disagrees with its records');
  return records;
}

/** What `scanRecords` learns of a batch's records without decoding them into objects. */
export interface RecordsScan {
  recordCount: number;
  /** Key, value, header key and header value bytes of all records (what the record limits count). */
  payloadBytes: number;
  largestRecordBytes: number;
  largestKeyBytes: number;
  mostHeaders: number;
  minTimestampMs: number;
}

/**
 * Walks the records of a batch that `checkBatch` accepted, from a sender we do not trust, checking
 * everything the log relies on when it stores the batch as sent: no compression, leader epoch 0,
 * offset deltas 0, 1, 2, ..., the header's max timestamp, and every length inside its record.
 * Nothing is allocated per record.
 */
export function scanRecords(batch: Buffer): RecordsScan | { problem: string } {
  const header = readBatchHeader(batch, 0);
  if (header.attributes !== 0) return { problem: `attributes ${header.attributes}: compression is not supported` };
  if (header.partitionLeaderEpoch !== 0) return { problem: `partition leader epoch ${header.partitionLeaderEpoch}, expected 0` };
  const end = header.batchBytes;
  const cursor = { pos: BATCH_HEADER_BYTES };
  const scan: RecordsScan = { recordCount: header.recordCount, payloadBytes: 0, largestRecordBytes: 0, largestKeyBytes: 0, mostHeaders: 0, minTimestampMs: Infinity };
  let maxTimestampMs = -Infinity;
  // Skips a length-prefixed field: its length, -1 for null, or undefined when it runs past `limit`.
  const skipField = (limit: number): number | undefined => {
    const length = readVarint(batch, cursor, limit);
    if (length === -1) return -1;
    if (length < 0 || cursor.pos + length > limit) return undefined;
    cursor.pos += length;
    return length;
  };
  try {
    for (let i = 0; i < header.recordCount; i++) {
      const length = readVarint(batch, cursor, end);
      const recordEnd = cursor.pos + length;
      if (length < 1 || recordEnd > end) return { problem: `record ${i} runs past the end of the batch` };
      if (batch[cursor.pos++] !== 0) return { problem: `record ${i} has attributes set` };
      const timestampMs = header.firstTimestampMs + readVarint(batch, cursor, recordEnd);
      if (readVarint(batch, cursor, recordEnd) !== i) return { problem: `record ${i} has an offset delta other than ${i}` };
      const keyBytes = skipField(recordEnd);
      const valueBytes = skipField(recordEnd);
      if (keyBytes === undefined || valueBytes === undefined) return { problem: `record ${i} has a key or value past its end` };
      const headerCount = readVarint(batch, cursor, recordEnd);
      if (headerCount < 0) return { problem: `record ${i} has a negative header count` };
      let recordBytes = Math.max(0, keyBytes) + Math.max(0, valueBytes);
      for (let h = 0; h < headerCount; h++) {
        const headerKey = skipField(recordEnd);
        const headerValue = skipField(recordEnd);
        if (headerKey === undefined || headerKey === -1 || headerValue === undefined) return { problem: `record ${i} has a malformed header` };
        recordBytes += headerKey + Math.max(0, headerValue);
      }
      if (cursor.pos !== recordEnd) return { problem: `record ${i} length disagrees with its fields` };
      scan.payloadBytes += recordBytes;
      scan.largestRecordBytes = Math.max(scan.largestRecordBytes, recordBytes);
      scan.largestKeyBytes = Math.max(scan.largestKeyBytes, keyBytes);
      scan.mostHeaders = Math.max(scan.mostHeaders, headerCount);
      scan.minTimestampMs = Math.min(scan.minTimestampMs, timestampMs);
      maxTimestampMs = Math.max(maxTimestampMs, timestampMs);
    }
  } catch (error) {
    // readVarint's own bound checks (a varint running past its record).
    return { problem: error instanceof Error ? error.message : String(error) };
  }
  if (cursor.pos !== end) return { problem: 'the batch length disagrees with its records' };
  if (maxTimestampMs !== header.maxTimestampMs) return { problem: `max timestamp ${header.maxTimestampMs}, the records' is ${maxTimestampMs}` };
  return scan;
}

/** Splits a buffer of whole, consecutive batches (as `read` returns) into batch views. */
export function splitBatches(bytes: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const batchBytes = bytes.readInt32BE(pos + Field.batchLength) + BATCH_LENGTH_PREFIX_BYTES;
    assert(batchBytes >= BATCH_HEADER_BYTES && pos + batchBytes <= bytes.length, 'not a sequence of whole batches');
    batches.push(bytes.subarray(pos, pos + batchBytes));
    pos += batchBytes;
  }
  return batches;
}

/**
 * The records of `batch` from `firstOffset` to `lastOffset` as a batch of their own, based at
 * `firstOffset`: how part of a stored batch is handed out without decoding its records. Keys,
 * values and headers are copied as bytes; only each record's length, timestamp delta and offset
 * delta are rewritten. Returns `batch` itself when the range covers all of it.
 */
export function sliceBatch(batch: Buffer, firstOffset: number, lastOffset: number): Buffer {
  const header = readBatchHeader(batch, 0);
  const skip = firstOffset - header.baseOffset;
  const count = lastOffset - firstOffset + 1;
  assert(skip >= 0 && count >= 1 && skip + count <= header.recordCount, () => `offsets ${firstOffset}-${lastOffset} are not inside the batch`);
  if (skip === 0 && count === header.recordCount) return batch;
  const end = header.batchBytes;
  const cursor = { pos: BATCH_HEADER_BYTES };
  for (let i = 0; i < skip; i++) {
    const length = readVarint(batch, cursor, end);
    cursor.pos += length;
  }
  const start = cursor.pos;

  // First pass: the slice's size and timestamps (the first kept record's timestamp becomes the base).
  let total = BATCH_HEADER_BYTES;
  let firstDelta = 0;
  let maxDelta = 0;
  for (let i = 0; i < count; i++) {
    const length = readVarint(batch, cursor, end);
    const recordEnd = cursor.pos + length;
    cursor.pos++; // attributes
    const timestampDelta = readVarint(batch, cursor, recordEnd);
    readVarint(batch, cursor, recordEnd); // offsetDelta, rewritten
    if (i === 0) firstDelta = maxDelta = timestampDelta;
    else if (timestampDelta > maxDelta) maxDelta = timestampDelta;
    const body = 1 + varintBytes(timestampDelta - firstDelta) + varintBytes(i) + (recordEnd - cursor.pos);
    total += varintBytes(body) + body;
    cursor.pos = recordEnd;
  }

  const out = Buffer.allocUnsafe(total);
  batch.copy(out, 0, 0, BATCH_HEADER_BYTES);
  writeInt64(out, Field.baseOffset, firstOffset);
  out.writeInt32BE(total - BATCH_LENGTH_PREFIX_BYTES, Field.batchLength);
  out.writeInt32BE(count - 1, Field.lastOffsetDelta);
  out.writeInt32BE(count, Field.recordCount);
  writeInt64(out, Field.firstTimestamp, header.firstTimestampMs + firstDelta);
  writeInt64(out, Field.maxTimestamp, header.firstTimestampMs + maxDelta);
  if (header.baseSequence !== -1) out.writeInt32BE(header.baseSequence + skip, Field.baseSequence);

  // Second pass: each record with its deltas rebased and the rest of its bytes copied as they are.
  cursor.pos = start;
  let pos = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const length = readVarint(batch, cursor, end);
    const recordEnd = cursor.pos + length;
    const attributes = batch[cursor.pos++]!;
    const timestampDelta = readVarint(batch, cursor, recordEnd);
    readVarint(batch, cursor, recordEnd);
    const rest = recordEnd - cursor.pos;
    pos = writeVarint(out, pos, 1 + varintBytes(timestampDelta - firstDelta) + varintBytes(i) + rest);
    out[pos++] = attributes;
    pos = writeVarint(out, pos, timestampDelta - firstDelta);
    pos = writeVarint(out, pos, i);
    batch.copy(out, pos, cursor.pos, recordEnd);
    pos += rest;
    cursor.pos = recordEnd;
  }
  assert(pos === total, () => `sliced ${pos} bytes, sized ${total}`);
  out.writeUInt32BE(crc32(out.subarray(CRC_START)), Field.crc);
  return out;
}
