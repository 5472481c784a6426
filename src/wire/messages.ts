/**
 * TypeScript shapes of the messages in proto/sluice/v1/broker.proto, as @grpc/proto-loader decodes
 * them with the options in `proto.ts`: field names in camelCase, int64 and uint64 as JavaScript
 * numbers (offsets stay below 2^53 by design, see src/base/ids.ts), bytes as Buffer, and every
 * absent scalar, repeated or map field filled with its zero value. Fields declared `optional` in the
 * proto are absent (`undefined`) when not sent, which is how a null key differs from an empty one.
 * A `oneof` also names its present member (`ListOffsetsRequest.spec`).
 *
 * Senders fill the same shapes; the encoder ignores `undefined` fields. Keep this file in step with
 * the proto: a field added there is added here, with the proto's comment.
 */

export interface Header {
  key: string;
  value?: Buffer;
}

export interface Record {
  key?: Buffer;
  value?: Buffer;
  headers: Header[];
  /** Milliseconds since the Unix epoch; the broker's clock when absent. */
  timestampMs?: number;
}

/** Records routed to one partition, numbered from `baseSequence` by an idempotent producer. */
export interface PartitionRecords {
  partition: number;
  records: Record[];
  baseSequence: number;
  /**
   * Instead of `records`: one record batch in the log's format (base/record-batch.ts), producer id,
   * epoch and base sequence in its header. Absent or empty when `records` are used.
   */
  recordBatch?: Buffer;
}

export interface ProduceRequest {
  topic: string;
  /** Records the broker routes: by `partition` if set (>= 0), else by key; keyless ones sticky. */
  records: Record[];
  /** Records routed by the client (required with `producerId`). */
  partitions: PartitionRecords[];
  /** Explicit partition for all of `records`; -1 or absent routes by key. */
  partition?: number;
  /** Idempotent producer: 0 for none. */
  producerId: number;
  producerEpoch: number;
  /** Echoed in the response; streams match responses to requests by it. */
  correlationId: number;
  /** Identifies the producer for quotas and metrics (empty: the connection's peer). */
  clientId: string;
}

export interface PartitionAppend {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  recordCount: number;
  /** A retried batch already written: the offsets are the original ones. */
  duplicate: boolean;
}

/** An error answered in-band (on ProduceStream). */
export interface Error {
  code: string;
  message: string;
  retriable: boolean;
  /** Set on retriable refusals: wait at least this long before retrying (0: no hint). */
  retryAfterMs: number;
  /** The error's details as a JSON object. */
  detailsJson: string;
}

export interface ProduceResponse {
  correlationId: number;
  appends: PartitionAppend[];
  /** "fsynced" or "written"; empty on an error. */
  durability: string;
  error?: Error;
}

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  /** Byte budget of the response; 0 means the broker's fetchBytesMax. */
  maxBytes: number;
  /** Long poll: wait up to this long for a record when none is available. */
  maxWaitMs: number;
}

export interface FetchedRecord {
  offset: number;
  timestampMs: number;
  key?: Buffer;
  value?: Buffer;
  headers: Header[];
}

export interface FetchResponse {
  topic: string;
  partition: number;
  records: FetchedRecord[];
  /** Where to fetch next. */
  nextOffset: number;
  logStartOffset: number;
  highWatermark: number;
}

export interface SubscribeRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
}

export interface ListOffsetsRequest {
  topic: string;
  /** Empty: all partitions. */
  partitions: number[];
  earliest?: boolean;
  latest?: boolean;
  timestampMs?: number;
  /** Which member of the `spec` oneof is present (set by the decoder; senders set the member). */
  spec?: 'earliest' | 'latest' | 'timestampMs';
}

export interface PartitionOffset {
  partition: number;
  offset: number;
  logStartOffset: number;
  highWatermark: number;
}

export interface ListOffsetsResponse {
  topic: string;
  offsets: PartitionOffset[];
}

export interface MetadataRequest {
  /** Empty: all topics. */
  topics: string[];
}

export interface BrokerAddress {
  brokerId: number;
  host: string;
  port: number;
}

export interface PartitionMetadata {
  partition: number;
  leaderBrokerId: number;
}

export interface TopicMetadata {
  name: string;
  partitions: PartitionMetadata[];
}

export interface MetadataResponse {
  brokers: BrokerAddress[];
  topics: TopicMetadata[];
}

export interface InitProducerRequest {
  clientId: string;
}

