/**
 * What the consumer hands to your code, and how your code's outcome becomes an acknowledgment, a
 * nack or a dead letter: the message and payload types, and the adapters between `eachMessage` /
 * `eachBatch` and the Dispatcher's work (consumer-dispatch.ts).
 *
 * A handler that returns acknowledges its record (its batch); one that throws nacks the record with
 * the error's message and class (for a batch: the first record not passed to `resolveOffset`). A
 * handler may decide instead with `nack({ delayMs })`, `reject(reason)` (dead letter now) and
 * `extendDeadline(ms)`. A record the deserializer cannot read is dead-lettered without reaching the
 * handler (it would fail the same way on every delivery).
 */
import type { DeliveredRecord } from './consumer-session.js';
import type { Failure, QueuedRecord, Work, WorkResult } from './consumer-dispatch.js';
import { type Deserializer, DeserializationError } from './serde.js';
import type { RecordHeader } from './types.js';

export interface ConsumerMessage<V = Buffer> {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: V | null;
  /** In record order; keys may repeat. */
  headers: RecordHeader[];
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  /** 1 for the first delivery of the record to this group, +1 for each redelivery. */
  deliveryAttempt: number;
}

/** What a handler may do with the message it holds instead of returning (ack) or throwing (nack). */
export interface MessageControls {
  /** Pushes back the visibility deadline: the record is not redelivered for `ms` more (default ackTimeoutMs). */
  extendDeadline: (ms?: number) => void;
  /** Retry the record after `delayMs` (default: the group's backoff); returning then does not acknowledge it. */
  nack: (options?: { delayMs?: number; error?: unknown }) => void;
  /** The record can never succeed: it goes to the dead-letter topic now. */
  reject: (reason?: unknown) => void;
}

export interface EachMessagePayload<V = Buffer> extends MessageControls {
  topic: string;
  partition: number;
  message: ConsumerMessage<V>;
  /** False once the consumer is stopping or the record is no longer this consumer's (finish quickly). */
  isRunning: () => boolean;
  /**
   * Neither acknowledge nor fail the record (for a handler that gives up its work because the
   * consumer is stopping): it stays unacknowledged and goes back to the group, without counting a
   * failed attempt, when this member leaves. Called while running, the record is redelivered only
   * after its ack timeout, which counts as a failed attempt.
   */
  release: () => void;
}

export interface EachBatchPayload<V = Buffer> {
  /** Records of one partition, in offset order. */
  batch: { topic: string; partition: number; messages: ConsumerMessage<V>[] };
  /** Marks the messages up to `offset` done: if the handler then throws, they are acknowledged and the next one is nacked. */
  resolveOffset: (offset: number) => void;
  extendDeadline: (ms?: number) => void;
  isRunning: () => boolean;
  /** True once the batch's records are no longer this consumer's (a seek, or the session was lost). */
  isStale: () => boolean;
}

export type RunOptions<V = Buffer> = (
  | { eachMessage: (payload: EachMessagePayload<V>) => Promise<void> | void; eachBatch?: never }
  | { eachBatch: (payload: EachBatchPayload<V>) => Promise<void> | void; eachMessage?: never }
) & {
  /** Partitions handled at once (each still in order). Default 1. */
  partitionsConsumedConcurrently?: number;
};

/** A message of the `for await` form, with its controls; it is acknowledged when the loop asks for the next one. */
export interface IteratedMessage<V = Buffer> extends ConsumerMessage<V>, MessageControls {
  /** Acknowledges now instead of on the next iteration. */
  ack: () => void;
}

/** A handler failed (or its record could not be deserialized). */
export interface HandlerError {
  topic: string;
  partition: number;
  offset: number;
  deliveryAttempt: number;
  error: unknown;
  deadLetter: boolean;
}

/** The broker keeps this much of a failure's text. */
const ERROR_TEXT_MAX = 4096;

export class HandlerAdapter<V> {
  constructor(
    private readonly deserializer: Deserializer<V> | undefined,
    private readonly ackTimeoutMs: number,
    private readonly onHandlerError: (event: HandlerError) => void,
  ) {}

