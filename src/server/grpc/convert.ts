/**
 * Wire messages to broker requests and broker results to wire messages. Decoding validates what the
 * proto's types cannot say (required names, non-negative numbers, int64 values past 2^53, the -1
 * convention of `partition`) and throws INVALID_ARGUMENT naming the field; the broker checks the
 * rest (limits, partition numbers, offsets in range) with its own errors.
 */
import type { FetchResult, OffsetSpec, ProduceRecord, ProduceRequest, ProduceResult, TopicDescription } from '../../broker.js';
import { checkBatch, scanRecords } from '../../base/index.js';
import type * as wire from '../../wire/index.js';
import { invalidField } from './status.js';

type FetchedLogRecord = FetchResult['records'][number];

/** A required name (topic): a non-empty string. The broker checks the naming rules. */
export function requireName(value: string, field: string): string {
  if (value.length === 0) throw invalidField(field, 'is required');
  return value;
}

/** An integer >= 0 that a JavaScript number holds exactly. */
export function nonNegativeInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidField(field, `must be a non-negative integer, got ${value}`, { value });
  return value;
}

function decodeRecord(record: wire.Record, field: string): ProduceRecord {
  const headers = record.headers.map((header) => ({ key: header.key, value: header.value ?? null }));
  if (record.timestampMs !== undefined) nonNegativeInteger(record.timestampMs, `${field}.timestamp_ms`);
  return {
    key: record.key ?? null,
    value: record.value ?? null,
    headers,
    ...(record.timestampMs === undefined ? {} : { timestampMs: record.timestampMs }),
  };
}

export function decodeProduceRequest(request: wire.ProduceRequest): ProduceRequest {
  const topic = requireName(request.topic, 'topic');
  if (request.partition !== undefined && request.partition < -1) {
    throw invalidField('partition', `must be a partition number, or -1 to route by key; got ${request.partition}`, { value: request.partition });
  }
  nonNegativeInteger(request.producerId, 'producer_id');
  nonNegativeInteger(request.producerEpoch, 'producer_epoch');
  if (request.producerId === 0 && request.producerEpoch !== 0) throw invalidField('producer_epoch', 'is set without a producer_id');
  const partitions = request.partitions.map((group, index) => {
    nonNegativeInteger(group.partition, `partitions[${index}].partition`);
    if (group.recordBatch !== undefined && group.recordBatch.length > 0) return decodeRecordBatch(request, group.recordBatch, group, `partitions[${index}]`);
    return {
      partition: group.partition,
      records: group.records.map((record, i) => decodeRecord(record, `partitions[${index}].records[${i}]`)),
      baseSequence: nonNegativeInteger(group.baseSequence, `partitions[${index}].base_sequence`),
    };
  });
  return {
    topic,
    records: request.records.map((record, i) => decodeRecord(record, `records[${i}]`)),
    partitions,
    ...(request.partition !== undefined && request.partition >= 0 ? { partition: request.partition } : {}),
    ...(request.producerId > 0 ? { producer: { producerId: request.producerId, producerEpoch: request.producerEpoch } } : {}),
  };
}

/**
 * A partition's records sent as one record batch (the log's format). Its checksum and structure are
 * checked here, the limits of its records by the broker from the scan; the log stores the batch as
 * sent (no decoding into records, no copy).
 */
function decodeRecordBatch(request: wire.ProduceRequest, bytes: Buffer, group: wire.PartitionRecords, field: string): NonNullable<ProduceRequest['partitions']>[number] {
  const batchField = `${field}.record_batch`;
  if (group.records.length > 0) throw invalidField(`${field}.records`, 'must be empty when record_batch is set');
  const check = checkBatch(bytes, 0, bytes.length);
  if (!check.ok) throw invalidField(batchField, `is not a valid record batch (${check.problem})`, { problem: check.problem });
  const { header } = check;
  if (header.batchBytes !== bytes.length) throw invalidField(batchField, `holds ${bytes.length} bytes, its header says ${header.batchBytes}`);
  const idempotent = request.producerId > 0;
  // Stored as sent, so its producer fields must be the request's (all -1 without an idempotent producer).
  if (
    idempotent
      ? header.producerId !== request.producerId || header.producerEpoch !== request.producerEpoch
      : header.producerId !== -1 || header.producerEpoch !== -1 || header.baseSequence !== -1
  ) {
    throw invalidField(batchField, `carries producer ${header.producerId} epoch ${header.producerEpoch}, the request producer ${request.producerId} epoch ${request.producerEpoch}`);
  }
  if (idempotent && header.baseSequence < 0) throw invalidField(batchField, 'needs a base sequence from an idempotent producer');
  // A valid checksum over malformed records: the sender's encoder is wrong.
  const scan = scanRecords(bytes);
  if ('problem' in scan) throw invalidField(batchField, `is not a valid record batch (${scan.problem})`, { problem: scan.problem });
  if (scan.minTimestampMs < 0) throw invalidField(batchField, `holds a record with timestamp ${scan.minTimestampMs}`);
  return { partition: group.partition, records: [], batch: { bytes, scan }, baseSequence: idempotent ? header.baseSequence : 0 };
}

