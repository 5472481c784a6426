/**
 * A ProduceRequest as the bytes of its protobuf message, what the client's Produce and
 * ProduceStream calls send (their serializer passes the bytes through).
 *
 * Records routed by the client (`partitions`, all the Producer sends) travel as one record batch
 * per partition in the log's format, and the batches are written straight into the message: one
 * buffer, each value copied once. Encoding the batches first and then the message copied every
 * value twice into fresh memory, and on this VM a fresh page costs ~11 us to fault in (a cold
 * producer of 1 KiB records spent a third of its first second there). Requests the broker routes
 * (`records`, or a field outside the direct writer's range) go through protobufjs as before.
 */
import { type RecordInput, type SizedBatch, encodeBatch, sizeBatch, writeBatch } from '../base/index.js';
import { brokerService, type ProduceRequest as WireProduceRequest, type PartitionRecords as WirePartitionRecords, type Record as WireRecord } from '../wire/index.js';
import { type ProduceRequest, type ProducerIdentity, type ProducerRecord, toBuffer } from './types.js';

// Field numbers and wire types of broker.proto's ProduceRequest and PartitionRecords.
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const REQUEST_TOPIC = 1;
const REQUEST_PARTITIONS = 3;
const REQUEST_PRODUCER_ID = 5;
const REQUEST_PRODUCER_EPOCH = 6;
const REQUEST_CORRELATION_ID = 7;
const REQUEST_CLIENT_ID = 8;
const PARTITION_PARTITION = 1;
const PARTITION_BASE_SEQUENCE = 3;
const PARTITION_RECORD_BATCH = 4;

const INT32_MAX = 2 ** 31 - 1;

export function encodeProduceRequest(request: ProduceRequest, correlationId: number, clientId: string): Buffer {
  const partitions = request.partitions ?? [];
  const direct =
    (request.records ?? []).length === 0 &&
    request.partition === undefined &&
    isUnsignedField(request.producer?.producerId ?? 0, Number.MAX_SAFE_INTEGER) &&
    isUnsignedField(request.producer?.producerEpoch ?? 0, INT32_MAX) &&
    isUnsignedField(correlationId, Number.MAX_SAFE_INTEGER) &&
    partitions.every((p) => isUnsignedField(p.partition, INT32_MAX) && isUnsignedField(p.baseSequence ?? 0, INT32_MAX));
  return direct ? writeProduceRequest(request, correlationId, clientId) : brokerService.Produce.requestSerialize(toWireRequest(request, correlationId, clientId));
}

