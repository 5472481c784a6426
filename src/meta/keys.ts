/**
 * Every key layout of the metadata store, in one place. One LMDB environment holds one named
 * sub-database per table:
 *
 * | table                | key                                    | value                                 | written by                                   |
 * | -------------------- | -------------------------------------- | ------------------------------------- | -------------------------------------------- |
 * | `store`              | `'formatVersion'`                      | number, = FORMAT_VERSION              | `MetaStore.open` on a new directory          |
 * | `counters`           | `'topicId'` or `'producerId'`          | number, the last value handed out     | `nextTopicId`, `allocateProducerId`          |
 * | `topics`             | `name`                                 | TopicRecord                           | `putTopic`, `deleteTopic`                    |
 * | `producer-snapshots` | `[topicId, partition]`                 | ProducerSnapshot                      | `putProducerSnapshot`, `deleteProducerSnapshots`, `deleteTopic` |
 * | `committed-offsets`  | `[group, topic, partition]`            | CommittedOffset (without the key)     | `commitOffsets`, `deleteGroupOffsets`        |
 * | `groups`             | `group`                                | GroupRecord                           | `putGroup`, `deleteGroup`                    |
 * | `delivery-attempts`  | `[group, topic, partition, offset]`    | DeliveryAttempts (without the key)    | `recordFailedAttempt`, `clearDeliveryAttemptsBelow` |
 * | `redrive-jobs`       | `jobId`                                | RedriveJob                            | `putRedriveJob`, `deleteRedriveJob`          |
 *
 * Keys are lmdb-js's ordered-binary encoding of a string or an array: numbers become 9 bytes that
 * sort numerically, strings their UTF-8 bytes (behind a 27 escape byte when they start below
 * U+001C), and array elements are joined by a 0x00 byte. So entries sort by their first element,
 * then the next (`listCommittedOffsets` comes out ordered by topic, then partition), and the entries
 * of one prefix are one contiguous range: from the prefix itself to the prefix followed by a 0xff
 * element, which sorts after every string and number. Because the separator 0x00 sorts below every
 * byte a string can continue with, the range of group "a" stops before group "ab".
 *
 * That reasoning holds only for strings the encoding round-trips and keeps apart, so names (topics,
 * groups) must not contain U+0000 to U+0004 (the encoding uses those bytes as separators and
 * escapes, and writes strings of 64 characters or more without escaping them, so two different
 * names could meet) nor lone surrogates (which come back as U+FFFD). A key must also fit LMDB's key
 * size limit. Names that break either rule are refused with INVALID_ARGUMENT.
 *
 * Changing a layout (or a value's shape incompatibly) means a new FORMAT_VERSION.
 */
import { type Offset, type PartitionId, asOffset, asPartitionId, assert } from '../base/index.js';
import { BrokerError } from '../errors.js';

/** The layout version written to (and required from) the `store` table. */
export const FORMAT_VERSION = 1;

/** The sub-database names. */
export const TABLES = {
  store: 'store',
  counters: 'counters',
  topics: 'topics',
  producerSnapshots: 'producer-snapshots',
  committedOffsets: 'committed-offsets',
  groups: 'groups',
  deliveryAttempts: 'delivery-attempts',
  redriveJobs: 'redrive-jobs',
} as const;

export type TableName = (typeof TABLES)[keyof typeof TABLES];

export const FORMAT_VERSION_KEY = 'formatVersion';

export const COUNTERS = { topicId: 'topicId', producerId: 'producerId' } as const;
export type CounterName = (typeof COUNTERS)[keyof typeof COUNTERS];

/**
 * LMDB's largest key with 4 KiB pages (larger pages allow larger keys, so this holds everywhere).
 * Names are bounded by it: the longest key, a delivery-attempts key, holds a group name and a topic
 * name in up to 1955 UTF-8 bytes together (23 bytes go to escapes, separators and two numbers).
 */
export const META_KEY_BYTES_MAX = 1978;

/** An encoded number inside an array key: always 9 bytes. */
const NUMBER_KEY_BYTES = 9;

/** Sorts after any encoded string or number, so `[...prefix, RANGE_END]` ends the prefix's range. */
const RANGE_END = Uint8Array.of(0xff);

export type KeyPart = string | number;
/** A key as lmdb-js takes it: a lone string or an array of parts. */
export type TableKey = string | KeyPart[];
/** A range as `getRange` takes it: from `start` (inclusive) to `end` (exclusive). */
export interface KeyRange {
  start: KeyPart[];
  end: (KeyPart | Uint8Array)[];
}

// ---- validation ----

/** Characters the key encoding cannot keep apart or give back; see the file comment. */
function hasUnstorableCharacter(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    if (name.charCodeAt(i) <= 4) return true;
  }
  return /\p{Surrogate}/u.test(name);
}

function checkName(field: string, name: string): void {
  if (hasUnstorableCharacter(name)) {
    throw new BrokerError(
      'INVALID_ARGUMENT',
      `${field} ${JSON.stringify(name)} holds a character a metadata key cannot store (U+0000 to U+0004, or a lone surrogate)`,
      { field, value: name },
    );
  }
}

/** An upper bound of the encoded size of `parts` (an escape byte per string, a separator between parts). */
function keyBytesBound(parts: readonly KeyPart[]): number {
  let bytes = parts.length - 1;
  for (const part of parts) bytes += typeof part === 'number' ? NUMBER_KEY_BYTES : 1 + Buffer.byteLength(part, 'utf8');
  return bytes;
}

