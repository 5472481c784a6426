/**
 * The producer's sending side: one lane per topic partition holding its batches in order, a shared
 * produce stream, and the retry rules. The Producer (producer.ts) routes and batches records;
 * this file decides when a batch goes out and what happens when it fails.
 *
 * Batches that become sendable together go out together: an idempotent producer puts one batch per
 * partition of a topic into one ProduceRequest (fewer requests when records spread over many
 * partitions); without idempotence each batch is a request of its own, so a failure concerns exactly
 * one batch. At most `inFlightMax` batches are unanswered in all, and at most
 * `inFlightPerPartitionMax` per partition (5 when idempotent: the broker remembers a producer's last
 * five batches per partition, so a retry of any unanswered batch is still recognised).
 *
 * Idempotence: a lane numbers its records (`baseSequence`, per producer id and partition) when a
 * batch is first sent, and a retry re-sends the same batch with the same numbers, so the broker
 * writes it once (a retry of a batch it already wrote is answered with the original offsets).
 *
 * Retries, per lane: when a batch fails with a retriable error (its code says `retriable`:
 * BROKER_UNAVAILABLE, DEADLINE_EXCEEDED, SHUTTING_DOWN, BROKER_BUSY, THROTTLED, ...), the lane stops
 * sending new batches, waits until its unanswered batches are answered, then re-sends the failed
 * ones one at a time, in order, after an exponential backoff with jitter (at least the broker's
 * `retryAfterMs`); then it resumes pipelining. Later batches the broker refused with
 * OUT_OF_ORDER_SEQUENCE (because an earlier one was missing) go again right after it, without a
 * backoff. If the broker expects an earlier sequence than a batch carries (an earlier batch failed for
 * good, so its numbers were never written), the lane renumbers its failed batches from there; on
 * UNKNOWN_PRODUCER (the broker forgot the producer id) the lane takes a new producer id and
 * renumbers from 0. Anything else, or a batch out of retries, fails its `send` calls.
 *
 * With idempotence off the same rules apply without numbers: a retry after a lost answer may write a
 * batch twice, and a later batch accepted while an earlier one is retried is written before it.
 *
 * Interleaving: `pump` and `settle` run to completion; only `attempt` (a send and its answer) and
 * `recover` (backoff sleeps, sends) await. A lane is either pipelining or recovering, never both:
 * `pump` skips a recovering lane, and recovery starts only once the lane has nothing in flight, so
 * the broker's view of the lane's sequence is settled whenever a recovery send goes out.
 */
import { status as GrpcStatusCode } from '@grpc/grpc-js';
import { type RetryPolicy, retryDelayMs, sleep } from './backoff.js';
import type { Connection } from './connection.js';
import { type SluiceError, clientError, fromCallError } from './errors.js';
import type { ProduceStream } from './produce-stream.js';
import type { ProduceRequest, ProduceResult, ProducerIdentity, RecordHeader } from './types.js';

export interface EncodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: readonly RecordHeader[];
  timestampMs: number;
}

/** The `send` call a record came from: told where each of its records went, or why one failed. */
export interface RecordOwner {
  done(index: number, metadata: { topic: string; partition: number; offset: number }): void;
  failed(error: SluiceError): void;
}

/**
 * One record waiting in a batch, with its owner and its index among the owner's records: one object
 * per record (no wrapper, no closure), as thousands are held until their batch is answered.
 */
export interface PendingRecord extends EncodedRecord {
  bytes: number;
  owner: RecordOwner;
  index: number;
}

export interface LaneSettings {
  idempotent: boolean;
  inFlightMax: number;
  inFlightPerPartitionMax: number;
  requestTimeoutMs: number;
  retry: RetryPolicy;
  lingerMs: number;
  batchBytesMax: number;
  batchRecordsMax: number;
}

export interface LaneEvents {
  /** A batch is about to be sent again after `delayMs`. */
  retry: { topic: string; partition: number; attempt: number; delayMs: number; error: SluiceError; recordCount: number };
  /** A batch failed for good; its `send` calls reject with `error`. */
  batchFailed: { topic: string; partition: number; recordCount: number; error: SluiceError };
}

export interface LaneCallbacks {
  emit<K extends keyof LaneEvents>(event: K, payload: LaneEvents[K]): void;
  /** A batch was acknowledged or failed for good. */
  settled(batch: Batch, error?: SluiceError): void;
}