/** A value the direct writer encodes as protobuf does: a non-negative integer (negative int32s take ten bytes there). */
function isUnsignedField(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

interface PartitionPart {
  partition: number;
  baseSequence: number;
  batch: SizedBatch | undefined;
  /** Size of the PartitionRecords message, its own tag and length excluded. */
  bytes: number;
}

function writeProduceRequest(request: ProduceRequest, correlationId: number, clientId: string): Buffer {
  const nowMs = Date.now();
  const producerId = request.producer?.producerId ?? 0;
  const producerEpoch = request.producer?.producerEpoch ?? 0;
  const parts = (request.partitions ?? []).map((p): PartitionPart => {
    // An empty list stays a message without a batch, for the broker to refuse with its own error.
    const batch = p.records.length === 0 ? undefined : sizeBatch(batchInput(p.records, request.producer, p.baseSequence, nowMs));
    const baseSequence = batch === undefined ? (p.baseSequence ?? 0) : 0;
    const bytes = varintField(p.partition) + varintField(baseSequence) + (batch === undefined ? 0 : delimitedField(batch.bytes));
    return { partition: p.partition, baseSequence, batch, bytes };
  });
  const topicBytes = Buffer.byteLength(request.topic, 'utf8');
  const clientIdBytes = Buffer.byteLength(clientId, 'utf8');
  let total = delimitedField(topicBytes) + delimitedField(clientIdBytes);
  total += varintField(producerId) + varintField(producerEpoch) + varintField(correlationId);
  for (const part of parts) total += delimitedField(part.bytes);

  const buf = Buffer.allocUnsafe(total);
  let pos = writeTag(buf, 0, REQUEST_TOPIC, LENGTH_DELIMITED);
  pos = writeUnsigned(buf, pos, topicBytes);
  pos += buf.write(request.topic, pos, 'utf8');
  for (const part of parts) {
    pos = writeTag(buf, pos, REQUEST_PARTITIONS, LENGTH_DELIMITED);
    pos = writeUnsigned(buf, pos, part.bytes);
    pos = writeVarintField(buf, pos, PARTITION_PARTITION, part.partition);
    pos = writeVarintField(buf, pos, PARTITION_BASE_SEQUENCE, part.baseSequence);
    if (part.batch !== undefined) {
      pos = writeTag(buf, pos, PARTITION_RECORD_BATCH, LENGTH_DELIMITED);
      pos = writeUnsigned(buf, pos, part.batch.bytes);
      writeBatch(part.batch, buf, pos);
      pos += part.batch.bytes;
    }
  }
  pos = writeVarintField(buf, pos, REQUEST_PRODUCER_ID, producerId);
  pos = writeVarintField(buf, pos, REQUEST_PRODUCER_EPOCH, producerEpoch);
  pos = writeVarintField(buf, pos, REQUEST_CORRELATION_ID, correlationId);
  pos = writeTag(buf, pos, REQUEST_CLIENT_ID, LENGTH_DELIMITED);
  pos = writeUnsigned(buf, pos, clientIdBytes);
  pos += buf.write(clientId, pos, 'utf8');
  if (pos !== total) throw new Error(`ProduceRequest: wrote ${pos} bytes, sized ${total}`);
  return buf;
}

// ---- protobuf framing: proto3 leaves fields at their zero value out ----

function unsignedBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a varint field (tag included), or 0 for a zero value. */
function varintField(value: number): number {
  return value === 0 ? 0 : 1 + unsignedBytes(value);
}

/** Bytes of a length-delimited field of `length` bytes (tag and length included). */
function delimitedField(length: number): number {
  return 1 + unsignedBytes(length) + length;
}

function writeUnsigned(buf: Buffer, pos: number, value: number): number {
  while (value >= 128) {
    buf[pos++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/** Every field number here is below 16, so a tag is one byte. */
function writeTag(buf: Buffer, pos: number, field: number, wireType: number): number {
  buf[pos] = (field << 3) | wireType;
  return pos + 1;
}

function writeVarintField(buf: Buffer, pos: number, field: number, value: number): number {
  if (value === 0) return pos;
  return writeUnsigned(buf, writeTag(buf, pos, field, VARINT), value);
}

// ---- records ----

function batchInput(records: readonly ProducerRecord[], producer: ProducerIdentity | undefined, baseSequence: number | undefined, nowMs: number) {
  return {
    records: records.map((record) => (isRecordInput(record) ? record : toRecordInput(record, nowMs))),
    producerId: producer?.producerId ?? -1,
    producerEpoch: producer?.producerEpoch ?? -1,
    baseSequence: producer === undefined ? -1 : (baseSequence ?? 0),
  };
}

/** Already in the encoder's shape (as the Producer's records are): encoded as is, without a copy per record. */
function isRecordInput(record: ProducerRecord): record is RecordInput {
  return (
    record.timestampMs !== undefined &&
    (record.key === null || Buffer.isBuffer(record.key)) &&
    (record.value === null || Buffer.isBuffer(record.value)) &&
    record.headers !== undefined &&
    record.headers.every((h) => h.value === null || Buffer.isBuffer(h.value))
  );
}

function toRecordInput(record: ProducerRecord, nowMs: number): RecordInput {
  return {
    key: record.key === undefined || record.key === null ? null : toBuffer(record.key),
    value: record.value === undefined || record.value === null ? null : toBuffer(record.value),
    headers: (record.headers ?? []).map((h) => ({ key: h.key, value: h.value === undefined || h.value === null ? null : toBuffer(h.value) })),
    timestampMs: record.timestampMs ?? nowMs,
  };
}

// ---- through protobufjs: records the broker routes ----

function toWireRequest(request: ProduceRequest, correlationId: number, clientId: string): WireProduceRequest {
  const nowMs = Date.now();
  return {
    topic: request.topic,
    records: (request.records ?? []).map(toWireRecord),
    partitions: (request.partitions ?? []).map((p): WirePartitionRecords => {
      if (p.records.length === 0) return { partition: p.partition, records: [], baseSequence: p.baseSequence ?? 0 };
      return { partition: p.partition, records: [], baseSequence: 0, recordBatch: encodeBatch(batchInput(p.records, request.producer, p.baseSequence, nowMs)) };
    }),
    ...(request.partition === undefined ? {} : { partition: request.partition }),
    producerId: request.producer?.producerId ?? 0,
    producerEpoch: request.producer?.producerEpoch ?? 0,
    correlationId,
    clientId,
  };
}

function toWireRecord(record: ProducerRecord): WireRecord {
  return {
    headers: (record.headers ?? []).map((h) => (h.value === undefined || h.value === null ? { key: h.key } : { key: h.key, value: toBuffer(h.value) })),
    ...(record.key === undefined || record.key === null ? {} : { key: toBuffer(record.key) }),
    ...(record.value === undefined || record.value === null ? {} : { value: toBuffer(record.value) }),
    ...(record.timestampMs === undefined ? {} : { timestampMs: record.timestampMs }),
  };
}
