/**
 * Idempotent-producer state of one partition: for each producer id, its epoch and its last few
 * batches (sequence range -> offsets). A retried batch that was already written is recognised and
 * answered with its original offsets instead of being written twice; a batch that skips ahead (an
 * earlier one is missing) is refused so that retries cannot reorder or lose records.
 *
 * The log is the truth: every batch header carries producerId, producerEpoch and baseSequence. The
 * state is snapshotted to the metadata store now and then, and rebuilt at open by replaying the
 * batches written after the snapshot.
 */
import { assert, asOffset } from '../base/index.js';
import { BrokerError } from '../errors.js';
import type { ProducerBatch, ProducerEntry, ProducerSnapshot } from '../meta/index.js';

export type { ProducerBatch, ProducerEntry, ProducerSnapshot };

/** Batches remembered per producer: as in Kafka, up to five may be in flight and retried. */
export const PRODUCER_BATCHES_KEPT = 5;
const SEQUENCE_MAX = 0x7fff_ffff;

export type SequenceCheck = { kind: 'append' } | { kind: 'duplicate'; batch: ProducerBatch };

/** The sequence after `sequence` (sequences wrap to 0 after 2^31 - 1, as in Kafka). */
export function nextSequence(sequence: number, count = 1): number {
  return (sequence + count) % (SEQUENCE_MAX + 1);
}

export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();

  constructor(snapshot?: ProducerSnapshot) {
    for (const entry of snapshot?.producers ?? []) this.producers.set(entry.producerId, structuredClone(entry));
  }

  get producerCount(): number {
    return this.producers.size;
  }

  /**
   * Decides what to do with a batch of `recordCount` records from a producer: append it, answer it
   * as a duplicate, or refuse it (UNKNOWN_PRODUCER for a stale epoch or a producer this partition
   * has no state for past sequence 0; OUT_OF_ORDER_SEQUENCE for a gap).
   */
  check(request: { producerId: number; producerEpoch: number; baseSequence: number; recordCount: number }): SequenceCheck {
    const { producerId, producerEpoch, baseSequence, recordCount } = request;
    const entry = this.producers.get(producerId);
    const details = { producerId, producerEpoch, baseSequence };
    if (entry === undefined || producerEpoch > entry.producerEpoch) {
      if (baseSequence === 0) return { kind: 'append' };
      throw new BrokerError(
        'UNKNOWN_PRODUCER',
        `producer ${producerId} epoch ${producerEpoch} has no state on this partition (expired or new) and must start at sequence 0, not ${baseSequence}`,
        details,
      );
    }
    if (producerEpoch < entry.producerEpoch) {
      throw new BrokerError('UNKNOWN_PRODUCER', `producer ${producerId} epoch ${producerEpoch} is fenced by epoch ${entry.producerEpoch}`, details);
    }
    const lastSequence = nextSequence(baseSequence, recordCount - 1);
    const duplicate = entry.batches.find((b) => b.baseSequence === baseSequence && b.lastSequence === lastSequence);
    if (duplicate !== undefined) return { kind: 'duplicate', batch: duplicate };
    const last = entry.batches[entry.batches.length - 1];
    const expected = last === undefined ? 0 : nextSequence(last.lastSequence);
    if (baseSequence !== expected) {
      throw new BrokerError(
        'OUT_OF_ORDER_SEQUENCE',
        `producer ${producerId} sent sequence ${baseSequence}, expected ${expected} (an earlier batch is missing or was refused)`,
        { ...details, expectedSequence: expected },
      );
    }
    return { kind: 'append' };
  }

  /** Records a batch just written (or replayed from the log). */
  record(batch: {
    producerId: number;
    producerEpoch: number;
    baseSequence: number;
    lastSequence: number;
    baseOffset: number;
    lastOffset: number;
    timestampMs: number;
  }): void {
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined || batch.producerEpoch > entry.producerEpoch) {
      entry = { producerId: batch.producerId, producerEpoch: batch.producerEpoch, lastTimestampMs: batch.timestampMs, batches: [] };
      this.producers.set(batch.producerId, entry);
    }
    assert(batch.producerEpoch === entry.producerEpoch, 'a batch of a fenced epoch reached the log');
    entry.lastTimestampMs = Math.max(entry.lastTimestampMs, batch.timestampMs);
    entry.batches.push({
      baseSequence: batch.baseSequence,
      lastSequence: batch.lastSequence,
      baseOffset: asOffset(batch.baseOffset),
      lastOffset: asOffset(batch.lastOffset),
    });
    if (entry.batches.length > PRODUCER_BATCHES_KEPT) entry.batches.shift();
  }

  /** Forgets producers idle since before `idleBeforeMs`. */
  expire(idleBeforeMs: number): number {
    let expired = 0;
    for (const [producerId, entry] of this.producers) {
      if (entry.lastTimestampMs < idleBeforeMs) {
        this.producers.delete(producerId);
        expired++;
      }
    }
    return expired;
  }

  /** Drops batches at or past `offset` (the log was truncated there). */
  truncate(offset: number): void {
    for (const [producerId, entry] of this.producers) {
      entry.batches = entry.batches.filter((b) => b.lastOffset < offset);
      if (entry.batches.length === 0) this.producers.delete(producerId);
    }
  }

  snapshot(coveredOffset: number): ProducerSnapshot {
    return { coveredOffset: asOffset(coveredOffset), producers: [...this.producers.values()].map((entry) => structuredClone(entry)) };
  }
}
