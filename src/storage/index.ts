export {
  SegmentLog,
  type SegmentLogOptions,
  type AppendResult,
  type ReadRequest,
  type ReadResult,
  type RetentionResult,
  type RetentionOptions,
  type RecoveryReport,
} from './segment-log.js';
// The record-batch format the log stores; it lives in base/ because the client builds and reads it too.
export {
  encodeBatch,
  encodedBatchBytes,
  planBatches,
  decodeRecords,
  splitBatches,
  readBatchHeader,
  checkBatch,
  sliceBatch,
  batchLastOffset,
  batchNextOffset,
  BATCH_HEADER_BYTES,
  BATCH_MAGIC,
  type BatchInput,
  type BatchHeader,
  type RecordInput,
  type RecordHeader,
  type LogRecord,
} from '../base/index.js';
export { Journal, type JournalOptions, type JournalStats, type JournalWriter } from './journal.js';
export { type FileIO, type Fd, nodeFileIO } from './file-io.js';
export { MemoryFileIO, type CrashOptions } from './memory-file-io.js';
