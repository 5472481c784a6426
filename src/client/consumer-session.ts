/**
 * ConsumerSession: one consumer-group member over the Consume stream. The low-level piece the
 * consumer library and the CLI build on: it joins, surfaces assignments and deliveries as events,
 * and sends acks (coalesced into offset ranges), nacks, rejects, deadline extensions and commits.
 * Acks made together (in one synchronous run, as the consumer flushes its coalesced acks) leave in one
 * request when the broker takes grouped acks: deliveries over many partitions are answered by one message.
 *
 * Lifecycle: `SluiceClient.consume` resolves with a session once the broker answered the join.
 * The session heartbeats on its own while idle. `leave()` says goodbye cleanly (what the member
 * holds is redelivered without counting a failed attempt); `abandon()` drops the stream as a
 * crash would (the record being worked on counts as a failed attempt). `ended` settles when the
 * stream is over: undefined after a clean end, a SluiceError when the broker ended it (e.g.
 * UNKNOWN_MEMBER after the session expired: join again).
 *
 * Bounds: the broker sends at most `inFlightMax` unacknowledged records of at most about
 * `inFlightBytesMax` bytes, so the event queue holds at most that plus a few assignment events.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { checkBatch, decodeRecords } from '../base/index.js';
import type * as wire from '../wire/index.js';
import { type SluiceError, cancelledByBroker, clientError, fromCallError, fromWireError } from './errors.js';
import type { RecordHeader } from './types.js';

export interface JoinOptions {
  group: string;
  topics: readonly string[];
  /** Static membership: rejoining with the same id within the session timeout keeps the partitions. */
  instanceId?: string;
  sessionTimeoutMs?: number;
  /** Visibility timeout: a record not acknowledged within it is redelivered. */
  ackTimeoutMs?: number;
  /** Most unacknowledged records this member holds. */
  inFlightMax?: number;
  /** Most bytes of unacknowledged records this member holds (one batch of any size always comes). */
  inFlightBytesMax?: number;
  /** First retry delay after a nack (doubling per attempt). */
  retryBackoffMs?: number;
  strategy?: 'sticky' | 'range' | 'round-robin';
  /** Where partitions without a committed offset start. Default earliest. */
  startFrom?: 'earliest' | 'latest';
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface DeliveredRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** 1 for the first delivery of the record to this group, +1 for each redelivery. */
  deliveryAttempt: number;
  /** The generation it was delivered under (acks echo it). */
  generation: number;
}

export type SessionEvent =
  | { type: 'assignment'; generation: number; partitions: TopicPartition[] }
  | { type: 'records'; topic: string; partition: number; generation: number; records: DeliveredRecord[] }
  /** A request the broker refused without ending the session (e.g. MEMBER_FENCED for a stale ack). */
  | { type: 'error'; error: SluiceError };

/** Heartbeats go out when nothing else was sent for this fraction of the session timeout. */
const HEARTBEAT_FRACTION = 1 / 3;
const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
/** Acks of different partitions sent in one request at most. */
const ACKS_PER_REQUEST_MAX = 100;

export class ConsumerSession {
  readonly memberId: string;
  generation: number;
  partitions: TopicPartition[] = [];
  /** Settles when the stream ends: undefined when it ended cleanly, else the error that ended it. */
  readonly ended: Promise<SluiceError | undefined>;