export interface InitProducerResponse {
  producerId: number;
  producerEpoch: number;
}

export interface CreateTopicRequest {
  name: string;
  partitionCount: number;
  /** Per-topic settings, values as strings. */
  config: { [key: string]: string };
}

export interface DeleteTopicRequest {
  name: string;
}

export type DeleteTopicResponse = Readonly<globalThis.Record<string, never>>;

export type ListTopicsRequest = Readonly<globalThis.Record<string, never>>;

export interface ListTopicsResponse {
  topics: TopicDescription[];
}

export interface DescribeTopicRequest {
  name: string;
}

export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
  sizeBytes: number;
  segmentCount: number;
  /** Empty when online; otherwise the error code that took the partition offline. */
  offlineCode: string;
  offlineMessage: string;
}

export interface TopicDescription {
  name: string;
  partitionCount: number;
  /** Every setting in effect. */
  config: { [key: string]: string };
  partitions: PartitionDescription[];
  createdAtMs: number;
  /** Only the settings the topic overrides. */
  overrides: { [key: string]: string };
}

// ---- consumer groups ----

export interface JoinGroup {
  group: string;
  topics: string[];
  clientId: string;
  /** Static membership id; empty for none. */
  instanceId: string;
  /** 0: the broker's default (likewise the next three). */
  sessionTimeoutMs: number;
  ackTimeoutMs: number;
  inFlightMax: number;
  retryBackoffMs: number;
  /** 0 (or absent, from an older client): the broker's default. */
  inFlightBytesMax?: number;
  /** "sticky" (default), "range" or "round-robin"; empty for the default. */
  strategy: string;
  /** "earliest" (default) or "latest"; empty for the default. */
  startFrom: string;
  /** Deliveries carry `recordBatch` instead of `records`. */
  recordBatches?: boolean;
  /** Deliveries of several partitions ready at once come in one `deliveries` event. */
  groupedDeliveries?: boolean;
}

/** Offsets `first` to `last`, both included. */
export interface OffsetRange {
  first: number;
  last: number;
}

export interface Acknowledge {
  topic: string;
  partition: number;
  generation: number;
  ranges: OffsetRange[];
}

/** Acks of several partitions in one request: at most memberInFlightMax entries. */
export interface Acknowledgements {
  acks: Acknowledge[];
}

export interface NegativeAck {
  topic: string;
  partition: number;
  generation: number;
  offset: number;
  /** Absent: the exponential backoff. */
  delayMs?: number;
  error: string;
  errorClass: string;
}

export interface RejectRecord {
  topic: string;
  partition: number;
  generation: number;
  offset: number;
  error: string;
  errorClass: string;
}

export interface ExtendDeadline {
  topic: string;
  partition: number;
  offsets: number[];
  extendMs: number;
}

export type Heartbeat = Readonly<globalThis.Record<string, never>>;
export type LeaveGroup = Readonly<globalThis.Record<string, never>>;

export interface CommitOffset {
  topic: string;
  partition: number;
  generation: number;
  /** The next offset to consume. */
  offset: number;
  metadata: string;
  correlationId: number;
}

export interface ConsumeRequest {
  join?: JoinGroup;
  ack?: Acknowledge;
  nack?: NegativeAck;
  reject?: RejectRecord;
  extend?: ExtendDeadline;
  heartbeat?: Heartbeat;
  commit?: CommitOffset;
  leave?: LeaveGroup;
  /** Only to a broker whose `Joined.groupedAcks` is set. */
  acks?: Acknowledgements;
  /** Which member of the `kind` oneof is present (set by the decoder; senders set the member). */
  kind?: 'join' | 'ack' | 'nack' | 'reject' | 'extend' | 'heartbeat' | 'commit' | 'leave' | 'acks';
}

