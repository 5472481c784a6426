/**
 * The use-case facade both transports share: produce, fetch, list offsets, metadata and topic admin.
 * It owns the rules that span modules: request limits, quotas and backpressure before anything is
 * written, routing records to partitions, the fullPolicy of a topic, and periodic work (retention,
 * producer-state snapshots) on the injected clock.
 *
 * Lifecycle: `Broker.open` opens the metadata store and every topic; `close` refuses new requests
 * (SHUTTING_DOWN), lets in-flight appends finish, snapshots producer state, closes the logs and the
 * metadata store. Transports stop accepting connections before they call `close`.
 */
import path from 'node:path';
import { type Clock, type Logger, type Offset, type RecordsScan, type Timer, ByteBudget, TokenBucket, asOffset, systemClock } from './base/index.js';
import type { BrokerSettings, TopicConfig } from './config.js';
import { BrokerError } from './errors.js';
import { type DeadLetterView, type RedriveRequest, type RedriveResult, Redriver, deadLetterRecord, listDeadLetters } from './dlq/index.js';
import { type DeadLetterRequest, type GroupDescription, GroupAdmin, GroupCoordinator, type GroupSummary, type ResetPlanEntry, type ResetTarget } from './group/index.js';
import { MetaStore } from './meta/index.js';
import { BrokerMetrics, type GroupLagSample } from './metrics.js';
import { type Partition, type PartitionAppendResult, type PartitionState, StickyPartitioner, type Topic, TopicRegistry, partitionForKey } from './partition/index.js';
import { type FileIO, type LogRecord, type RecordHeader, type RecordInput, decodeRecords, splitBatches } from './storage/index.js';

/** A record as a producer sends it. */
export interface ProduceRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: readonly RecordHeader[];
  timestampMs?: number;
}

export interface ProduceRequest {
  topic: string;
  /** Records the broker routes (by `partition` if set, else by key; keyless ones sticky). */
  records?: readonly ProduceRecord[];
  partition?: number;
  /**
   * Records routed by the client; required for an idempotent producer. A partition's records come
   * either as records or as one record batch in the log's format (`records` then empty), checked
   * and scanned by the caller, which the log stores as sent.
   */
  partitions?: readonly { partition: number; records: readonly ProduceRecord[]; batch?: SentBatch; baseSequence?: number }[];
  producer?: { producerId: number; producerEpoch: number };
}

/** A record batch as a client sent it: its bytes and what `scanRecords` found in them. */
export interface SentBatch {
  bytes: Buffer;
  scan: RecordsScan;
}

/** A request's records for one partition, after routing. */
interface RoutedGroup {
  partition: number;
  records: ProduceRecord[];
  batch?: SentBatch;
  baseSequence?: number;
  bytes: number;
}

export interface ProduceContext {
  /** Identifies the connection for its in-flight budget (e.g. the gRPC peer). */
  connectionId: string;
  /** Identifies the producer for quotas. */
  clientId: string;
}

export interface ProduceResult {
  topic: string;
  appends: (PartitionAppendResult & { partition: number })[];
  durability: 'fsynced' | 'written';
}

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  maxWaitMs: number;
  signal?: AbortSignal;
}

export interface FetchResult {
  topic: string;
  partition: number;
  records: LogRecord[];
  nextOffset: Offset;
  logStartOffset: Offset;
  highWatermark: Offset;
}

export type OffsetSpec = { earliest: true } | { latest: true } | { timestampMs: number };

export interface PartitionOffset {
  partition: number;
  offset: Offset;
  logStartOffset: Offset;
  highWatermark: Offset;
}

export interface TopicDescription {
  name: string;
  partitionCount: number;
  /** The topic's own setting overrides. */
  overrides: Readonly<Record<string, string | number>>;
  /** Every setting in effect. */
  config: TopicConfig;
  createdAtMs: number;
  partitions: (PartitionState & { partition: number })[];
}

/** The broker at a glance, for the admin API's overview. */
export interface BrokerOverview {
  /** When this broker process opened its data directory (the broker's clock). */
  startedAtMs: number;
  /** The broker's clock now (rates are computed against it, not the caller's). */
  nowMs: number;
  uptimeMs: number;
  dataDir: string;
  topicCount: number;
  partitionCount: number;
  offlinePartitionCount: number;
  /** Bytes of segment files over every partition (the metadata store is not counted). */
  logSizeBytes: number;
  /** Groups with live members, stored state or committed offsets. */
  groupCount: number;
}