  private readonly queue: SessionEvent[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  /** `leave` was sent and the stream half-closed. */
  private left = false;
  private abandoned = false;
  private lastSentMs = Date.now();
  private readonly heartbeat: NodeJS.Timeout;
  private nextCorrelationId = 1;
  private readonly commits = new Map<number, { resolve: () => void; reject: (error: SluiceError) => void }>();
  /** The broker takes one request with several partitions' acks (Joined.grouped_acks). */
  private readonly groupedAcks: boolean;
  /** Acks made in this synchronous run, sent together in a microtask (with groupedAcks). */
  private pendingAcks: wire.Acknowledge[] = [];

  private constructor(
    private readonly call: ClientDuplexStream<wire.ConsumeRequest, wire.ConsumeEvent>,
    joined: wire.Joined,
    sessionTimeoutMs: number,
    ended: Promise<SluiceError | undefined>,
  ) {
    this.memberId = joined.memberId;
    this.generation = joined.generation;
    this.groupedAcks = joined.groupedAcks === true;
    this.ended = ended;
    const everyMs = Math.max(50, Math.floor(sessionTimeoutMs * HEARTBEAT_FRACTION));
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastSentMs >= everyMs) this.send({ heartbeat: {} });
    }, everyMs);
    this.heartbeat.unref();
  }

  /** Joins over `call` and resolves once the broker answered (or rejects with why it refused). */
  static open(call: ClientDuplexStream<wire.ConsumeRequest, wire.ConsumeEvent>, options: JoinOptions, clientId: string): Promise<ConsumerSession> {
    return new Promise((resolve, reject) => {
      let session: ConsumerSession | undefined;
      const early: wire.ConsumeEvent[] = [];
      let settleEnded: (error: SluiceError | undefined) => void = () => undefined;
      const ended = new Promise<SluiceError | undefined>((settle) => (settleEnded = settle));
      call.on('data', (event: wire.ConsumeEvent) => {
        if (session !== undefined) return session.receive(event);
        if (event.kind !== 'joined' || event.joined === undefined) return early.push(event);
        session = new ConsumerSession(call, event.joined, options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS, ended);
        for (const pending of early) session.receive(pending);
        resolve(session);
      });
      call.on('error', (error: unknown) => {
        // CANCELLED is a clean end only when abandon() cancelled the stream; else the broker cut it.
        const abandoned = session?.abandoned === true;
        const failure = abandoned ? fromCallError(error) : cancelledByBroker(fromCallError(error));
        if (session === undefined) reject(failure);
        else session.finish(failure);
        settleEnded(abandoned ? undefined : failure);
      });
      call.on('end', () => {
        if (session === undefined) reject(clientError('PROTOCOL_ERROR', 'the broker ended the Consume stream before answering the join'));
        else session.finish(undefined);
        settleEnded(undefined);
      });
      call.write({
        join: {
          group: options.group,
          topics: [...options.topics],
          clientId,
          instanceId: options.instanceId ?? '',
          sessionTimeoutMs: options.sessionTimeoutMs ?? 0,
          ackTimeoutMs: options.ackTimeoutMs ?? 0,
          inFlightMax: options.inFlightMax ?? 0,
          inFlightBytesMax: options.inFlightBytesMax ?? 0,
          retryBackoffMs: options.retryBackoffMs ?? 0,
          strategy: options.strategy ?? '',
          startFrom: options.startFrom ?? '',
          recordBatches: true,
          groupedDeliveries: true,
        },
      });
    });
  }

  private receive(event: wire.ConsumeEvent): void {
    switch (event.kind) {
      case 'assignment': {
        const assignment = event.assignment!;
        this.generation = assignment.generation;
        this.partitions = assignment.partitions.map((p) => ({ topic: p.topic, partition: p.partition }));
        this.push({ type: 'assignment', generation: assignment.generation, partitions: this.partitions });
        return;
      }
      case 'delivery':
        this.receiveDelivery(event.delivery!);
        return;
      case 'deliveries':
        for (const delivery of event.deliveries!.deliveries) if (!this.receiveDelivery(delivery)) return;
        return;
      case 'commitResult': {
        const result = event.commitResult!;
        const waiter = this.commits.get(result.correlationId);
        this.commits.delete(result.correlationId);
        if (result.error === undefined) waiter?.resolve();
        else waiter?.reject(fromWireError(result.error));
        return;
      }
      case 'error':
        this.push({ type: 'error', error: fromWireError(event.error!) });
        return;
      default:
        return;
    }
  }

  /** Queues a delivery's records; false when it was malformed (the session is then over). */
  private receiveDelivery(delivery: wire.Delivery): boolean {
    let records: DeliveredRecord[];
    try {
      records = decodeDelivery(delivery);
    } catch (error) {
      // Records we cannot read must not be skipped silently (nor acked): end the session.
      this.call.cancel();
      this.finish(clientError('PROTOCOL_ERROR', `a delivery of ${delivery.topic}/${delivery.partition} is malformed: ${(error as Error).message}`));
      return false;
    }
    this.push({ type: 'records', topic: delivery.topic, partition: delivery.partition, generation: delivery.generation, records });
    return true;
  }

  private push(event: SessionEvent): void {
    this.queue.push(event);
    this.wake?.();
  }

  private finish(error: SluiceError | undefined): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.heartbeat);
    for (const waiter of this.commits.values()) waiter.reject(error ?? clientError('CANCELLED', 'the session ended before the commit was answered'));
    this.commits.clear();
    this.wake?.();
  }

  /** Events in arrival order until the session ends. */
  async *events(): AsyncGenerator<SessionEvent, void, undefined> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  get isOpen(): boolean {
    return !this.done;
  }

  /** Sends a request after the acks made before it (the broker applies them in order). */
  private send(request: wire.ConsumeRequest): void {
    this.flushAcks();
    this.write(request);
  }

  private write(request: wire.ConsumeRequest): void {
    // After `leave` the stream is half-closed: a late ack or nack has nowhere to go (what it
    // concerned goes back to the group with the rest of what this member held).
    if (this.done || this.left) return;
    this.lastSentMs = Date.now();
    this.call.write(request);
  }

  private flushAcks(): void {
    if (this.pendingAcks.length === 0) return;
    const acks = this.pendingAcks;
    this.pendingAcks = [];
    this.write(acks.length === 1 ? { ack: acks[0]! } : { acks: { acks } });
  }

  /** Acknowledges processed offsets of one partition (sent as ranges). */
  ack(record: { topic: string; partition: number; generation?: number }, offsets: readonly number[]): void {
    if (offsets.length === 0) return;
    const ack = { topic: record.topic, partition: record.partition, generation: record.generation ?? this.generation, ranges: toRanges(offsets) };
    if (!this.groupedAcks) return this.write({ ack });
    if (this.pendingAcks.length === 0) queueMicrotask(() => this.flushAcks());
    this.pendingAcks.push(ack);
    // Well under the broker's cap on acks per request (memberInFlightMax, 1000 by default).
    if (this.pendingAcks.length >= ACKS_PER_REQUEST_MAX) this.flushAcks();
  }

  /** Fails a record: it is retried after `delayMs` (default: the broker's backoff), or dead-lettered. */
  nack(record: DeliveredRecord, failure: { error: string; errorClass?: string; delayMs?: number }): void {
    this.send({
      nack: {
        topic: record.topic,
        partition: record.partition,
        generation: record.generation,
        offset: record.offset,
        ...(failure.delayMs === undefined ? {} : { delayMs: failure.delayMs }),
        error: failure.error,
        errorClass: failure.errorClass ?? 'Error',
      },
    });
  }

  /** The record can never succeed: straight to the dead-letter topic. */
  reject(record: DeliveredRecord, failure: { error: string; errorClass?: string }): void {
    this.send({ reject: { topic: record.topic, partition: record.partition, generation: record.generation, offset: record.offset, error: failure.error, errorClass: failure.errorClass ?? 'Error' } });
  }

  /** Pushes back the visibility deadline of records still being worked on. */
  extend(record: { topic: string; partition: number }, offsets: readonly number[], extendMs: number): void {
    this.send({ extend: { topic: record.topic, partition: record.partition, offsets: [...offsets], extendMs } });
  }

  /** Kafka-style commit of the next offset to consume; resolves once the broker flushed it to disk. */
  commit(position: { topic: string; partition: number; offset: number; metadata?: string }): Promise<void> {
    if (this.done) return Promise.reject(clientError('CANCELLED', 'the session has ended'));
    const correlationId = this.nextCorrelationId++;
    const answered = new Promise<void>((resolve, reject) => this.commits.set(correlationId, { resolve, reject }));
    this.send({ commit: { topic: position.topic, partition: position.partition, generation: this.generation, offset: position.offset, metadata: position.metadata ?? '', correlationId } });
    return answered;
  }

  /** Leaves the group cleanly and waits for the stream to end. */
  async leave(): Promise<void> {
    if (!this.done && !this.left) {
      this.send({ leave: {} });
      this.left = true;
      this.call.end();
    }
    await this.ended;
  }

  /** Drops the stream as a crashed worker would (the broker counts the record being worked on as failed). */
  abandon(): void {
    this.abandoned = true;
    this.call.cancel();
    this.finish(undefined);
  }
}

