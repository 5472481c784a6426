/**
 * One partition of a topic: its log, its idempotent-producer state and the readers waiting for new
 * records (long polls, subscriptions).
 *
 * Appends: records are encoded into batches of at most `batchBytesMax` and written with one log
 * append; offsets are assigned synchronously in call order, so concurrent appends need no lock. The
 * promise resolves when the log's durability mode is satisfied (see SegmentLog). A producer's retry
 * of a batch already written resolves with the original offsets once those are durable.
 *
 * A partition whose log failed to open (corruption) or went offline (I/O error) stays registered
 * and answers every call with that error, so the rest of the broker keeps serving.
 */
import { type Clock, type Logger, type Offset, asOffset } from '../base/index.js';
import { pickLogSettings, type TopicConfig } from '../config.js';
import { BrokerError, isBrokerError } from '../errors.js';
import {
  type AppendResult,
  type FileIO,
  type Journal,
  type ReadResult,
  type RecordInput,
  type RetentionResult,
  SegmentLog,
  decodeRecords,
  encodeBatch,
  planBatches,
  readBatchHeader,
  splitBatches,
} from '../storage/index.js';
import { ProducerStateTable, nextSequence, type ProducerSnapshot } from './producer-state.js';

export interface ProducerStamp {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/**
 * Records to append, or one record batch in the log's format as a client sent it (checked by the
 * caller: checksum, structure, limits, producer fields), stored as is when it fits batchBytesMax.
 */
export type PartitionAppendRequest = ({ records: readonly RecordInput[] } | { batch: Buffer; recordCount: number }) & { producer?: ProducerStamp | undefined };

export interface PartitionAppendResult {
  baseOffset: Offset;
  lastOffset: Offset;
  recordCount: number;
  /** The batch had been written before (a producer retry): these are its original offsets. */
  duplicate: boolean;
  durability: AppendResult['durability'];
}

export interface PartitionState {
  logStartOffset: Offset;
  logEndOffset: Offset;
  highWatermark: Offset;
  sizeBytes: number;
  segmentCount: number;
  offline?: { code: string; message: string };
}

interface DataWaiter {
  fromOffset: number;
  resolve: () => void;
}

/** Bytes read per step when replaying producer state from the log at open. */
const REPLAY_READ_BYTES = 1024 * 1024;

export class Partition {
  private readonly waiters = new Set<DataWaiter>();
  private offlineError: BrokerError | undefined;

  private constructor(
    readonly topic: string,
    readonly id: number,
    private readonly log: SegmentLog | undefined,
    private readonly producers: ProducerStateTable,
    private readonly clock: Clock,
    readonly config: TopicConfig,
    openError: BrokerError | undefined,
  ) {
    this.offlineError = openError;
  }

  /**
   * Opens (or creates) the partition's log in `dir` and rebuilds producer state from `snapshot` plus
   * the batches written after it. Corruption does not throw: the partition opens offline.
   */
  static open(options: {
    topic: string;
    id: number;
    dir: string;
    config: TopicConfig;
    io?: FileIO;
    journal?: Journal;
    clock: Clock;
    logger: Logger;
    snapshot?: ProducerSnapshot;
  }): Partition {
    const { topic, id, config, clock, logger } = options;
    let log: SegmentLog;
    try {
      log = SegmentLog.open({
        dir: options.dir,
        config: pickLogSettings(config),
        clock,
        logger,
        ...(options.io ? { io: options.io } : {}),
        ...(options.journal ? { journal: options.journal } : {}),
      });
    } catch (error) {
      if (!isBrokerError(error)) throw error;
      logger.error({ topic, partition: id, code: error.code, err: error }, 'partition is offline: its log failed to open');
      return new Partition(topic, id, undefined, new ProducerStateTable(), clock, config, error);
    }
    const producers = new ProducerStateTable(options.snapshot);
    replayProducerState(log, producers, options.snapshot?.coveredOffset ?? 0);
    return new Partition(topic, id, log, producers, clock, config, undefined);
  }

  private online(): SegmentLog {
    const error = this.offlineError ?? this.log?.offline;
    if (error !== undefined || this.log === undefined) throw error ?? new BrokerError('INTERNAL', 'partition without a log');
    return this.log;
  }