export class Batch {
  readonly records: EncodedRecord[] = [];
  readonly owners: PendingRecord[] = [];
  bytes = 0;
  /** Full, lingered long enough, or flushed: may be sent. */
  sendable = false;
  dispatched = false;
  lingerTimer: NodeJS.Timeout | undefined;
  /** Dispatch order within its lane (the order retries keep). */
  order = 0;
  identity: ProducerIdentity | undefined;
  baseSequence: number | undefined;
  /** Failed attempts so far. */
  attempts = 0;
  lastError: SluiceError | undefined;
  renumberings = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

class Lane {
  /** Batches not yet sent, in order; only the last may still take records. */
  readonly queue: Batch[] = [];
  readonly inFlight: Batch[] = [];
  /** Batches that failed retriably, in dispatch order, to be sent again one at a time. */
  readonly retry: Batch[] = [];
  recovering = false;
  recoveryRunning = false;
  identity: ProducerIdentity | undefined;
  nextSequence = 0;
  dispatched = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

type Outcome = { result: ProduceResult } | { error: SluiceError };

/** Sequences wrap to 0 after 2^31 - 1, as on the broker. */
const SEQUENCE_LIMIT = 0x8000_0000;
/** Renumbering a batch more often than this means the broker and the lane disagree: fail it. */
const RENUMBERINGS_MAX = 3;

function addSequence(sequence: number, count: number): number {
  return (sequence + count) % SEQUENCE_LIMIT;
}

export class ProducerLanes {
  private readonly lanes = new Map<string, Lane>();
  private inFlightCount = 0;
  private stream: ProduceStream | undefined;
  private readonly timedOut = new WeakSet<ProduceStream>();
  /** The producer id new lanes use (a lane keeps its own once it has one). */
  private identity: ProducerIdentity | undefined;
  private identityRequest: Promise<void> | undefined;
  private closed = false;
  private pumpScheduled = false;

  constructor(
    private readonly connection: Connection,
    private readonly settings: LaneSettings,
    private readonly callbacks: LaneCallbacks,
  ) {}

  /** Adds a record to the partition's open batch (or a new one); returns that batch. */
  append(topic: string, partition: number, record: PendingRecord): Batch {
    const lane = this.lane(topic, partition);
    let batch = lane.queue[lane.queue.length - 1];
    if (batch === undefined || !this.accepts(batch, record.bytes)) {
      if (batch !== undefined) this.markSendable(batch);
      batch = new Batch(topic, partition);
      lane.queue.push(batch);
      const created = batch;
      const ready = (): void => {
        this.markSendable(created);
        this.pumpSoon();
      };
      // No linger: the batch goes once this turn's sends are in, not after a timer (Node runs a 0 ms
      // timer 1 ms later at the earliest, which was most of a record's latency at 5k/s).
      if (this.settings.lingerMs === 0) ready();
      else created.lingerTimer = setTimeout(ready, this.settings.lingerMs);
    }
    batch.records.push(record);
    batch.owners.push(record);
    batch.bytes += record.bytes;
    if (batch.records.length >= this.settings.batchRecordsMax || batch.bytes >= this.settings.batchBytesMax) {
      this.markSendable(batch);
      this.pump();
    }
    return batch;
  }

  /** Whether `batch` is still open and has room for a record of `bytes` (an empty batch takes any record). */
  accepts(batch: Batch, bytes: number): boolean {
    if (batch.dispatched || batch.records.length >= this.settings.batchRecordsMax) return false;
    return batch.records.length === 0 || batch.bytes + bytes <= this.settings.batchBytesMax;
  }

  /** Makes every waiting batch sendable now (flush). */
  sendAllNow(): void {
    for (const lane of this.lanes.values()) for (const batch of lane.queue) this.markSendable(batch);
    this.pump();
  }

  /** Closes the produce stream once its answers are in (call after everything settled). */
  async close(): Promise<void> {
    this.closed = true;
    const stream = this.stream;
    this.stream = undefined;
    if (stream?.isOpen) await stream.close();
  }

