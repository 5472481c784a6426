/**
 * The client's public request and result types, and their conversion to and from the wire messages.
 * Keys, values and header values accept strings (sent as UTF-8) or bytes; they come back as Buffers.
 * `null` (or leaving a key or value out) sends no key or value, which a consumer sees as `null`;
 * an empty string or buffer is a present, empty one.
 */
import type * as wire from '../wire/index.js';
import { clientError, fromWireError } from './errors.js';

export type Bytes = Uint8Array | string;

export interface HeaderInput {
  key: string;
  value?: Bytes | null;
}

export interface ProducerRecord {
  key?: Bytes | null;
  value?: Bytes | null;
  headers?: readonly HeaderInput[];
  /**
   * Milliseconds since the Unix epoch. When absent: the broker's clock for records it routes
   * (`records`), this client's clock for records routed here (`partitions`, sent as a record batch).
   */
  timestampMs?: number;
}

export interface ProducerIdentity {
  producerId: number;
  producerEpoch: number;
}

export interface PartitionRecordsInput {
  partition: number;
  records: readonly ProducerRecord[];
  /** The idempotent producer's sequence of the first record (required with `producer`). */
  baseSequence?: number;
}

export interface ProduceRequest {
  topic: string;
  /** Records the broker routes: to `partition` if given, else by key (Kafka's partitioner), keyless ones sticky. */
  records?: readonly ProducerRecord[];
  partition?: number;
  /** Records routed by the client; the only form an idempotent producer may send. */
  partitions?: readonly PartitionRecordsInput[];
  /** The idempotent producer's id and epoch (from `initProducer`). */
  producer?: ProducerIdentity;
}

export interface PartitionAppend {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  recordCount: number;
  /** A retry of a batch already written: these are its original offsets. */
  duplicate: boolean;
}

export type Durability = 'fsynced' | 'written';

export interface ProduceResult {
  appends: PartitionAppend[];
  /** What the acknowledgment means (README "Durability"). */
  durability: Durability;
}

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface ConsumedRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  /** Byte budget of the response; the broker's fetchBytesMax when absent. */
  maxBytes?: number;
  /** Long poll: wait up to this long for a record when none is available (0 or absent: answer at once). */
  maxWaitMs?: number;
}

export interface FetchResult {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** Where to fetch next. */
  nextOffset: number;
  logStartOffset: number;
  highWatermark: number;
}

export interface SubscribeRequest {
  topic: string;
  partition: number;
  offset: number;
  /** Byte budget of each batch the stream delivers; the broker's fetchBytesMax when absent. */
  maxBytes?: number;
}

export type OffsetSpec = 'earliest' | 'latest' | { timestampMs: number };

export interface ListOffsetsRequest {
  topic: string;
  /** All partitions when absent or empty. */
  partitions?: readonly number[];
  spec: OffsetSpec;
}

export interface PartitionOffset {
  partition: number;
  /** For a timestamp: the first offset at or after it, or the high watermark when none is that new. */
  offset: number;
  logStartOffset: number;
  highWatermark: number;
}

export interface BrokerAddress {
  brokerId: number;
  host: string;
  port: number;
}

export interface TopicMetadata {
  name: string;
  partitions: { partition: number; leaderBrokerId: number }[];
}

export interface ClusterMetadata {
  brokers: BrokerAddress[];
  topics: TopicMetadata[];
}

export interface CreateTopicRequest {
  name: string;
  partitionCount: number;
  /** Per-topic settings (README "Topic settings"). */
  config?: Readonly<Record<string, string | number | boolean>>;
}

export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
  sizeBytes: number;
  segmentCount: number;
  /** Set when the partition is offline: the error that took it offline. */
  offline?: { code: string; message: string };
}

export interface TopicDescription {
  name: string;
  partitionCount: number;
  /** Every setting in effect. */
  config: Record<string, string>;
  /** Only the settings this topic overrides. */
  overrides: Record<string, string>;
  createdAtMs: number;
  partitions: PartitionDescription[];
}

/** Which dead letters a redrive republishes, and how (README "Dead-letter topics"). */
export interface RedriveRequest {
  topic: string;
  /** Republish here instead of each record's original topic. */
  toTopic?: string;
  dlqPartition?: number;
  fromOffset?: number;
  toOffset?: number;
  originalPartition?: number;
  errorContains?: string;
  dryRun?: boolean;
  recordsPerSecondMax?: number;
  /** Loop guard: skip records redriven this often (default 3) unless `force`. */
  redriveCountMax?: number;
  force?: boolean;
}

// ---- to the wire ----

export function toBuffer(value: Bytes): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}


export function encodeListOffsetsRequest(request: ListOffsetsRequest): wire.ListOffsetsRequest {
  const { spec } = request;
  return {
    topic: request.topic,
    partitions: [...(request.partitions ?? [])],
    ...(spec === 'earliest' ? { earliest: true } : spec === 'latest' ? { latest: true } : { timestampMs: spec.timestampMs }),
  };
}

export function encodeCreateTopicRequest(request: CreateTopicRequest): wire.CreateTopicRequest {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.config ?? {})) config[key] = String(value);
  return { name: request.name, partitionCount: request.partitionCount, config };
}

// ---- from the wire ----

/** The result of a produce response, or its in-band error thrown as a SluiceError. */
export function decodeProduceResponse(response: wire.ProduceResponse): ProduceResult {
  if (response.error !== undefined && response.error !== null) throw fromWireError(response.error);
  if (response.durability !== 'fsynced' && response.durability !== 'written') {
    throw clientError('PROTOCOL_ERROR', `unknown durability ${JSON.stringify(response.durability)} in a produce response`);
  }
  return {
    appends: response.appends.map((a) => ({
      partition: a.partition,
      baseOffset: a.baseOffset,
      lastOffset: a.lastOffset,
      recordCount: a.recordCount,
      duplicate: a.duplicate,
    })),
    durability: response.durability,
  };
}

export function decodeFetchResponse(response: wire.FetchResponse): FetchResult {
  return {
    topic: response.topic,
    partition: response.partition,
    records: response.records.map((r) => ({
      offset: r.offset,
      timestampMs: r.timestampMs,
      key: r.key ?? null,
      value: r.value ?? null,
      headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? null })),
    })),
    nextOffset: response.nextOffset,
    logStartOffset: response.logStartOffset,
    highWatermark: response.highWatermark,
  };
}

export function decodeTopicDescription(topic: wire.TopicDescription): TopicDescription {
  return {
    name: topic.name,
    partitionCount: topic.partitionCount,
    config: { ...topic.config },
    overrides: { ...topic.overrides },
    createdAtMs: topic.createdAtMs,
    partitions: topic.partitions.map((p) => ({
      partition: p.partition,
      logStartOffset: p.logStartOffset,
      logEndOffset: p.logEndOffset,
      highWatermark: p.highWatermark,
      sizeBytes: p.sizeBytes,
      segmentCount: p.segmentCount,
      ...(p.offlineCode === '' ? {} : { offline: { code: p.offlineCode, message: p.offlineMessage } }),
    })),
  };
}
