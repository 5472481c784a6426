/**
 * The `sluice` package's entry point (package.json "exports"): the client library only; importing it
 * never loads the broker.
 *
 * High level: `Sluice` with its producer, consumer and admin. Low level (the CLI and the library are
 * built on it): `SluiceClient`, one typed method per RPC, and `ConsumerSession`.
 */
export { Sluice, type SluiceOptions } from './sluice.js';
export { Producer, type ProducerOptions, type ProducerEvents, type ProducerMessage, type SendRequest, type RecordMetadata, type MessageHeaders } from './producer.js';
export {
  Consumer,
  type ConsumerOptions,
  type ConsumerEvents,
  type ConsumerMessage,
  type MessageControls,
  type EachMessagePayload,
  type EachBatchPayload,
  type RunOptions,
  type IteratedMessage,
  type HandlerError,
} from './consumer.js';
export {
  Admin,
  type GroupSummary,
  type GroupMember,
  type GroupPartition,
  type GroupDescription,
  type ResetTarget,
  type ResetGroupRequest,
  type ResetGroupResult,
  type ListDeadLettersRequest,
  type ListDeadLettersResult,
  type DeadLetter,
  type DeadLetterProvenance,
  type RedriveResult,
} from './admin.js';
export { json, DeserializationError, type Serializer, type Deserializer, type Serde } from './serde.js';
export { type RetryOptions, type RetryPolicy, type RandomSource, DEFAULT_RETRY_POLICY, retryPolicy, retryDelayMs, sleep } from './backoff.js';
export type { ConnectionOptions } from './connection.js';

export { SluiceClient, type SluiceClientOptions, type CallOptions, type ProduceStreamOptions } from './client.js';
export { ProduceStream } from './produce-stream.js';
export { ConsumerSession, toRanges, type JoinOptions, type DeliveredRecord, type SessionEvent, type TopicPartition } from './consumer-session.js';
export {
  SluiceError,
  isSluiceError,
  CLIENT_ERROR_CATALOG,
  type ClientErrorCode,
  type SluiceErrorCode,
} from './errors.js';
export type {
  Bytes,
  HeaderInput,
  ProducerRecord,
  ProducerIdentity,
  PartitionRecordsInput,
  ProduceRequest,
  ProduceResult,
  PartitionAppend,
  Durability,
  RecordHeader,
  ConsumedRecord,
  FetchRequest,
  FetchResult,
  SubscribeRequest,
  OffsetSpec,
  ListOffsetsRequest,
  PartitionOffset,
  BrokerAddress,
  TopicMetadata,
  ClusterMetadata,
  CreateTopicRequest,
  PartitionDescription,
  TopicDescription,
  RedriveRequest,
} from './types.js';
export type { ErrorCode } from '../errors.js';