export function encodeProduceResult(correlationId: number, result: ProduceResult): wire.ProduceResponse {
  return {
    correlationId,
    appends: result.appends.map((append) => ({
      partition: append.partition,
      baseOffset: append.baseOffset,
      lastOffset: append.lastOffset,
      recordCount: append.recordCount,
      duplicate: append.duplicate,
    })),
    durability: result.durability,
  };
}

/** Bytes a fetched record takes in a response beyond its key, value and headers (tags, offset, timestamp). */
const FETCHED_RECORD_OVERHEAD_BYTES = 32;
const HEADER_OVERHEAD_BYTES = 8;

function encodedRecordBytes(record: FetchedLogRecord): number {
  let bytes = FETCHED_RECORD_OVERHEAD_BYTES + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers) bytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(header.key) + (header.value?.length ?? 0);
  return bytes;
}

/**
 * The wire form of a fetch result, at most about `responseBytesMax` bytes: the log's byte budget
 * counts batch bytes, and a response spends more per record than a batch does, so records past the
 * budget are left for the next fetch (never the first one) and `nextOffset` points at them.
 */
export function encodeFetchResult(result: FetchResult, responseBytesMax: number): wire.FetchResponse {
  const records: wire.FetchedRecord[] = [];
  let bytes = 0;
  let nextOffset: number = result.nextOffset;
  for (const record of result.records) {
    bytes += encodedRecordBytes(record);
    if (records.length > 0 && bytes > responseBytesMax) {
      nextOffset = record.offset;
      break;
    }
    records.push({
      offset: record.offset,
      timestampMs: record.timestampMs,
      ...(record.key === null ? {} : { key: record.key }),
      ...(record.value === null ? {} : { value: record.value }),
      headers: record.headers.map((header) => (header.value === null ? { key: header.key } : { key: header.key, value: header.value })),
    });
  }
  return {
    topic: result.topic,
    partition: result.partition,
    records,
    nextOffset,
    logStartOffset: result.logStartOffset,
    highWatermark: result.highWatermark,
  };
}

export function decodeOffsetSpec(request: wire.ListOffsetsRequest): OffsetSpec {
  switch (request.spec) {
    case 'earliest':
      return { earliest: true };
    case 'latest':
      return { latest: true };
    case 'timestampMs':
      return { timestampMs: nonNegativeInteger(request.timestampMs ?? -1, 'timestamp_ms') };
    default:
      throw invalidField('spec', 'one of earliest, latest or timestamp_ms is required');
  }
}

function stringMap(values: Readonly<Record<string, string | number | boolean>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) result[key] = String(value);
  return result;
}

export function encodeTopicDescription(topic: TopicDescription): wire.TopicDescription {
  return {
    name: topic.name,
    partitionCount: topic.partitionCount,
    config: stringMap(topic.config),
    overrides: stringMap(topic.overrides),
    createdAtMs: topic.createdAtMs,
    partitions: topic.partitions.map((p) => ({
      partition: p.partition,
      logStartOffset: p.logStartOffset,
      logEndOffset: p.logEndOffset,
      highWatermark: p.highWatermark,
      sizeBytes: p.sizeBytes,
      segmentCount: p.segmentCount,
      offlineCode: p.offline?.code ?? '',
      offlineMessage: p.offline?.message ?? '',
    })),
  };
}