function checkKeySize(table: TableName, fields: string, parts: readonly KeyPart[]): void {
  const keyBytes = keyBytesBound(parts);
  if (keyBytes > META_KEY_BYTES_MAX) {
    throw new BrokerError(
      'INVALID_ARGUMENT',
      `${fields} take ${keyBytes} bytes as a key of ${table}, more than the ${META_KEY_BYTES_MAX} a metadata key may take`,
      { table, keyBytes, keyBytesMax: META_KEY_BYTES_MAX },
    );
  }
}

/** Ids, partitions and offsets come from our own validated state; a bad one is a bug. */
function checkNumber(field: string, value: number): void {
  assert(Number.isSafeInteger(value), () => `${field} must be a safe integer, got ${value}`);
  assert(value >= 0, () => `${field} must not be negative, got ${value}`);
}

function prefixRange(prefix: KeyPart[]): KeyRange {
  return { start: prefix, end: [...prefix, RANGE_END] };
}

// ---- topics and groups: one name ----

export function topicKey(name: string): string {
  checkName('topic', name);
  checkKeySize(TABLES.topics, 'the topic name', [name]);
  return name;
}

export function groupKey(group: string): string {
  checkName('group', group);
  checkKeySize(TABLES.groups, 'the group name', [group]);
  return group;
}

/** Redrive job ids are built from a DLQ topic name and a digest, so they follow the name rules. */
export function redriveJobKey(jobId: string): string {
  checkName('redrive job', jobId);
  checkKeySize(TABLES.redriveJobs, 'the redrive job id', [jobId]);
  return jobId;
}

// ---- producer snapshots: [topicId, partition] ----

export function producerSnapshotKey(topicId: number, partition: number): KeyPart[] {
  checkNumber('topicId', topicId);
  checkNumber('partition', partition);
  return [topicId, partition];
}

export function producerSnapshotsOfTopic(topicId: number): KeyRange {
  checkNumber('topicId', topicId);
  return prefixRange([topicId]);
}

// ---- committed offsets: [group, topic, partition] ----

export function committedOffsetKey(group: string, topic: string, partition: number): KeyPart[] {
  checkName('group', group);
  checkName('topic', topic);
  checkNumber('partition', partition);
  const key = [group, topic, partition];
  checkKeySize(TABLES.committedOffsets, 'the group and topic names', key);
  return key;
}

/** All committed offsets of `group`, or of `group` for one topic. */
export function committedOffsetsOf(group: string, topic?: string): KeyRange {
  checkName('group', group);
  if (topic === undefined) return prefixRange([group]);
  checkName('topic', topic);
  return prefixRange([group, topic]);
}

/** Where the committed offsets of the groups after `group` start (to list groups by skipping). */
export function committedOffsetsAfterGroup(group: string): (KeyPart | Uint8Array)[] {
  return prefixRange([group]).end;
}

export function decodeCommittedOffsetKey(key: unknown): { group: string; topic: string; partition: PartitionId } {
  assert(Array.isArray(key), () => `a committed-offsets key is an array, got ${String(key)}`);
  assert(key.length === 3, () => `a committed-offsets key is [group, topic, partition], got ${key.length} parts`);
  const [group, topic, partition] = key as unknown[];
  assert(typeof group === 'string', 'committed-offsets key: group is a string');
  assert(typeof topic === 'string', 'committed-offsets key: topic is a string');
  assert(typeof partition === 'number', 'committed-offsets key: partition is a number');
  return { group, topic, partition: asPartitionId(partition) };
}

// ---- delivery attempts: [group, topic, partition, offset] ----

export function deliveryAttemptsKey(group: string, topic: string, partition: number, offset: number): KeyPart[] {
  checkName('group', group);
  checkName('topic', topic);
  checkNumber('partition', partition);
  checkNumber('offset', offset);
  const key = [group, topic, partition, offset];
  checkKeySize(TABLES.deliveryAttempts, 'the group and topic names', key);
  return key;
}

/** All delivery attempts of `group`, narrowed to one topic, and then to one partition of it. */
export function deliveryAttemptsOf(group: string, topic?: string, partition?: number): KeyRange {
  checkName('group', group);
  if (topic === undefined) {
    assert(partition === undefined, 'a partition filter needs a topic');
    return prefixRange([group]);
  }
  checkName('topic', topic);
  if (partition === undefined) return prefixRange([group, topic]);
  checkNumber('partition', partition);
  return prefixRange([group, topic, partition]);
}

/** The delivery attempts of one partition for records below `offset`. */
export function deliveryAttemptsBelow(group: string, topic: string, partition: number, offset: number): KeyRange {
  const start = deliveryAttemptsOf(group, topic, partition).start;
  checkNumber('offset', offset);
  return { start, end: [...start, offset] };
}

export function decodeDeliveryAttemptsKey(key: unknown): { group: string; topic: string; partition: PartitionId; offset: Offset } {
  assert(Array.isArray(key), () => `a delivery-attempts key is an array, got ${String(key)}`);
  assert(key.length === 4, () => `a delivery-attempts key is [group, topic, partition, offset], got ${key.length} parts`);
  const [group, topic, partition, offset] = key as unknown[];
  assert(typeof group === 'string', 'delivery-attempts key: group is a string');
  assert(typeof topic === 'string', 'delivery-attempts key: topic is a string');
  assert(typeof partition === 'number', 'delivery-attempts key: partition is a number');
  assert(typeof offset === 'number', 'delivery-attempts key: offset is a number');
  return { group, topic, partition: asPartitionId(partition), offset: asOffset(offset) };
}