  toMessage(record: DeliveredRecord): ConsumerMessage<V> {
    let value: V | null;
    try {
      value = record.value === null ? null : this.deserializer ? this.deserializer.deserialize(record.value) : (record.value as V);
    } catch (error) {
      throw new DeserializationError(`cannot deserialize ${record.topic}/${record.partition}@${record.offset}: ${describeFailure(error).error}`, { cause: error });
    }
    return {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      key: record.key,
      value,
      headers: record.headers,
      timestamp: record.timestampMs,
      deliveryAttempt: record.deliveryAttempt,
    };
  }

  controls(item: QueuedRecord, settle: (failed: NonNullable<WorkResult['failed']>) => void): MessageControls {
    return {
      extendDeadline: (ms) => item.session.extend(item.record, [item.record.offset], ms ?? this.ackTimeoutMs),
      nack: (options) => {
        const failure = describeFailure(options?.error ?? 'nacked by the handler');
        settle({ item, failure: options?.delayMs === undefined ? failure : { delayMs: options.delayMs, ...failure }, deadLetter: false });
      },
      reject: (reason) => settle({ item, failure: describeFailure(reason ?? 'rejected by the handler'), deadLetter: true }),
    };
  }

  async eachMessage(work: Work, eachMessage: (payload: EachMessagePayload<V>) => Promise<void> | void): Promise<WorkResult> {
    const item = work.items[0]!;
    let message: ConsumerMessage<V>;
    try {
      message = this.toMessage(item.record);
    } catch (error) {
      return this.failed(item, { item, failure: describeFailure(error), deadLetter: true }, error);
    }
    let explicit: WorkResult['failed'];
    let released = false;
    const payload: EachMessagePayload<V> = {
      topic: work.topic,
      partition: work.partition,
      message,
      ...this.controls(item, (failed) => (explicit ??= released ? undefined : failed)),
      isRunning: () => !work.isStale(),
      release: () => (released = explicit === undefined),
    };
    try {
      await eachMessage(payload);
    } catch (error) {
      if (explicit === undefined && !released) return this.failed(item, { item, failure: describeFailure(error), deadLetter: false }, error);
    }
    if (explicit !== undefined) return { acknowledged: [], failed: explicit };
    return { acknowledged: released ? [] : [item] };
  }

  async eachBatch(work: Work, eachBatch: (payload: EachBatchPayload<V>) => Promise<void> | void): Promise<WorkResult> {
    const messages: ConsumerMessage<V>[] = [];
    let undecodable: WorkResult['failed'];
    for (const item of work.items) {
      try {
        messages.push(this.toMessage(item.record));
      } catch (error) {
        undecodable = { item, failure: describeFailure(error), deadLetter: true };
        break;
      }
    }
    const items = work.items.slice(0, messages.length);
    if (items.length === 0) return this.failed(undecodable!.item, undecodable!, new DeserializationError(undecodable!.failure.error));
    let resolved = -1;
    const payload: EachBatchPayload<V> = {
      batch: { topic: work.topic, partition: work.partition, messages },
      resolveOffset: (offset) => {
        for (let i = resolved + 1; i < messages.length && messages[i]!.offset <= offset; i++) resolved = i;
      },
      extendDeadline: (ms) => items[0]!.session.extend(items[0]!.record, items.map((i) => i.record.offset), ms ?? this.ackTimeoutMs),
      isRunning: () => !work.isStale(),
      isStale: () => work.isStale(),
    };
    try {
      await eachBatch(payload);
    } catch (error) {
      const next = items[resolved + 1];
      if (next === undefined) return { acknowledged: items };
      const { failed } = this.failed(next, { item: next, failure: describeFailure(error), deadLetter: false }, error);
      return { acknowledged: items.slice(0, resolved + 1), failed };
    }
    return undecodable === undefined ? { acknowledged: items } : { acknowledged: items, failed: undecodable };
  }

  failed(item: QueuedRecord, failed: NonNullable<WorkResult['failed']>, error: unknown): WorkResult {
    const { record } = item;
    this.onHandlerError({ topic: record.topic, partition: record.partition, offset: record.offset, deliveryAttempt: record.deliveryAttempt, error, deadLetter: failed.deadLetter });
    return { acknowledged: [], failed };
  }
}

export function describeFailure(error: unknown): Failure {
  if (error instanceof Error) return { error: (error.message || error.name).slice(0, ERROR_TEXT_MAX), errorClass: error.name || error.constructor.name || 'Error' };
  return { error: String(error).slice(0, ERROR_TEXT_MAX), errorClass: 'Error' };
}