export interface Joined {
  memberId: string;
  generation: number;
  /** The broker takes `ConsumeRequest.acks` (absent from older brokers). */
  groupedAcks?: boolean;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface Assignment {
  generation: number;
  partitions: TopicPartition[];
}

export interface DeliveredRecord {
  offset: number;
  timestampMs: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers: Header[];
  /** 1 for the first delivery to this group, +1 for each redelivery. */
  deliveryAttempt: number;
}

export interface Delivery {
  topic: string;
  partition: number;
  generation: number;
  records: DeliveredRecord[];
  /** With `JoinGroup.recordBatches`: one record batch in the log's format, at consecutive offsets. */
  recordBatch?: Buffer;
  /** Delivery attempt of each record of `recordBatch`; empty when every one is 1. */
  deliveryAttempts?: number[];
}

export interface Deliveries {
  deliveries: Delivery[];
}

export interface CommitResult {
  correlationId: number;
  error?: Error;
}

export interface ConsumeEvent {
  joined?: Joined;
  assignment?: Assignment;
  delivery?: Delivery;
  commitResult?: CommitResult;
  error?: Error;
  /** With `JoinGroup.groupedDeliveries`: deliveries ready at once, each of a different partition. */
  deliveries?: Deliveries;
  kind?: 'joined' | 'assignment' | 'delivery' | 'commitResult' | 'error' | 'deliveries';
}

export type ListGroupsRequest = Readonly<globalThis.Record<string, never>>;

export interface GroupSummary {
  group: string;
  state: string;
  paused: boolean;
  memberCount: number;
  lagRecords: number;
}

export interface ListGroupsResponse {
  groups: GroupSummary[];
}

export interface DescribeGroupRequest {
  group: string;
}

export interface GroupMember {
  memberId: string;
  instanceId: string;
  clientId: string;
  topics: string[];
  partitions: TopicPartition[];
  inFlight: number;
  disconnected: boolean;
  sessionExpiresInMs: number;
}

export interface GroupPartition {
  topic: string;
  partition: number;
  committedOffset: number;
  logStartOffset: number;
  highWatermark: number;
  lagRecords: number;
  lagSeconds: number;
  ownerMemberId: string;
  inFlight: number;
  inFlightBytes: number;
  retryingOffset?: number;
  retryingFailedAttempts: number;
  retryInMs: number;
}

export interface GroupDescription {
  group: string;
  state: string;
  paused: boolean;
  generation: number;
  strategy: string;
  members: GroupMember[];
  partitions: GroupPartition[];
}

export interface PartitionOffsets {
  offsets: globalThis.Record<string, number>;
}

export interface ResetGroupRequest {
  group: string;
  topic: string;
  earliest?: boolean;
  latest?: boolean;
  timestampMs?: number;
  offsets?: PartitionOffsets;
  to?: 'earliest' | 'latest' | 'timestampMs' | 'offsets';
  force: boolean;
  dryRun: boolean;
}

export interface ResetPlanEntry {
  partition: number;
  currentOffset?: number;
  newOffset: number;
  lagRecords: number;
}

export interface ResetGroupResponse {
  plan: ResetPlanEntry[];
  executed: boolean;
}

export interface SetGroupPausedRequest {
  group: string;
  paused: boolean;
}

export type SetGroupPausedResponse = Readonly<globalThis.Record<string, never>>;

export interface DeleteGroupRequest {
  group: string;
}

export type DeleteGroupResponse = Readonly<globalThis.Record<string, never>>;

export interface ListDeadLettersRequest {
  /** The source topic (its DLQ topic is read). */
  topic: string;
  partition?: number;
  fromOffset: number;
  errorContains: string;
  /** 0: 100. */
  limit: number;
}

export interface DeadLetter {
  partition: number;
  offset: number;
  timestampMs: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers: Header[];
  originTopic: string;
  originPartition: number;
  originOffset: number;
  group: string;
  attempts: number;
  cause: string;
  error: string;
  errorClass: string;
  firstFailureMs: number;
  lastFailureMs: number;
  redriveCount: number;
}

export interface ListDeadLettersResponse {
  dlqTopic: string;
  deadLetters: DeadLetter[];
}

export interface RedriveRequest {
  /** The source topic whose DLQ is redriven. */
  topic: string;
  /** Empty: each record's original topic. */
  toTopic: string;
  dlqPartition?: number;
  fromOffset?: number;
  toOffset?: number;
  originalPartition?: number;
  errorContains: string;
  dryRun: boolean;
  /** 0: no rate limit. */
  recordsPerSecondMax: number;
  /** 0: the default loop guard. */
  redriveCountMax: number;
  force: boolean;
}

export interface RedrivePreviewEntry {
  dlqPartition: number;
  dlqOffset: number;
  toTopic: string;
  toPartition: number;
  originalOffset: number;
  error: string;
}

export interface RedriveResponse {
  jobId: string;
  dryRun: boolean;
  movedCount: number;
  skippedByLoopGuardCount: number;
  skippedByFilterCount: number;
  totalMovedCount: number;
  preview: RedrivePreviewEntry[];
}