  private lane(topic: string, partition: number): Lane {
    const key = `${topic}\u0000${partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = new Lane(topic, partition);
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private markSendable(batch: Batch): void {
    batch.sendable = true;
    if (batch.lingerTimer !== undefined) clearTimeout(batch.lingerTimer);
    batch.lingerTimer = undefined;
  }

  // ---- sending ----

  /**
   * Pumps once after this turn's timers: the linger timers of batches opened together fire in one
   * turn (with no linger, the batches opened by one turn's sends), and their batches then leave in
   * one request rather than one request each.
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends what may be sent: sendable batches of lanes that are not recovering, within the windows. */
  private pump(): void {
    const ready: { lane: Lane; batch: Batch }[] = [];
    if (this.settings.idempotent) this.rideAlong();
    let progress = true;
    while (progress && this.inFlightCount < this.settings.inFlightMax) {
      progress = false;
      for (const lane of this.lanes.values()) {
        if (this.inFlightCount >= this.settings.inFlightMax) break;
        if (lane.recovering || lane.inFlight.length >= this.settings.inFlightPerPartitionMax) continue;
        const head = lane.queue[0];
        if (head === undefined || !head.sendable) continue;
        if (this.settings.idempotent && lane.identity === undefined) {
          if (this.identity === undefined) {
            this.requestIdentity();
            continue;
          }
          lane.identity = this.identity;
        }
        lane.queue.shift();
        this.dispatch(lane, head);
        ready.push({ lane, batch: head });
        progress = true;
      }
    }
    for (const request of this.requestsFor(ready)) void this.send(request);
  }

  /**
   * Sends one request and settles its batches. A grouped request refused with an error a retry
   * cannot fix (one batch's record too large, say) is sent again batch by batch, so that the
   * refusal reaches only the batches it concerns (idempotence makes the re-send safe).
   */
  private async send(request: readonly { lane: Lane; batch: Batch }[]): Promise<void> {
    const outcomes = await this.attempt(request.map((entry) => entry.batch));
    const refused = outcomes[0]!;
    if (request.length > 1 && 'error' in refused && !refused.error.retriable) {
      await Promise.all(request.map(async (entry) => this.settle(entry.lane, entry.batch, (await this.attempt([entry.batch]))[0]!)));
    } else {
      request.forEach((entry, i) => this.settle(entry.lane, entry.batch, outcomes[i]!));
    }
    // Once for the whole request: the room its batches left is filled by one request, not one each.
    this.pump();
  }

  /**
   * When some batch is going out, the open batches of other partitions go with it, in the same
   * request, without waiting out their linger (as Kafka's producer drains every partition of a broker
   * it sends to): no request more, and their records wait less.
   */
  private rideAlong(): void {
    let going = false;
    for (const lane of this.lanes.values()) if (lane.queue[0]?.sendable === true) going = true;
    if (!going) return;
    for (const lane of this.lanes.values()) {
      const head = lane.queue[0];
      if (head !== undefined && head.records.length > 0) this.markSendable(head);
    }
  }

  /**
   * Groups batches ready at once into requests, as Kafka's producer does: one request carries one
   * batch per partition of a topic, under one producer id. Only an idempotent producer groups: a
   * request that fails is retried whole, which is harmless only when the broker drops what it
   * already wrote. Batches keep their order: a partition's next batch goes in a later request.
   */
  private requestsFor(ready: readonly { lane: Lane; batch: Batch }[]): { lane: Lane; batch: Batch }[][] {
    if (!this.settings.idempotent) return ready.map((entry) => [entry]);
    const requests: { lane: Lane; batch: Batch }[][] = [];
    const open = new Map<string, { entries: { lane: Lane; batch: Batch }[]; partitions: Set<number> }>();
    for (const entry of ready) {
      const { batch } = entry;
      const key = `${batch.topic}\u0000${batch.identity?.producerId}\u0000${batch.identity?.producerEpoch}`;
      let request = open.get(key);
      if (request === undefined || request.partitions.has(batch.partition)) {
        request = { entries: [], partitions: new Set() };
        open.set(key, request);
        requests.push(request.entries);
      }
      request.entries.push(entry);
      request.partitions.add(batch.partition);
    }
    return requests;
  }

  /** Bookkeeping of a batch going out: its order in the lane and its sequence numbers. */
  private dispatch(lane: Lane, batch: Batch): void {
    batch.dispatched = true;
    batch.order = lane.dispatched++;
    if (this.settings.idempotent) {
      batch.identity = lane.identity;
      batch.baseSequence = lane.nextSequence;
      lane.nextSequence = addSequence(lane.nextSequence, batch.records.length);
    }
    lane.inFlight.push(batch);
    this.inFlightCount++;
  }

  /**
   * Sends batches (one topic, one producer id, distinct partitions) as one request on the current
   * produce stream, opening one if needed. Never rejects: each batch gets the request's outcome.
   */
  private async attempt(batches: readonly Batch[]): Promise<Outcome[]> {
    const all = (outcome: Outcome): Outcome[] => batches.map(() => outcome);
    let stream: ProduceStream;
    try {
      const client = await this.connection.get();
      if (this.stream === undefined || !this.stream.isOpen) this.stream = client.produceStream({ inFlightMax: this.settings.inFlightMax });
      stream = this.stream;
    } catch (error) {
      return all({ error: fromCallError(error) });
    }
    const first = batches[0]!;
    const request: ProduceRequest = {
      topic: first.topic,
      partitions: batches.map((batch) => ({ partition: batch.partition, records: batch.records, ...(batch.baseSequence === undefined ? {} : { baseSequence: batch.baseSequence }) })),
      ...(first.identity === undefined ? {} : { producer: first.identity }),
    };
    // A stream answers in order, so one unanswered request cannot be given up alone: the stream is
    // cancelled, and every request still on it counts as timed out (retrying them is safe).
    const timer = setTimeout(() => {
      this.timedOut.add(stream);
      stream.cancel();
    }, this.settings.requestTimeoutMs);
    try {
      return all({ result: await stream.send(request) });
    } catch (error) {
      const failure = fromCallError(error);
      if (this.timedOut.has(stream) && failure.code === 'CANCELLED') {
        const message = `no answer to a produce request within ${this.settings.requestTimeoutMs} ms (requestTimeoutMs)`;
        return all({ error: clientError('DEADLINE_EXCEEDED', message, GrpcStatusCode.DEADLINE_EXCEEDED) });
      }
      return all({ error: failure });
    } finally {
      clearTimeout(timer);
    }
  }

  private settle(lane: Lane, batch: Batch, outcome: Outcome): void {
    lane.inFlight.splice(lane.inFlight.indexOf(batch), 1);
    this.inFlightCount--;
    if ('result' in outcome) {
      this.complete(batch, outcome.result);
    } else {
      const error = outcome.error;
      batch.attempts++;
      batch.lastError = error;
      if (this.mayRetry(batch, error)) {
        insertInOrder(lane.retry, batch);
        lane.recovering = true;
      } else {
        // The broker refused the newest batch outright: its numbers were never used.
        const end = batch.baseSequence === undefined ? undefined : addSequence(batch.baseSequence, batch.records.length);
        if (error.brokerCode !== undefined && error.code !== 'INTERNAL' && end === lane.nextSequence && lane.inFlight.length === 0 && lane.retry.length === 0) {
          lane.nextSequence = batch.baseSequence!;
        }
        this.fail(batch, error);
      }
    }
    if (lane.recovering && lane.inFlight.length === 0 && !lane.recoveryRunning) void this.recover(lane);
  }

  private mayRetry(batch: Batch, error: SluiceError): boolean {
    if (this.closed || batch.attempts > this.settings.retry.retriesMax) return false;
    return error.retriable || (this.settings.idempotent && error.code === 'UNKNOWN_PRODUCER');
  }

  /** Re-sends a lane's failed batches one at a time, in order (see the file comment). */
  private async recover(lane: Lane): Promise<void> {
    lane.recoveryRunning = true;
    try {
      while (lane.retry.length > 0) {
        const batch = lane.retry[0]!;
        const previous = batch.lastError;
        if (previous !== undefined && previous.code !== 'OUT_OF_ORDER_SEQUENCE' && previous.code !== 'UNKNOWN_PRODUCER') {
          const delayMs = retryDelayMs(previous, batch.attempts, this.settings.retry);
          this.callbacks.emit('retry', { topic: lane.topic, partition: lane.partition, attempt: batch.attempts, delayMs, error: previous, recordCount: batch.records.length });
          await sleep(delayMs);
        }
        if (this.settings.idempotent && previous?.code === 'UNKNOWN_PRODUCER') {
          try {
            lane.identity = await (await this.connection.get()).initProducer();
            this.renumber(lane, 0);
          } catch (error) {
            this.failedRetry(lane, batch, fromCallError(error));
            continue;
          }
        }
        this.inFlightCount++;
        const outcome = (await this.attempt([batch]))[0]!;
        this.inFlightCount--;
        if ('result' in outcome) {
          lane.retry.shift();
          this.complete(batch, outcome.result);
          continue;
        }
        const error = outcome.error;
        if (this.settings.idempotent && error.code === 'OUT_OF_ORDER_SEQUENCE') {
          // Nothing of this lane is in flight now, so the broker's expectation is the truth.
          const expected = error.details['expectedSequence'];
          if (typeof expected === 'number' && expected < batch.baseSequence! && batch.renumberings < RENUMBERINGS_MAX) {
            batch.renumberings++;
            this.renumber(lane, expected);
            continue;
          }
          lane.retry.shift();
          this.fail(batch, error);
          continue;
        }
        this.failedRetry(lane, batch, error);
      }
    } finally {
      lane.recoveryRunning = false;
      lane.recovering = false;
      this.pump();
    }
  }

  private failedRetry(lane: Lane, batch: Batch, error: SluiceError): void {
    batch.attempts++;
    batch.lastError = error;
    if (this.mayRetry(batch, error)) return;
    lane.retry.shift();
    this.fail(batch, error);
  }

  /** Numbers the lane's failed batches afresh from `from`, under the lane's current producer id. */
  private renumber(lane: Lane, from: number): void {
    let sequence = from;
    for (const batch of lane.retry) {
      batch.identity = lane.identity;
      batch.baseSequence = sequence;
      batch.lastError = undefined;
      sequence = addSequence(sequence, batch.records.length);
    }
    lane.nextSequence = sequence;
  }

  /** Gets the producer id for new lanes, retrying retriable failures; a lasting failure fails the waiting batches. */
  /** Takes the producer id now rather than at the first batch (idempotent only); resolves once it is there or failed. */
  async prepare(): Promise<void> {
    if (!this.settings.idempotent || this.identity !== undefined) return;
    this.requestIdentity();
    await this.identityRequest;
  }

  private requestIdentity(): void {
    if (this.identityRequest !== undefined) return;
    this.identityRequest = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          this.identity = await (await this.connection.get()).initProducer();
          return;
        } catch (error) {
          const failure = fromCallError(error);
          if (!failure.retriable || attempt > this.settings.retry.retriesMax || this.closed) {
            for (const lane of this.lanes.values()) {
              if (lane.identity !== undefined) continue;
              for (const batch of lane.queue.splice(0)) {
                this.markSendable(batch);
                batch.dispatched = true;
                this.fail(batch, failure);
              }
            }
            return;
          }
          await sleep(retryDelayMs(failure, attempt, this.settings.retry));
        }
      }
    })().finally(() => {
      this.identityRequest = undefined;
      this.pump();
    });
  }

  // ---- outcomes ----

  private complete(batch: Batch, result: ProduceResult): void {
    const append = result.appends.find((a) => a.partition === batch.partition);
    if (append === undefined || append.recordCount !== batch.records.length) {
      this.fail(batch, clientError('PROTOCOL_ERROR', `the broker answered a batch of ${batch.records.length} records for ${batch.topic}/${batch.partition} with ${JSON.stringify(result.appends)}`));
      return;
    }
    batch.owners.forEach((pending, i) => pending.owner.done(pending.index, { topic: batch.topic, partition: batch.partition, offset: append.baseOffset + i }));
    this.callbacks.settled(batch);
  }

  private fail(batch: Batch, error: SluiceError): void {
    for (const pending of batch.owners) pending.owner.failed(error);
    this.callbacks.emit('batchFailed', { topic: batch.topic, partition: batch.partition, recordCount: batch.records.length, error });
    this.callbacks.settled(batch, error);
  }
}

function insertInOrder(batches: Batch[], batch: Batch): void {
  let index = batches.length;
  while (index > 0 && batches[index - 1]!.order > batch.order) index--;
  batches.splice(index, 0, batch);
}