/** Sorted offsets as inclusive ranges. */
export function toRanges(offsets: readonly number[]): wire.OffsetRange[] {
  const sorted = [...offsets].sort((a, b) => a - b);
  const ranges: wire.OffsetRange[] = [];
  for (const offset of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && offset === last.last + 1) last.last = offset;
    else if (last === undefined || offset > last.last) ranges.push({ first: offset, last: offset });
  }
  return ranges;
}

/** A delivery's records: from its record batches (back to back, checksums verified) or its per-record messages. */
function decodeDelivery(delivery: wire.Delivery): DeliveredRecord[] {
  const { topic, partition, generation } = delivery;
  const batch = delivery.recordBatch;
  if (batch === undefined || batch.length === 0) {
    return delivery.records.map((r) => ({
      topic,
      partition,
      offset: r.offset,
      timestampMs: r.timestampMs,
      key: r.key ?? null,
      value: r.value ?? null,
      headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? null })),
      deliveryAttempt: r.deliveryAttempt,
      generation,
    }));
  }
  const attempts = delivery.deliveryAttempts ?? [];
  const records: DeliveredRecord[] = [];
  for (let pos = 0; pos < batch.length; ) {
    const check = checkBatch(batch, pos, batch.length - pos);
    if (!check.ok) throw new Error(`its record batch at byte ${pos} is invalid (${check.problem})`);
    for (const r of decodeRecords(batch.subarray(pos, pos + check.header.batchBytes))) {
      records.push({ topic, partition, offset: r.offset, timestampMs: r.timestampMs, key: r.key, value: r.value, headers: r.headers, deliveryAttempt: attempts[records.length] ?? 1, generation });
    }
    pos += check.header.batchBytes;
  }
  return records;
}