export interface BrokerOpenOptions {
  settings: BrokerSettings;
  topicDefaults: TopicConfig;
  clock?: Clock;
  logger: Logger;
  io?: FileIO;
}

/** Quota buckets kept per map (client ids, topics); the oldest is dropped beyond it. */
const QUOTA_KEYS_MAX = 10_000;

/** How often budgets of connections with nothing in flight are forgotten. */
const IDLE_BUDGET_SWEEP_MS = 60_000;

/** How long a client is told to wait when the in-flight budget is full. */
const BUSY_RETRY_AFTER_MS = 50;

export class Broker {
  readonly metrics: BrokerMetrics;
  /** Consumer groups: membership, delivery, acks (the transports' consume streams talk to it). */
  readonly groups: GroupCoordinator;
  private readonly groupAdmin: GroupAdmin;
  private readonly redriver: Redriver;
  private readonly inFlight: ByteBudget;
  /**
   * In-flight produce bytes per connection. An idle connection's budget is dropped by a periodic
   * sweep, not when its last request completes: deleting and re-adding an entry on every request made
   * V8 allocate a new table for the Map each time, and those tables outlived young collections.
   */
  private readonly connectionBudgets = new Map<string, ByteBudget>();
  private readonly clientBuckets = new Map<string, { bytes?: TokenBucket; records?: TokenBucket }>();
  private readonly topicBuckets = new Map<string, { bytes?: TokenBucket; records?: TokenBucket }>();
  private readonly sticky = new Map<string, StickyPartitioner>();
  private readonly timers: Timer[] = [];
  private fetchWaiters = 0;
  /**
   * Appends under way, which close() lets finish. A count, not a set of their promises: a Set churned
   * on every append had V8 promote every append's promise and closures (measured with the sampling
   * heap profiler), lengthening each young-generation pause.
   */
  private appendsInFlight = 0;
  private appendsSettled: (() => void) | undefined;
  private closing = false;
  private readonly startedAtMs: number;

  private constructor(
    readonly settings: BrokerSettings,
    private readonly topicDefaults: TopicConfig,
    private readonly meta: MetaStore,
    private readonly topics: TopicRegistry,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.startedAtMs = clock.nowMs();
    this.inFlight = new ByteBudget(settings.inFlightProduceBytesMax);
    this.metrics = new BrokerMetrics(
      () =>
        this.topics.list().flatMap((topic) =>
          topic.partitions.map((p) => {
            const state = p.state();
            return { topic: topic.name, partition: p.id, logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset, sizeBytes: state.sizeBytes };
          }),
        ),
      () => this.groupLagSamples(),
      () => this.topics.journalSample(),
    );
    this.groups = new GroupCoordinator({
      topics,
      meta,
      settings,
      clock,
      logger,
      deadLetter: (request) => this.appendDeadLetter(request),
      maxDeliveryAttempts: (topic) => this.topics.require(topic).config.maxDeliveryAttempts,
      onRedelivery: (topic, group, count) => this.metrics.redeliveries.inc({ topic, group }, count),
      onDelivery: (topic, group, records, bytes) => {
        this.metrics.deliveredRecords.inc({ topic, group }, records);
        this.metrics.deliveredBytes.inc({ topic, group }, bytes);
      },
    });
    this.groupAdmin = new GroupAdmin(this.groups, topics, meta, () => clock.nowMs());
    this.redriver = new Redriver(topics, meta, clock);
    this.every(settings.retentionCheckIntervalMs, () => this.runRetention());
    this.every(IDLE_BUDGET_SWEEP_MS, () => {
      for (const [connectionId, budget] of this.connectionBudgets) if (budget.usedBytes === 0) this.connectionBudgets.delete(connectionId);
    });
    this.every(settings.producerStateSnapshotIntervalMs, () => {
      this.topics.snapshotProducers().catch((error: unknown) => this.logger.error({ err: error }, 'saving producer state failed'));
    });
  }

  static open(options: BrokerOpenOptions): Broker {
    const clock = options.clock ?? systemClock;
    const meta = MetaStore.open({ dir: path.join(options.settings.dataDir, 'meta'), clock });
    const topics = TopicRegistry.open({
      dataDir: options.settings.dataDir,
      meta,
      topicDefaults: options.topicDefaults,
      limits: options.settings,
      clock,
      logger: options.logger,
      ...(options.io ? { io: options.io } : {}),
    });
    return new Broker(options.settings, options.topicDefaults, meta, topics, clock, options.logger);
  }