  get offline(): BrokerError | undefined {
    return this.offlineError ?? this.log?.offline;
  }

  state(): PartitionState {
    const offline = this.offline;
    if (this.log === undefined) {
      const zero = asOffset(0);
      return { logStartOffset: zero, logEndOffset: zero, highWatermark: zero, sizeBytes: 0, segmentCount: 0, offline: { code: offline!.code, message: offline!.message } };
    }
    return {
      logStartOffset: this.log.logStartOffset,
      logEndOffset: this.log.logEndOffset,
      highWatermark: this.log.highWatermark,
      sizeBytes: this.log.sizeBytes,
      segmentCount: this.log.segmentCount,
      ...(offline ? { offline: { code: offline.code, message: offline.message } } : {}),
    };
  }

  /** Appends records (see the class comment). Records must already be validated against the limits. */
  async append(request: PartitionAppendRequest): Promise<PartitionAppendResult> {
    const log = this.online();
    const { producer } = request;
    const recordCount = 'batch' in request ? request.recordCount : request.records.length;
    if (producer !== undefined) {
      const check = this.producers.check({ producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence: producer.baseSequence, recordCount });
      if (check.kind === 'duplicate') {
        await this.waitUntilReadable(check.batch.lastOffset);
        return {
          baseOffset: asOffset(check.batch.baseOffset),
          lastOffset: asOffset(check.batch.lastOffset),
          recordCount,
          duplicate: true,
          durability: log.config.durability === 'always' ? 'fsynced' : 'written',
        };
      }
    }
    const batches = 'batch' in request && request.batch.length <= this.config.batchBytesMax ? [request.batch] : this.encode(request, producer);
    const endBefore = log.logEndOffset;
    const written = log.append(batches);
    // append() writes synchronously before its first await: if the log end moved, the batches are in
    // the log. Record the producer's batch now, so a retry arriving meanwhile is seen as a duplicate.
    if (producer !== undefined && log.logEndOffset === endBefore + recordCount) {
      this.producers.record({
        producerId: producer.producerId,
        producerEpoch: producer.producerEpoch,
        baseSequence: producer.baseSequence,
        lastSequence: nextSequence(producer.baseSequence, recordCount - 1),
        baseOffset: endBefore,
        lastOffset: endBefore + recordCount - 1,
        timestampMs: this.clock.nowMs(),
      });
    }
    const result = await written;
    this.notifyWaiters();
    return { baseOffset: result.baseOffset, lastOffset: result.lastOffset, recordCount, duplicate: false, durability: result.durability };
  }

  /** Encodes the request's records into batches of at most batchBytesMax, numbered from the producer's base sequence. */
  private encode(request: PartitionAppendRequest, producer: ProducerStamp | undefined): Buffer[] {
    const records = 'batch' in request ? decodeRecords(request.batch) : request.records;
    const groups = planBatches(records, this.config.batchBytesMax);
    if (groups === undefined) {
      throw new BrokerError('RECORD_TOO_LARGE', `a record does not fit in a batch of batchBytesMax ${this.config.batchBytesMax} of topic ${this.topic}`, {
        batchBytesMax: this.config.batchBytesMax,
      });
    }
    let sequence = producer?.baseSequence ?? -1;
    return groups.map((group) => {
      const batch = encodeBatch({
        records: group,
        ...(producer ? { producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence: sequence } : {}),
      });
      if (producer) sequence = nextSequence(sequence, group.length);
      return batch;
    });
  }

  read(request: { fromOffset: number; maxBytes: number }): ReadResult {
    return this.online().read(request);
  }

  offsetForTimestamp(timestampMs: number): Offset | undefined {
    return this.online().offsetForTimestamp(timestampMs);
  }

  get highWatermark(): Offset {
    return this.online().highWatermark;
  }

