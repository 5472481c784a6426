export { MetaStore, type MetaStoreOptions } from './meta-store.js';
export { META_KEY_BYTES_MAX, FORMAT_VERSION as META_FORMAT_VERSION } from './keys.js';
export type {
  TopicRecord,
  ProducerBatch,
  ProducerEntry,
  ProducerSnapshot,
  CommittedOffset,
  CommittedOffsetEntry,
  OffsetCommit,
  GroupRecord,
  DeliveryAttempts,
  DeliveryAttemptsEntry,
  FailedAttempt,
  RedriveJob,
  WriteOptions,
  ListOptions,
} from './types.js';
