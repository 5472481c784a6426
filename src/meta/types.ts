/**
 * The records the metadata store keeps, one type per table (key layouts are in keys.ts). Values are
 * stored as MessagePack (lmdb-js's default encoding), so every record is plain data: numbers, strings,
 * booleans, arrays and objects. Records the caller writes take plain numbers; offsets and partitions
 * the store hands back from its keys are branded (see base/ids.ts).
 */
import type { Offset, PartitionId } from '../base/index.js';

/** A topic as created: its id is allocated by `MetaStore.nextTopicId` and never reused. */
export interface TopicRecord {
  name: string;
  /** Unique over the life of the data directory: a topic re-created under the same name gets a new id. */
  topicId: number;
  partitionCount: number;
  /** The topic's own settings (overrides of the broker's log settings); the broker validates them. */
  config: Record<string, string | number>;
  createdAtMs: number;
}

/** One batch an idempotent producer wrote, kept so a retried batch is recognised as a duplicate. */
export interface ProducerBatch {
  baseSequence: number;
  lastSequence: number;
  baseOffset: number;
  lastOffset: number;
}

/** What the partition remembers about one idempotent producer. */
export interface ProducerEntry {
  producerId: number;
  producerEpoch: number;
  lastTimestampMs: number;
  /** The producer's most recent batches, oldest first. */
  batches: ProducerBatch[];
}

/**
 * The idempotent-producer state of one partition as of `coveredOffset`: it reflects every batch below
 * that offset, so start-up rebuilds the rest by reading the log from `coveredOffset` on.
 */
export interface ProducerSnapshot {
  coveredOffset: number;
  producers: ProducerEntry[];
}

/** A consumer group's committed offset for one partition. */
export interface CommittedOffset {
  /** The next offset the group will consume (Kafka's meaning of a committed offset). */
  offset: Offset;
  /** Free text the committer attached; empty when none was given. */
  metadata: string;
  commitTimestampMs: number;
}

/** A committed offset with the partition it belongs to, as listed. */
export interface CommittedOffsetEntry extends CommittedOffset {
  topic: string;
  partition: PartitionId;
}

/** One partition's offset in a `commitOffsets` call. */
export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
}

/** A consumer group's persisted state; the group coordinator owns its meaning. */
export interface GroupRecord {
  group: string;
  /** Never decreases for a stored group (asserted by `putGroup`). */
  generation: number;
  protocol: string;
  state: string;
  updatedAtMs: number;
  paused: boolean;
}

/** The failed delivery attempts of one record to one group. */
export interface DeliveryAttempts {
  /** How many deliveries of the record to the group failed (nacked or timed out). */
  attempts: number;
  firstFailureMs: number;
  lastFailureMs: number;
  lastError: string;
  lastErrorClass: string;
  lastMemberId: string;
}

/** Delivery attempts with the record they belong to, as listed. */
export interface DeliveryAttemptsEntry extends DeliveryAttempts {
  topic: string;
  partition: PartitionId;
  offset: Offset;
}

/** A failed delivery, as reported to `recordFailedAttempt`. */
export interface FailedAttempt {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  error: string;
  errorClass: string;
  memberId: string;
}

/** For writes that do not promise durability by themselves. */
export interface WriteOptions {
  /** Resolve only once the write is flushed to disk (survives a power loss), not just committed. Default false. */
  durable?: boolean;
}

/** For listings: they return at most `limit` entries, in key order. */
export interface ListOptions {
  /** A positive integer; all entries when absent. */
  limit?: number;
}

/**
 * A redrive of DLQ records back to a source topic, resumable: re-running the same redrive continues
 * from `nextOffsets`. Its records are written as an idempotent producer (`producerId`, with
 * per-target-partition `nextSequences`), so a batch re-sent after a crash is recognised, not duplicated.
 */
export interface RedriveJob {
  jobId: string;
  dlqTopic: string;
  producerId: number;
  /** DLQ partition -> the next DLQ offset to look at. */
  nextOffsets: Record<string, number>;
  /** `topic/partition` of a target -> the sequence of the next record written there. */
  nextSequences: Record<string, number>;
  movedCount: number;
  skippedCount: number;
  createdAtMs: number;
  updatedAtMs: number;
}