  /** Resolves once an offset >= `fromOffset` is readable, or when `timeoutMs` passes or `signal` aborts. */
  waitForData(options: { fromOffset: number; timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    this.online(); // an offline partition throws here, before any promise
    const { signal } = options;
    if (signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      const aborted = (): void => {
        cancel();
        resolve();
      };
      const cancel = this.whenReadable(options.fromOffset, options.timeoutMs, () => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      });
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  /**
   * Calls `onReady` once (never synchronously) when an offset >= `fromOffset` is readable, when
   * `timeoutMs` passes, or when the partition wakes every waiter (shutdown, deletion, going
   * offline); the returned function cancels the wait without calling it. The callback form of
   * waitForData, for a waiter that re-checks on every wake-up and needs no promise or signal.
   */
  whenReadable(fromOffset: number, timeoutMs: number, onReady: () => void): () => void {
    const log = this.online();
    let cancelled = false;
    if (log.highWatermark > fromOffset || timeoutMs <= 0) {
      queueMicrotask(() => cancelled || onReady());
      return () => (cancelled = true);
    }
    const finish = (): void => {
      timer.cancel();
      this.waiters.delete(waiter);
      onReady();
    };
    const waiter: DataWaiter = { fromOffset, resolve: finish };
    const timer = this.clock.setTimer(timeoutMs, finish);
    this.waiters.add(waiter);
    return () => {
      timer.cancel();
      this.waiters.delete(waiter);
    };
  }

  get waiterCount(): number {
    return this.waiters.size;
  }

  private async waitUntilReadable(lastOffset: number): Promise<void> {
    while (this.online().highWatermark <= lastOffset) {
      await this.waitForData({ fromOffset: lastOffset, timeoutMs: 60_000 });
    }
  }

  private notifyWaiters(): void {
    const highWatermark = this.log?.highWatermark ?? 0;
    for (const waiter of this.waiters) if (highWatermark > waiter.fromOffset) waiter.resolve();
  }

  /** Wakes every waiter (shutdown, deletion, going offline): they re-check and see the new state. */
  wakeAll(): void {
    for (const waiter of this.waiters) waiter.resolve();
  }

  /** Fsyncs everything written so far (whatever the topic's durability mode). */
  async flush(): Promise<void> {
    await this.online().flush();
  }

  /** Runs retention; `sizeDeletableBelowOffset` protects records not yet consumed by every group. */
  enforceRetention(options: { sizeDeletableBelowOffset?: number } = {}): RetentionResult {
    return this.online().enforceRetention(options);
  }

  get sizeBytes(): number {
    return this.log?.sizeBytes ?? 0;
  }

  /** Expires idle producers and returns the state to persist. */
  producerSnapshot(): ProducerSnapshot | undefined {
    if (this.log === undefined || this.offline !== undefined) return undefined;
    this.producers.expire(this.clock.nowMs() - this.producerIdExpirationMs);
    return this.producers.snapshot(this.log.logEndOffset);
  }

  /** Set by the registry from the broker settings. */
  producerIdExpirationMs = 7 * 24 * 60 * 60 * 1000;

  async close(): Promise<void> {
    this.wakeAll();
    await this.log?.close();
  }
}

/** Rebuilds producer state from the batch headers written at or after `fromOffset`. */
function replayProducerState(log: SegmentLog, producers: ProducerStateTable, fromOffset: number): void {
  let offset = Math.max(fromOffset, log.logStartOffset);
  if (offset > log.highWatermark) {
    // The snapshot claims more than the log holds (the log lost an unsynced tail): drop the excess.
    producers.truncate(log.highWatermark);
    return;
  }
  while (offset < log.highWatermark) {
    const { bytes, nextOffset } = log.read({ fromOffset: offset, maxBytes: REPLAY_READ_BYTES });
    for (const batch of splitBatches(bytes)) {
      const header = readBatchHeader(batch, 0);
      if (header.producerId < 0 || header.baseOffset + header.lastOffsetDelta < offset) continue;
      producers.record({
        producerId: header.producerId,
        producerEpoch: header.producerEpoch,
        baseSequence: header.baseSequence,
        lastSequence: nextSequence(header.baseSequence, header.recordCount - 1),
        baseOffset: header.baseOffset,
        lastOffset: header.baseOffset + header.lastOffsetDelta,
        timestampMs: header.maxTimestampMs,
      });
    }
    offset = nextOffset;
  }
}