  private every(intervalMs: number, task: () => void): void {
    const schedule = (): void => {
      const timer = this.clock.setTimer(intervalMs, () => {
        this.timers.splice(this.timers.indexOf(timer), 1);
        if (this.closing) return;
        task();
        schedule();
      });
      this.timers.push(timer);
    };
    schedule();
  }

  private checkOpen(): void {
    if (this.closing) throw new BrokerError('SHUTTING_DOWN', 'the broker is shutting down');
  }

  // ---- produce ----

  async produce(request: ProduceRequest, context: ProduceContext): Promise<ProduceResult> {
    this.checkOpen();
    const topic = await this.topicForProduce(request.topic);
    const routed = this.route(topic, request);
    let requestBytes = 0;
    let recordCount = 0;
    for (const group of routed) {
      for (const record of group.records) requestBytes += this.validateRecord(record);
      recordCount += group.records.length;
      if (group.batch !== undefined) {
        requestBytes += this.validateScan(group.batch.scan);
        recordCount += group.batch.scan.recordCount;
      }
    }
    if (recordCount === 0) throw new BrokerError('INVALID_ARGUMENT', 'a produce request needs at least one record', { field: 'records' });
    if (recordCount > this.settings.requestRecordsMax) {
      throw new BrokerError('REQUEST_TOO_LARGE', `${recordCount} records exceed requestRecordsMax ${this.settings.requestRecordsMax}`, {
        recordCount,
        requestRecordsMax: this.settings.requestRecordsMax,
      });
    }
    this.checkQuotas(topic.name, context.clientId, requestBytes, recordCount);
    const release = this.reserveInFlight(context.connectionId, requestBytes);
    try {
      const now = this.clock.nowMs();
      const appends = await Promise.all(
        routed.map(async (group) => {
          const partition = topic.partitions[group.partition]!;
          this.makeRoom(topic, partition, group.bytes);
          const producer =
            request.producer && group.baseSequence !== undefined
              ? { producerId: request.producer.producerId, producerEpoch: request.producer.producerEpoch, baseSequence: group.baseSequence }
              : undefined;
          const append =
            group.batch !== undefined
              ? partition.append({ batch: group.batch.bytes, recordCount: group.batch.scan.recordCount, producer })
              : partition.append({
                  records: group.records.map((r): RecordInput => ({ key: r.key, value: r.value, headers: r.headers, timestampMs: r.timestampMs ?? now })),
                  producer,
                });
          this.appendsInFlight++;
          try {
            return { partition: group.partition, ...(await append) };
          } finally {
            if (--this.appendsInFlight === 0) this.appendsSettled?.();
          }
        }),
      );
      for (const append of appends) if (!append.duplicate) this.metrics.produceRecords.inc({ topic: topic.name }, append.recordCount);
      this.metrics.produceBytes.inc({ topic: topic.name }, requestBytes);
      return { topic: topic.name, appends, durability: topic.config.durability === 'always' ? 'fsynced' : 'written' };
    } finally {
      release();
    }
  }

  private async topicForProduce(name: string): Promise<Topic> {
    const topic = this.topics.get(name);
    if (topic !== undefined || !this.settings.autoCreateTopics) return topic ?? this.topics.require(name);
    try {
      return await this.topics.create({ name, partitionCount: this.settings.defaultPartitionCount });
    } catch (error) {
      // Two producers auto-creating at once: the loser uses the winner's topic.
      if (error instanceof BrokerError && error.code === 'TOPIC_EXISTS') return this.topics.require(name);
      throw error;
    }
  }

