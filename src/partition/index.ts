// The partitioner lives in base/ because the client routes records with the same code.
export { murmur2, partitionForKey, StickyPartitioner } from '../base/index.js';
export {
  Partition,
  type PartitionAppendRequest,
  type PartitionAppendResult,
  type PartitionState,
  type ProducerStamp,
} from './partition.js';
export { ProducerStateTable, nextSequence, type ProducerSnapshot, type ProducerEntry, type ProducerBatch } from './producer-state.js';
export { TopicRegistry, type JournalSample, type Topic, type TopicLimits, type TopicRegistryOptions } from './topic-registry.js';
