/**
 * The broker's metadata: one LMDB environment in `dir` with a table (named sub-database) per kind of
 * record, laid out in keys.ts. Partition data is not here; it lives in the partition logs.
 *
 * Lifecycle. `MetaStore.open` opens (creating) the environment synchronously and checks its format
 * version; `close()` waits until every queued write has committed and been flushed, then closes it.
 * Using a store after `close()` is a bug and fails an assertion. Open one store per directory.
 *
 * Reads are synchronous and see every committed write, never a write still queued.
 *
 * Writes return promises. Each write method queues one transaction callback with lmdb-js (a child
 * transaction, so a callback that throws leaves nothing behind). lmdb-js runs the callbacks queued in
 * one event turn in call order and commits them together in one LMDB transaction. What a resolved
 * write promise means:
 * - committed (every write): the change is visible to reads and survives a crash of this process
 *   (lmdb-js restores the last committed transaction while the machine stays up), but a power loss
 *   may take it back;
 * - durable (topics, counters, delivery attempts, and any write given `{ durable: true }`): in
 *   addition lmdb-js's `flushed` promise resolved, so the change is synced to disk.
 *
 * Interleaving. Between a call and its commit other calls may run and queue writes of their own. A
 * read-modify-write done inside one method (the counters, `recordFailedAttempt`, the generation check
 * of `putGroup`) is atomic; a caller's own `get...` followed by `put...` is not. Values are copied
 * when a method is called, so callers may reuse their objects at once.
 *
 * Failures. Names a key cannot hold are refused with INVALID_ARGUMENT before anything is queued
 * (see keys.ts); a directory holding another format fails `open` with METADATA_INCOMPATIBLE; errors
 * from LMDB itself (disk full, permissions) surface as they are.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { type Clock, assert, asOffset, systemClock } from '../base/index.js';
import { BrokerError } from '../errors.js';
import {
  COUNTERS,
  type CounterName,
  FORMAT_VERSION,
  FORMAT_VERSION_KEY,
  type KeyPart,
  type KeyRange,
  TABLES,
  committedOffsetKey,
  committedOffsetsAfterGroup,
  committedOffsetsOf,
  decodeCommittedOffsetKey,
  decodeDeliveryAttemptsKey,
  deliveryAttemptsBelow,
  deliveryAttemptsKey,
  deliveryAttemptsOf,
  groupKey,
  producerSnapshotKey,
  producerSnapshotsOfTopic,
  redriveJobKey,
  topicKey,
} from './keys.js';
import type {
  CommittedOffset,
  CommittedOffsetEntry,
  DeliveryAttempts,
  DeliveryAttemptsEntry,
  FailedAttempt,
  GroupRecord,
  ListOptions,
  OffsetCommit,
  ProducerSnapshot,
  RedriveJob,
  TopicRecord,
  WriteOptions,
} from './types.js';

export interface MetaStoreOptions {
  /** The environment's directory (created if missing); it holds `data.mdb` and `lock.mdb`. */
  dir: string;
  /** Stamps commit and failure times. */
  clock?: Clock;
}