  /** Groups a request's records by partition, validating partition numbers and idempotence rules. */
  private route(topic: Topic, request: ProduceRequest): RoutedGroup[] {
    const count = topic.partitions.length;
    const checkPartition = (partition: number): number => {
      if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
        throw new BrokerError('PARTITION_NOT_FOUND', `topic ${topic.name} has partitions 0..${count - 1}, not ${partition}`, {
          topic: topic.name,
          partition,
          partitionCount: count,
        });
      }
      return partition;
    };
    if (request.producer !== undefined && (request.records?.length ?? 0) > 0) {
      throw new BrokerError('INVALID_ARGUMENT', 'an idempotent producer sends records routed by partition (`partitions`), with sequence numbers', {
        field: 'records',
      });
    }
    const groups = new Map<number, RoutedGroup>();
    const add = (partition: number, record: ProduceRecord): void => {
      let group = groups.get(partition);
      if (group === undefined) {
        group = { partition, records: [], bytes: 0 };
        groups.set(partition, group);
      }
      group.records.push(record);
      group.bytes += recordBytes(record);
    };
    for (const routed of request.partitions ?? []) {
      const partition = checkPartition(routed.partition);
      if (groups.has(partition)) {
        throw new BrokerError('INVALID_ARGUMENT', `partition ${partition} appears twice in one request`, { field: 'partitions', partition });
      }
      if (request.producer !== undefined) {
        if (!Number.isInteger(routed.baseSequence) || routed.baseSequence! < 0) {
          throw new BrokerError('INVALID_ARGUMENT', 'an idempotent producer numbers its records: baseSequence must be >= 0', { field: 'baseSequence' });
        }
        groups.set(partition, { partition, records: [], baseSequence: routed.baseSequence!, bytes: 0 });
      }
      if (routed.batch !== undefined) {
        const group = groups.get(partition) ?? { partition, records: [], bytes: 0 };
        group.batch = routed.batch;
        group.bytes = routed.batch.scan.payloadBytes;
        groups.set(partition, group);
      }
      for (const record of routed.records) add(partition, record);
    }
    const records = request.records ?? [];
    if (request.partition !== undefined && request.partition >= 0) {
      const partition = checkPartition(request.partition);
      for (const record of records) add(partition, record);
    } else {
      let keyless: number | undefined;
      for (const record of records) {
        if (record.key !== null) {
          add(partitionForKey(record.key, count), record);
        } else {
          keyless ??= this.stickyFor(topic.name).nextPartition(count);
          add(keyless, record);
        }
      }
    }
    return [...groups.values()].filter((g) => g.records.length > 0 || g.batch !== undefined);
  }

  private stickyFor(topic: string): StickyPartitioner {
    let sticky = this.sticky.get(topic);
    if (sticky === undefined) {
      sticky = new StickyPartitioner(Math.floor(Math.random() * 1024));
      this.sticky.set(topic, sticky);
    }
    return sticky;
  }

  /** Checks one record against the limits; returns its size in bytes. */
  private validateRecord(record: ProduceRecord): number {
    const bytes = recordBytes(record);
    this.checkRecordLimits(record.key?.length ?? 0, record.headers.length, bytes);
    if (record.timestampMs !== undefined && (!Number.isSafeInteger(record.timestampMs) || record.timestampMs < 0)) {
      throw new BrokerError('INVALID_ARGUMENT', `timestamp ${record.timestampMs} is not a non-negative integer of milliseconds`, { field: 'timestampMs' });
    }
    return bytes;
  }

  /** Checks the records of a sent batch against the limits, by their largest; returns their size in bytes. */
  private validateScan(scan: RecordsScan): number {
    this.checkRecordLimits(scan.largestKeyBytes, scan.mostHeaders, scan.largestRecordBytes);
    return scan.payloadBytes;
  }

  private checkRecordLimits(keyBytes: number, headerCount: number, bytes: number): void {
    const { keyBytesMax, recordBytesMax, headerCountMax } = this.settings;
    if (keyBytes > keyBytesMax) {
      throw new BrokerError('RECORD_TOO_LARGE', `a key of ${keyBytes} bytes exceeds keyBytesMax ${keyBytesMax}`, { keyBytes, keyBytesMax });
    }
    if (headerCount > headerCountMax) {
      throw new BrokerError('RECORD_TOO_LARGE', `${headerCount} headers exceed headerCountMax ${headerCountMax}`, { headerCount, headerCountMax });
    }
    if (bytes > recordBytesMax) {
      throw new BrokerError('RECORD_TOO_LARGE', `a record of ${bytes} bytes exceeds recordBytesMax ${recordBytesMax}`, { recordBytes: bytes, recordBytesMax });
    }
  }

  private checkQuotas(topic: string, clientId: string, bytes: number, records: number): void {
    const s = this.settings;
    const client = bucketsFor(this.clientBuckets, clientId, s.producerBytesPerSecondMax, s.producerRecordsPerSecondMax, this.clock);
    const perTopic = bucketsFor(this.topicBuckets, topic, s.topicBytesPerSecondMax, s.topicRecordsPerSecondMax, this.clock);
    const waits: [string, number][] = [
      ['client_bytes', client.bytes?.waitMsFor(bytes) ?? 0],
      ['client_records', client.records?.waitMsFor(records) ?? 0],
      ['topic_bytes', perTopic.bytes?.waitMsFor(bytes) ?? 0],
      ['topic_records', perTopic.records?.waitMsFor(records) ?? 0],
    ];
    const worst = waits.reduce((a, b) => (b[1] > a[1] ? b : a));
    if (worst[1] > 0) {
      this.metrics.produceRejections.inc({ reason: `quota_${worst[0]}` });
      throw new BrokerError('THROTTLED', `produce quota exceeded (${worst[0].replace('_', ' ')}) for client ${JSON.stringify(clientId)} on topic ${topic}`, {
        reason: worst[0],
        retryAfterMs: worst[1],
      });
    }
    client.bytes?.take(bytes);
    client.records?.take(records);
    perTopic.bytes?.take(bytes);
    perTopic.records?.take(records);
  }

  private reserveInFlight(connectionId: string, bytes: number): () => void {
    let connection = this.connectionBudgets.get(connectionId);
    if (connection === undefined) {
      connection = new ByteBudget(this.settings.connectionInFlightProduceBytesMax);
      this.connectionBudgets.set(connectionId, connection);
    }
    const releaseConnection = connection.tryReserve(bytes);
    const releaseBroker = releaseConnection === undefined ? undefined : this.inFlight.tryReserve(bytes);
    if (releaseConnection === undefined || releaseBroker === undefined) {
      releaseConnection?.();
      const scope = releaseConnection === undefined ? 'connection' : 'broker';
      this.metrics.produceRejections.inc({ reason: `in_flight_${scope}` });
      throw new BrokerError('BROKER_BUSY', `too many produce bytes in flight for this ${scope}; retry shortly`, {
        reason: `in_flight_${scope}`,
        retryAfterMs: BUSY_RETRY_AFTER_MS,
      });
    }
    this.metrics.inFlightProduceBytes.set(this.inFlight.usedBytes);
    return () => {
      releaseBroker();
      releaseConnection();
      this.metrics.inFlightProduceBytes.set(this.inFlight.usedBytes);
    };
  }

  /** Applies the topic's fullPolicy before `incomingBytes` are appended to a partition at its size limit. */
  private makeRoom(topic: Topic, partition: Partition, incomingBytes: number): void {
    const limit = topic.config.retentionBytes;
    if (limit === -1 || partition.sizeBytes + incomingBytes <= limit) return;
    if (topic.config.fullPolicy === 'drop-oldest') {
      const before = partition.state().logStartOffset;
      const result = partition.enforceRetention();
      this.countDroppedUnconsumed(topic.name, partition.id, before, result.logStartOffset);
      return;
    }
    partition.enforceRetention({ sizeDeletableBelowOffset: this.consumedBelow(topic.name, partition.id) });
    if (partition.sizeBytes + incomingBytes > limit) {
      this.metrics.produceRejections.inc({ reason: 'topic_full' });
      throw new BrokerError('TOPIC_FULL', `partition ${partition.id} of ${topic.name} holds ${partition.sizeBytes} bytes of its retentionBytes ${limit}`, {
        topic: topic.name,
        partition: partition.id,
        sizeBytes: partition.sizeBytes,
        retentionBytes: limit,
        retryAfterMs: 1000,
      });
    }
  }

  /**
   * The offset below which every consumer group with a committed offset on this partition has
   * consumed (undefined when no group has committed one).
   */
  private consumedBelow(topic: string, partition: number): number | undefined {
    let lowest: number | undefined;
    for (const group of this.meta.listGroupsWithOffsets()) {
      const committed = this.meta.getCommittedOffset(group, topic, partition);
      if (committed !== undefined) lowest = Math.min(lowest ?? Number.MAX_SAFE_INTEGER, committed.offset);
    }
    return lowest;
  }

  private countDroppedUnconsumed(topic: string, partition: number, fromOffset: number, toOffset: number): void {
    const consumed = this.consumedBelow(topic, partition);
    if (consumed === undefined || toOffset <= fromOffset) return;
    const unconsumed = Math.max(0, toOffset - Math.max(fromOffset, consumed));
    if (unconsumed > 0) {
      this.metrics.droppedUnconsumedRecords.inc({ topic }, unconsumed);
      this.logger.warn({ topic, partition, unconsumed }, 'drop-oldest deleted records a consumer group had not consumed');
    }
  }

  private runRetention(): void {
    for (const topic of this.topics.list()) {
      for (const partition of topic.partitions) {
        if (partition.offline !== undefined) continue;
        try {
          const before = partition.state().logStartOffset;
          const options = topic.config.fullPolicy === 'reject' ? { sizeDeletableBelowOffset: this.consumedBelow(topic.name, partition.id) } : {};
          const result = partition.enforceRetention(options);
          if (topic.config.fullPolicy === 'drop-oldest') this.countDroppedUnconsumed(topic.name, partition.id, before, result.logStartOffset);
        } catch (error) {
          this.logger.error({ topic: topic.name, partition: partition.id, err: error }, 'retention failed');
        }
      }
    }
  }

  /**
   * Appends a record that failed its last attempt to its topic's DLQ topic (created on demand with
   * the source's partition count and `always` durability), into the same partition number. Resolves
   * once the append is durable: only then may the group's committed offset move past the record.
   */
  private async appendDeadLetter(request: DeadLetterRequest): Promise<void> {
    const source = this.topics.require(request.topic);
    const name = source.config.dlqTopic || `${request.topic}.dlq`;
    let dlq = this.topics.get(name);
    if (dlq === undefined) {
      try {
        await this.topics.create({ name, partitionCount: source.partitions.length, config: { durability: 'always' } });
        this.groups.topicsChanged(name);
      } catch (error) {
        if (!(error instanceof BrokerError && error.code === 'TOPIC_EXISTS')) throw error;
      }
      dlq = this.topics.require(name);
    }
    const partition = dlq.partitions[request.partition % dlq.partitions.length]!;
    await partition.append({ records: [deadLetterRecord(request)] });
    if (dlq.config.durability !== 'always') await partition.flush();
    this.metrics.deadLettered.inc({ topic: request.topic, group: request.group });
  }

  async initProducer(): Promise<{ producerId: number; producerEpoch: number }> {
    this.checkOpen();
    return { producerId: await this.meta.allocateProducerId(), producerEpoch: 0 };
  }

  // ---- fetch ----

  /** Reads records from an offset, long-polling up to `maxWaitMs` when none is readable yet. */
  async fetch(request: FetchRequest): Promise<FetchResult> {
    this.checkOpen();
    const partition = this.topics.partition(request.topic, request.partition);
    const maxBytes = this.clampFetchBytes(request.maxBytes);
    const maxWaitMs = Math.min(Math.max(0, request.maxWaitMs), this.settings.fetchWaitMsMax);
    if (maxWaitMs > 0 && partition.highWatermark <= request.offset) {
      this.checkOffset(partition, request.offset);
      await this.waitForData({ partition, fromOffset: request.offset, timeoutMs: maxWaitMs, ...(request.signal ? { signal: request.signal } : {}) });
    }
    return this.readRecords(request.topic, partition, request.offset, maxBytes);
  }

  /** Waits (bounded by fetchWaitersMax broker-wide) until `fromOffset` is readable. */
  async waitForData(options: { partition: Partition; fromOffset: number; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (this.fetchWaiters >= this.settings.fetchWaitersMax) {
      this.metrics.produceRejections.inc({ reason: 'fetch_waiters' });
      throw new BrokerError('BROKER_BUSY', `fetchWaitersMax ${this.settings.fetchWaitersMax} long polls are already waiting`, { retryAfterMs: BUSY_RETRY_AFTER_MS });
    }
    this.fetchWaiters++;
    try {
      await options.partition.waitForData(options);
    } finally {
      this.fetchWaiters--;
    }
  }

  /** The partition (TOPIC_NOT_FOUND / PARTITION_NOT_FOUND otherwise); transports use it to subscribe. */
  partition(topic: string, partition: number): Partition {
    return this.topics.partition(topic, partition);
  }

  clampFetchBytes(maxBytes: number): number {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new BrokerError('INVALID_ARGUMENT', `maxBytes must be a non-negative integer, got ${maxBytes}`, { field: 'maxBytes' });
    return maxBytes === 0 ? this.settings.fetchBytesMax : Math.min(maxBytes, this.settings.fetchBytesMax);
  }

  private checkOffset(partition: Partition, offset: number): void {
    const state = partition.state();
    if (!Number.isSafeInteger(offset) || offset < state.logStartOffset || offset > state.highWatermark) {
      throw new BrokerError('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside [${state.logStartOffset}, ${state.highWatermark}] of ${partition.topic}/${partition.id}`, {
        offset,
        logStartOffset: state.logStartOffset,
        highWatermark: state.highWatermark,
      });
    }
  }

  /** Reads and decodes records at or after `offset` (records before it in the first batch are skipped). */
  readRecords(topic: string, partition: Partition, offset: number, maxBytes: number): FetchResult {
    const result = partition.read({ fromOffset: offset, maxBytes });
    const records: LogRecord[] = [];
    for (const batch of splitBatches(result.bytes)) {
      for (const record of decodeRecords(batch)) if (record.offset >= offset) records.push(record);
    }
    this.metrics.fetchRecords.inc({ topic }, records.length);
    this.metrics.fetchBytes.inc({ topic }, result.bytes.length);
    return { topic, partition: partition.id, records, nextOffset: result.nextOffset, logStartOffset: result.logStartOffset, highWatermark: result.highWatermark };
  }

  listOffsets(request: { topic: string; partitions?: readonly number[]; spec: OffsetSpec }): PartitionOffset[] {
    this.checkOpen();
    const topic = this.topics.require(request.topic);
    const ids = request.partitions?.length ? request.partitions : topic.partitions.map((p) => p.id);
    return ids.map((id) => {
      const partition = this.topics.partition(request.topic, id);
      const state = partition.state();
      if (partition.offline !== undefined) throw partition.offline;
      const { spec } = request;
      const offset =
        'earliest' in spec ? state.logStartOffset : 'latest' in spec ? state.highWatermark : (partition.offsetForTimestamp(spec.timestampMs) ?? state.highWatermark);
      return { partition: id, offset: asOffset(offset), logStartOffset: state.logStartOffset, highWatermark: state.highWatermark };
    });
  }

  // ---- topics ----

  async createTopic(request: { name: string; partitionCount: number; config?: Readonly<Record<string, string | number>> }): Promise<TopicDescription> {
    this.checkOpen();
    const topic = await this.topics.create(request);
    this.groups.topicsChanged(topic.name);
    return this.describe(topic);
  }

  /** Deletes a topic with its records, and every group's offsets and attempts on it (a re-created topic starts clean). */
  async deleteTopic(name: string): Promise<void> {
    this.checkOpen();
    const topic = this.topics.require(name);
    this.sticky.delete(name);
    await this.topics.delete(name);
    this.groups.topicsChanged(name);
    for (const group of this.meta.listGroupsWithOffsets()) {
      await this.meta.deleteGroupOffsets(group, { topic: name, durable: true });
      for (const partition of topic.partitions) await this.meta.clearDeliveryAttemptsBelow(group, name, partition.id, Number.MAX_SAFE_INTEGER);
    }
  }

  listTopics(): TopicDescription[] {
    return this.topics.list().map((topic) => this.describe(topic));
  }

  describeTopic(name: string): TopicDescription {
    return this.describe(this.topics.require(name));
  }

  private describe(topic: Topic): TopicDescription {
    return {
      name: topic.name,
      partitionCount: topic.partitions.length,
      overrides: topic.overrides,
      config: topic.config,
      createdAtMs: topic.createdAtMs,
      partitions: topic.partitions.map((p) => ({ partition: p.id, ...p.state() })),
    };
  }

  /** The broker's defaults for topic settings. */
  get defaultTopicConfig(): TopicConfig {
    return this.topicDefaults;
  }

  // ---- consumer groups and dead letters ----

  listGroups(): GroupSummary[] {
    return this.groupAdmin.list();
  }

  describeGroup(group: string): GroupDescription {
    return this.groupAdmin.describe(group);
  }

  /** Lag of every group partition, for the metrics scrape (the metadata store is closed once closing). */
  private groupLagSamples(): GroupLagSample[] {
    if (this.closing) return [];
    return this.groupAdmin.names().flatMap((group) =>
      this.groupAdmin.describe(group).partitions.map((p) => ({ group, topic: p.topic, partition: p.partition, lagRecords: p.lagRecords, lagSeconds: p.lagSeconds })),
    );
  }

  /** The new offsets a reset would set, with the lag after it, without changing anything. */
  planGroupReset(request: { group: string; topic: string; target: ResetTarget }): ResetPlanEntry[] {
    return this.groupAdmin.planReset(request.group, request.topic, request.target);
  }

  /** Resets a group's offsets on a topic; live members need `force` (they are fenced and restart from there). */
  async resetGroup(request: { group: string; topic: string; target: ResetTarget; force: boolean }): Promise<ResetPlanEntry[]> {
    this.checkOpen();
    return await this.groupAdmin.reset(request.group, request.topic, request.target, { force: request.force });
  }

  setGroupPaused(group: string, paused: boolean): void {
    this.checkOpen();
    this.groups.setPaused(group, paused);
  }

  async deleteGroup(group: string): Promise<void> {
    this.checkOpen();
    this.groupAdmin.describe(group); // GROUP_NOT_FOUND for a group that never existed
    await this.groups.deleteGroup(group);
  }

  /** The DLQ topic of `topic` (its dlqTopic setting, else `<topic>.dlq`). */
  dlqTopicOf(topic: string): string {
    return this.topics.require(topic).config.dlqTopic || `${topic}.dlq`;
  }

  listDeadLetters(request: { dlqTopic: string; partition?: number; fromOffset?: number; errorContains?: string; limit: number }): DeadLetterView[] {
    return listDeadLetters(this.topics, request);
  }

  async redrive(request: RedriveRequest): Promise<RedriveResult> {
    this.checkOpen();
    return await this.redriver.redrive(request);
  }

  // ---- overview ----

  overview(): BrokerOverview {
    this.checkOpen();
    let partitionCount = 0;
    let offlinePartitionCount = 0;
    let logSizeBytes = 0;
    const topics = this.topics.list();
    for (const topic of topics) {
      for (const partition of topic.partitions) {
        partitionCount++;
        if (partition.offline !== undefined) offlinePartitionCount++;
        logSizeBytes += partition.state().sizeBytes;
      }
    }
    const nowMs = this.clock.nowMs();
    return {
      startedAtMs: this.startedAtMs,
      nowMs,
      uptimeMs: Math.max(0, nowMs - this.startedAtMs),
      dataDir: this.settings.dataDir,
      topicCount: topics.length,
      partitionCount,
      offlinePartitionCount,
      logSizeBytes,
      groupCount: this.groupAdmin.names().length,
    };
  }

  // ---- lifecycle ----

  get isClosing(): boolean {
    return this.closing;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const timer of this.timers.splice(0)) timer.cancel();
    await this.groups.close();
    if (this.appendsInFlight > 0) await new Promise<void>((resolve) => (this.appendsSettled = resolve));
    await this.topics.close();
    await this.meta.close();
  }
}

