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
} from './types.js';
export type { ErrorCode } from '../errors.js';