export class MetaStore {
  private readonly clock: Clock;
  private readonly root: RootDatabase;
  private readonly store: Database<number, string>;
  private readonly counters: Database<number, string>;
  private readonly topics: Database<TopicRecord, string>;
  private readonly producerSnapshots: Database<ProducerSnapshot, KeyPart[]>;
  private readonly committedOffsets: Database<CommittedOffset, KeyPart[]>;
  private readonly groups: Database<GroupRecord, string>;
  private readonly deliveryAttempts: Database<DeliveryAttempts, KeyPart[]>;
  private readonly redriveJobs: Database<RedriveJob, string>;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    root: RootDatabase,
    options: MetaStoreOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.root = root;
    const table = <V, K extends string | KeyPart[]>(name: string): Database<V, K> => root.openDB<V, K>({ name, encoding: 'msgpack' });
    this.store = table(TABLES.store);
    this.counters = table(TABLES.counters);
    this.topics = table(TABLES.topics);
    this.producerSnapshots = table(TABLES.producerSnapshots);
    this.committedOffsets = table(TABLES.committedOffsets);
    this.groups = table(TABLES.groups);
    this.deliveryAttempts = table(TABLES.deliveryAttempts);
    this.redriveJobs = table(TABLES.redriveJobs);
    this.checkFormat();
  }

  /** Opens (creating) the store in `options.dir`. Throws METADATA_INCOMPATIBLE for another format. */
  static open(options: MetaStoreOptions): MetaStore {
    // noSubdir is explicit because lmdb-js would take a directory name with a dot for a file name.
    const root = open({ path: options.dir, noSubdir: false, maxDbs: Object.keys(TABLES).length });
    try {
      return new MetaStore(options.dir, root, options);
    } catch (error) {
      void root.close();
      throw error;
    }
  }

  /** Waits for queued writes to commit and flush, then closes the environment. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.root.flushed;
      await this.root.close();
    })();
    return this.closing;
  }

  /** A new directory gets the current format version; an existing one must carry it. */
  private checkFormat(): void {
    const found = this.store.get(FORMAT_VERSION_KEY);
    if (found === FORMAT_VERSION) return;
    const tables = [this.counters, this.topics, this.producerSnapshots, this.committedOffsets, this.groups, this.deliveryAttempts];
    if (found === undefined && tables.every((table) => table.getKeysCount({ limit: 1 }) === 0)) {
      // Synchronous and flushed before it returns (lmdb-js's default for transactionSync).
      this.root.transactionSync(() => this.store.putSync(FORMAT_VERSION_KEY, FORMAT_VERSION));
      return;
    }
    throw new BrokerError(
      'METADATA_INCOMPATIBLE',
      `the metadata store in ${this.dir} has format ${String(found)}; this version of Sluice reads format ${FORMAT_VERSION}`,
      { dir: this.dir, formatVersion: found, supportedFormatVersion: FORMAT_VERSION },
    );
  }

  private checkOpen(): void {
    assert(this.closing === undefined, () => `the metadata store in ${this.dir} is closed`);
  }

  /**
   * Queues `action` as one atomic transaction callback; resolves with its result once committed, and
   * with `durable` once flushed as well.
   */
  private async write<T>(action: () => T, durable: boolean): Promise<T> {
    this.checkOpen();
    const result = await this.root.childTransaction(action);
    if (durable) await this.root.flushed;
    return result;
  }

  /** Removes every key in `range` of `table`, inside a transaction callback; returns how many. */
  private removeRange<V>(table: Database<V, KeyPart[]>, range: KeyRange): number {
    const keys = Array.from(table.getKeys(range));
    for (const key of keys) table.removeSync(key);
    return keys.length;
  }

  // ---- counters ----

  /** Hands out the next value of `counter` (1 first), durably, so no value is handed out twice. */
  private async allocate(counter: CounterName): Promise<number> {
    return await this.write(() => {
      const last = this.counters.get(counter) ?? 0;
      assert(Number.isSafeInteger(last), () => `counter ${counter} holds ${last}, not a safe integer`);
      assert(last >= 0, () => `counter ${counter} holds ${last}, below zero`);
      const next = last + 1;
      this.counters.putSync(counter, next);
      return next;
    }, true);
  }

  /** A new topic id (1 first), durable before it resolves: ids are never reused, even after a crash. */
  async nextTopicId(): Promise<number> {
    return await this.allocate(COUNTERS.topicId);
  }

  /** A new idempotent-producer id (1 first), durable before it resolves: never reused across restarts. */
  async allocateProducerId(): Promise<number> {
    return await this.allocate(COUNTERS.producerId);
  }

  // ---- topics ----

  getTopic(name: string): TopicRecord | undefined {
    this.checkOpen();
    return this.topics.get(topicKey(name));
  }

  /** Topics ordered by name (in UTF-8 byte order, as are all names here). */
  listTopics(options: ListOptions = {}): TopicRecord[] {
    this.checkOpen();
    return Array.from(this.topics.getRange(withLimit({}, options)), ({ value }) => value);
  }

  /** Creates or replaces a topic record, durably. Its id must come from `nextTopicId`. */
  async putTopic(record: TopicRecord): Promise<void> {
    const key = topicKey(record.name);
    const value: TopicRecord = {
      name: record.name,
      topicId: record.topicId,
      partitionCount: record.partitionCount,
      config: { ...record.config },
      createdAtMs: record.createdAtMs,
    };
    return await this.write(() => {
      const lastTopicId = this.counters.get(COUNTERS.topicId) ?? 0;
      assert(value.topicId >= 1, () => `topic ${value.name} has id ${value.topicId}; ids start at 1`);
      assert(value.topicId <= lastTopicId, () => `topic ${value.name} has id ${value.topicId}, which nextTopicId has not handed out`);
      this.topics.putSync(key, value);
    }, true);
  }

  /**
   * Deletes a topic record and its producer snapshots in one transaction, durably. Resolves with the
   * deleted record, or undefined if there was none. Committed offsets and delivery attempts are keyed
   * by topic name and stay; the group coordinator removes them.
   */
  async deleteTopic(name: string): Promise<TopicRecord | undefined> {
    const key = topicKey(name);
    return await this.write(() => {
      const record = this.topics.get(key);
      if (record === undefined) return undefined;
      this.removeRange(this.producerSnapshots, producerSnapshotsOfTopic(record.topicId));
      this.topics.removeSync(key);
      return record;
    }, true);
  }

  // ---- producer snapshots ----

  getProducerSnapshot(topicId: number, partition: number): ProducerSnapshot | undefined {
    this.checkOpen();
    return this.producerSnapshots.get(producerSnapshotKey(topicId, partition));
  }

  /** Replaces the producer snapshot of one partition. Committed, or durable with `{ durable: true }`. */
  async putProducerSnapshot(topicId: number, partition: number, snapshot: ProducerSnapshot, options: WriteOptions = {}): Promise<void> {
    const key = producerSnapshotKey(topicId, partition);
    const value: ProducerSnapshot = {
      coveredOffset: snapshot.coveredOffset,
      producers: snapshot.producers.map((producer) => ({
        producerId: producer.producerId,
        producerEpoch: producer.producerEpoch,
        lastTimestampMs: producer.lastTimestampMs,
        batches: producer.batches.map((batch) => {
          assert(batch.baseOffset <= batch.lastOffset, () => `producer ${producer.producerId}: batch ${batch.baseOffset}..${batch.lastOffset} is reversed`);
          assert(
            batch.lastOffset < snapshot.coveredOffset,
            () => `producer ${producer.producerId}: batch ending at ${batch.lastOffset} is not below coveredOffset ${snapshot.coveredOffset}`,
          );
          return { baseSequence: batch.baseSequence, lastSequence: batch.lastSequence, baseOffset: batch.baseOffset, lastOffset: batch.lastOffset };
        }),
      })),
    };
    return await this.write(() => this.producerSnapshots.putSync(key, value), options.durable === true);
  }

  /** Deletes the producer snapshots of every partition of a topic; resolves with how many. */
  async deleteProducerSnapshots(topicId: number, options: WriteOptions = {}): Promise<number> {
    const range = producerSnapshotsOfTopic(topicId);
    return await this.write(() => this.removeRange(this.producerSnapshots, range), options.durable === true);
  }

  // ---- committed offsets ----

  /**
   * Commits offsets of one group in one transaction: all of them or none. Each is stamped with the
   * clock's time. Committed, or durable with `{ durable: true }`.
   */
  async commitOffsets(group: string, entries: readonly OffsetCommit[], options: WriteOptions = {}): Promise<void> {
    const commitTimestampMs = this.clock.nowMs();
    const writes = entries.map((entry) => ({
      key: committedOffsetKey(group, entry.topic, entry.partition),
      value: { offset: asOffset(entry.offset), metadata: entry.metadata ?? '', commitTimestampMs },
    }));
    for (const { value } of writes) {
      assert(Number.isSafeInteger(value.offset), () => `offset ${value.offset} is not an integer`);
      assert(value.offset >= 0, () => `offset ${value.offset} is negative`);
    }
    return await this.write(() => {
      for (const { key, value } of writes) this.committedOffsets.putSync(key, value);
    }, options.durable === true);
  }

  getCommittedOffset(group: string, topic: string, partition: number): CommittedOffset | undefined {
    this.checkOpen();
    return this.committedOffsets.get(committedOffsetKey(group, topic, partition));
  }

  /** The committed offsets of one group, ordered by topic, then partition. */
  listCommittedOffsets(group: string, options: ListOptions = {}): CommittedOffsetEntry[] {
    this.checkOpen();
    return Array.from(this.committedOffsets.getRange(withLimit(committedOffsetsOf(group), options)), ({ key, value }) => {
      const { topic, partition } = decodeCommittedOffsetKey(key);
      return { topic, partition, offset: value.offset, metadata: value.metadata, commitTimestampMs: value.commitTimestampMs };
    });
  }

  /** The groups that have committed offsets, ordered by name; one seek per group, not a scan. */
  listGroupsWithOffsets(options: ListOptions = {}): string[] {
    this.checkOpen();
    checkLimit(options);
    const groups: string[] = [];
    let start: (KeyPart | Uint8Array)[] | undefined;
    while (options.limit === undefined || groups.length < options.limit) {
      const key = firstOf(this.committedOffsets.getKeys(start === undefined ? { limit: 1 } : { start, limit: 1 }));
      if (key === undefined) break;
      const { group } = decodeCommittedOffsetKey(key);
      // Key order is UTF-8 byte order, not JavaScript's string order; what matters here is progress.
      assert(group !== groups.at(-1), () => `listing groups did not move past ${group}`);
      groups.push(group);
      start = committedOffsetsAfterGroup(group);
    }
    return groups;
  }

  /** Deletes a group's committed offsets (only those of `topic` if given); resolves with how many. */
  async deleteGroupOffsets(group: string, options: { topic?: string } & WriteOptions = {}): Promise<number> {
    const range = committedOffsetsOf(group, options.topic);
    return await this.write(() => this.removeRange(this.committedOffsets, range), options.durable === true);
  }

  // ---- groups ----

  // ---- redrive jobs ----

  getRedriveJob(jobId: string): RedriveJob | undefined {
    this.checkOpen();
    return this.redriveJobs.get(redriveJobKey(jobId));
  }

  /** Saves a redrive job's progress, durably: a resumed redrive must not repeat what it moved. */
  async putRedriveJob(job: RedriveJob): Promise<void> {
    const key = redriveJobKey(job.jobId);
    const value = structuredClone(job);
    await this.write(() => this.redriveJobs.putSync(key, value), true);
  }

  async deleteRedriveJob(jobId: string): Promise<void> {
    const key = redriveJobKey(jobId);
    await this.write(() => this.redriveJobs.removeSync(key), true);
  }

  getGroup(group: string): GroupRecord | undefined {
    this.checkOpen();
    return this.groups.get(groupKey(group));
  }

  /** Groups ordered by name. */
  listGroups(options: ListOptions = {}): GroupRecord[] {
    this.checkOpen();
    return Array.from(this.groups.getRange(withLimit({}, options)), ({ value }) => value);
  }

  /**
   * Creates or replaces a group record; its generation must not be below the stored one. Committed,
   * or durable with `{ durable: true }`.
   */
  async putGroup(record: GroupRecord, options: WriteOptions = {}): Promise<void> {
    const key = groupKey(record.group);
    const value: GroupRecord = {
      group: record.group,
      generation: record.generation,
      protocol: record.protocol,
      state: record.state,
      updatedAtMs: record.updatedAtMs,
      paused: record.paused,
    };
    return await this.write(() => {
      const stored = this.groups.get(key);
      if (stored !== undefined) {
        assert(
          value.generation >= stored.generation,
          () => `group ${value.group}: generation ${value.generation} would go back from ${stored.generation}`,
        );
      }
      this.groups.putSync(key, value);
    }, options.durable === true);
  }

  /** Deletes a group record (not its offsets or delivery attempts); resolves with whether it existed. */
  async deleteGroup(group: string, options: WriteOptions = {}): Promise<boolean> {
    const key = groupKey(group);
    return await this.write(() => this.groups.removeSync(key), options.durable === true);
  }

  // ---- delivery attempts ----

  /**
   * Counts one more failed delivery of a record to a group, stamped with the clock's time, durably;
   * the read and the write are one transaction. Resolves with the record's attempts after it.
   */
  async recordFailedAttempt(attempt: FailedAttempt): Promise<DeliveryAttempts> {
    const key = deliveryAttemptsKey(attempt.group, attempt.topic, attempt.partition, attempt.offset);
    const failedAtMs = this.clock.nowMs();
    const { error, errorClass, memberId } = attempt;
    return await this.write(() => {
      const previous = this.deliveryAttempts.get(key);
      const next: DeliveryAttempts = {
        attempts: (previous?.attempts ?? 0) + 1,
        firstFailureMs: previous?.firstFailureMs ?? failedAtMs,
        lastFailureMs: failedAtMs,
        lastError: error,
        lastErrorClass: errorClass,
        lastMemberId: memberId,
      };
      assert(Number.isSafeInteger(next.attempts), () => `delivery attempts of ${key.join('/')} overflowed`);
      this.deliveryAttempts.putSync(key, next);
      return next;
    }, true);
  }

  getDeliveryAttempts(group: string, topic: string, partition: number, offset: number): DeliveryAttempts | undefined {
    this.checkOpen();
    return this.deliveryAttempts.get(deliveryAttemptsKey(group, topic, partition, offset));
  }

  /**
   * Deletes the delivery attempts of one partition's records below `offset` (for when the group's
   * committed offset moves past them); resolves with how many. Committed, or durable on request.
   */
  async clearDeliveryAttemptsBelow(group: string, topic: string, partition: number, offset: number, options: WriteOptions = {}): Promise<number> {
    const range = deliveryAttemptsBelow(group, topic, partition, offset);
    return await this.write(() => this.removeRange(this.deliveryAttempts, range), options.durable === true);
  }

  /** A group's delivery attempts, optionally of one topic or one partition, ordered by topic, partition, offset. */
  listDeliveryAttempts(group: string, options: { topic?: string; partition?: number } & ListOptions = {}): DeliveryAttemptsEntry[] {
    this.checkOpen();
    const range = deliveryAttemptsOf(group, options.topic, options.partition);
    return Array.from(this.deliveryAttempts.getRange(withLimit(range, options)), ({ key, value }) => {
      const { topic, partition, offset } = decodeDeliveryAttemptsKey(key);
      return { topic, partition, offset, ...value };
    });
  }
}

function firstOf<T>(items: Iterable<T>): T | undefined {
  for (const item of items) return item;
  return undefined;
}

function checkLimit(options: ListOptions): void {
  if (options.limit === undefined) return;
  assert(Number.isSafeInteger(options.limit), () => `limit ${options.limit} is not an integer`);
  assert(options.limit > 0, () => `limit ${options.limit} is not positive`);
}

function withLimit<R extends object>(range: R, options: ListOptions): R & { limit?: number } {
  checkLimit(options);
  return options.limit === undefined ? range : { ...range, limit: options.limit };
}