/** Bytes of a record as quotas and limits count them: key + value + header keys and values. */
function recordBytes(record: ProduceRecord): number {
  let bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers) bytes += Buffer.byteLength(header.key) + (header.value?.length ?? 0);
  return bytes;
}

function bucketsFor(
  map: Map<string, { bytes?: TokenBucket; records?: TokenBucket }>,
  name: string,
  bytesPerSecond: number,
  recordsPerSecond: number,
  clock: Clock,
): { bytes?: TokenBucket; records?: TokenBucket } {
  let buckets = map.get(name);
  if (buckets === undefined) {
    buckets = {};
    if (bytesPerSecond !== -1) buckets.bytes = new TokenBucket(bytesPerSecond, clock);
    if (recordsPerSecond !== -1) buckets.records = new TokenBucket(recordsPerSecond, clock);
    // Bounded: client ids come from clients. Dropping the oldest bucket only forgives its debt.
    if (map.size >= QUOTA_KEYS_MAX) map.delete(map.keys().next().value!);
    map.set(name, buckets);
  }
  return buckets;
}

export type { MemberSink, JoinRequest, Delivery, DeliveredRecord, OffsetRange, TopicPartition, GroupDescription, GroupSummary, ResetTarget, ResetPlanEntry } from './group/index.js';
export { deliveredRecords } from './group/index.js';
export type { DeadLetterView, RedriveRequest, RedriveResult } from './dlq/index.js';
