export { assert, unreachable, AssertionError } from './assert.js';
export { type Clock, type Timer, systemClock, ManualClock } from './clock.js';
export { type Random, seededRandom } from './random.js';
export { crc32 } from './checksum.js';
export {
  type Offset,
  type PartitionId,
  type Generation,
  asOffset,
  asPartitionId,
  asGeneration,
  OFFSET_MAX,
} from './ids.js';
export { type Logger, silentLogger } from './logger.js';
export { TokenBucket } from './token-bucket.js';
export { ByteBudget } from './byte-budget.js';
export { murmur2, partitionForKey, StickyPartitioner } from './partitioner.js';
export {
  encodeBatch,
  sizeBatch,
  writeBatch,
  type SizedBatch,
  encodedBatchBytes,
  planBatches,
  setBaseOffset,
  decodeRecords,
  scanRecords,
  splitBatches,
  readBatchHeader,
  checkBatch,
  sliceBatch,
  batchLastOffset,
  batchNextOffset,
  BATCH_HEADER_BYTES,
  BATCH_MAGIC,
  BATCH_LENGTH_PREFIX_BYTES,
  Field as BatchField,
  type BatchInput,
  type BatchHeader,
  type BatchCheck,
  type BatchProblem,
  type RecordInput,
  type RecordHeader,
  type LogRecord,
  type RecordsScan,
} from './record-batch.js';
