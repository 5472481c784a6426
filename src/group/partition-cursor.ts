/**
 * The delivery state of one partition for one consumer group: what is committed, what is out with
 * its owner, what was acknowledged out of order, and which record waits to be retried.
 *
 * Offsets below `committedOffset` are done (acknowledged or dead-lettered). `nextOffset` is the next
 * record to hand out. Records in [committedOffset, nextOffset) are either in flight (delivered, not
 * yet acknowledged) or acknowledged out of order.
 *
 * Per-key order holds through failures: when a record fails (nack, visibility timeout, or its
 * holder dying), every later record of the partition that is still unacknowledged is taken back,
 * and delivery resumes at the failed record once its retry delay has passed. A later record is never
 * handed out while an earlier one waits to be retried, unless the earlier one went to the DLQ. The
 * cost: a failing record holds up its whole partition (head-of-line blocking) for up to
 * maxDeliveryAttempts attempts.
 *
 * Pure state: no I/O, no timers. Times are passed in; the coordinator persists what changes.
 */
import { AssertionError, assert } from '../base/index.js';

export interface InFlightRecord {
  offset: number;
  deliveryAttempt: number;
  deadlineMs: number;
  memberId: string;
}

export type FailureCause = 'nack' | 'timeout' | 'member-died' | 'reject';

export class PartitionCursor {
  private inFlight = new Map<number, InFlightRecord>();
  private acked = new Set<number>();
  /** The failed record that delivery must resume at, and not before `notBeforeMs`. */
  private retry: { offset: number; notBeforeMs: number } | undefined;
  /** Failed attempts so far per offset (loaded from, and mirrored to, the metadata store). */
  private readonly failures = new Map<number, number>();

  committedOffset: number;
  nextOffset: number;

  constructor(options: { committedOffset: number; failedAttempts?: ReadonlyMap<number, number> }) {
    this.committedOffset = options.committedOffset;
    this.nextOffset = options.committedOffset;
    for (const [offset, attempts] of options.failedAttempts ?? []) if (offset >= this.committedOffset) this.failures.set(offset, attempts);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get retrying(): { offset: number; notBeforeMs: number } | undefined {
    return this.retry;
  }

  inFlightRecords(): InFlightRecord[] {
    return [...this.inFlight.values()].sort((a, b) => a.offset - b.offset);
  }

  failedAttempts(offset: number): number {
    return this.failures.get(offset) ?? 0;
  }

  /** Whether delivery may continue now (no retry delay pending), and from which offset. */
  deliverableFrom(nowMs: number): number | undefined {
    if (this.retry !== undefined && nowMs < this.retry.notBeforeMs) return undefined;
    return this.nextOffset;
  }

  /** Whether `offset` was acknowledged out of order (a rewind skips it rather than delivering it again). */
  isAcked(offset: number): boolean {
    return offset < this.committedOffset || this.acked.has(offset);
  }

  /**
   * Records that `offsets` (ascending, at or after `deliverableFrom`) went to `memberId`, and moves
   * `nextOffset` past `throughOffset` (which may pass skipped, already acknowledged offsets).
   * Returns each record's delivery attempt.
   */
  markDelivered(offsets: readonly number[], throughOffset: number, memberId: string, deadlineMs: number): number[] {
    assert(throughOffset >= this.nextOffset - 1, 'delivery goes forward');
    if (this.retry !== undefined && offsets.includes(this.retry.offset)) this.retry = undefined;
    const attempts = new Array<number>(offsets.length);
    for (let i = 0; i < offsets.length; i++) {
      const offset = offsets[i]!;
      if (offset < this.nextOffset || this.inFlight.has(offset) || this.isAcked(offset)) throw new AssertionError(`offset ${offset} is not deliverable`);
      const deliveryAttempt = (this.failures.get(offset) ?? 0) + 1;
      this.inFlight.set(offset, { offset, deliveryAttempt, deadlineMs, memberId });
      attempts[i] = deliveryAttempt;
    }
    this.nextOffset = throughOffset + 1;
    return attempts;
  }

  /** Acknowledges in-flight offsets held by `memberId`; returns whether committedOffset moved. */
  ack(offsets: readonly number[], memberId: string): { committedMoved: boolean; unknown: number[] } {
    const unknown: number[] = [];
    for (const offset of offsets) {
      const record = this.inFlight.get(offset);
      if (record === undefined || record.memberId !== memberId) {
        unknown.push(offset);
        continue;
      }
      this.inFlight.delete(offset);
      this.acked.add(offset);
    }
    return { committedMoved: this.advanceCommitted(), unknown };
  }

  /** Marks a dead-lettered record done (after its DLQ append is durable). */
  completeDeadLettered(offset: number): boolean {
    this.inFlight.delete(offset);
    if (this.retry?.offset === offset) this.retry = undefined;
    this.acked.add(offset);
    if (this.nextOffset === offset) this.nextOffset = offset + 1;
    return this.advanceCommitted();
  }

  private advanceCommitted(): boolean {
    const before = this.committedOffset;
    while (this.acked.delete(this.committedOffset)) {
      this.failures.delete(this.committedOffset);
      this.committedOffset++;
    }
    if (this.nextOffset < this.committedOffset) this.nextOffset = this.committedOffset;
    return this.committedOffset !== before;
  }

  /**
   * Counts a failed attempt of `offset` and takes back every later unacknowledged record, so
   * delivery resumes at `offset` after `retryDelayMs`. Returns the failed attempts so far: the caller
   * dead-letters the record when that reaches the topic's maxDeliveryAttempts.
   */
  fail(offset: number, nowMs: number, retryDelayMs: number): number {
    const attempts = this.failedAttempts(offset) + 1;
    this.failures.set(offset, attempts);
    this.takeBackFrom(offset);
    this.retry = { offset, notBeforeMs: nowMs + retryDelayMs };
    return attempts;
  }

  /** Takes back every unacknowledged record at or after `offset` (without counting an attempt). */
  private takeBackFrom(offset: number): void {
    for (const inFlightOffset of [...this.inFlight.keys()]) if (inFlightOffset >= offset) this.inFlight.delete(inFlightOffset);
    if (offset < this.nextOffset) this.nextOffset = Math.max(offset, this.committedOffset);
  }

  /**
   * Takes back everything `memberId` holds (a revoke, or the member left or died). Only when
   * `countHeadAsFailure` is set (the member died or timed out holding records) does the first of them
   * count as a failed attempt: it is the one being worked on; the rest were only prefetched.
   * Returns the offset that was counted, with its failed attempts so far.
   */
  releaseMember(memberId: string, nowMs: number, options: { countHeadAsFailure: boolean }): { offset: number; attempts: number } | undefined {
    const held = this.inFlightRecords().filter((r) => r.memberId === memberId);
    const head = held[0];
    if (head === undefined) return undefined;
    if (options.countHeadAsFailure) return { offset: head.offset, attempts: this.fail(head.offset, nowMs, 0) };
    this.takeBackFrom(head.offset);
    return undefined;
  }

  /** The first in-flight record whose visibility deadline has passed, if any. */
  firstExpired(nowMs: number): InFlightRecord | undefined {
    return this.inFlightRecords().find((r) => r.deadlineMs <= nowMs);
  }

  /** Earliest visibility deadline among in-flight records (for scheduling the next check). */
  nextDeadlineMs(): number | undefined {
    let earliest: number | undefined;
    for (const record of this.inFlight.values()) earliest = Math.min(earliest ?? Infinity, record.deadlineMs);
    return earliest;
  }

  /** Extends the visibility deadline of a record `memberId` still holds; false if it does not. */
  extend(offset: number, memberId: string, deadlineMs: number): boolean {
    const record = this.inFlight.get(offset);
    if (record === undefined || record.memberId !== memberId) return false;
    record.deadlineMs = Math.max(record.deadlineMs, deadlineMs);
    return true;
  }

  /**
   * An explicit commit of `offset` (Kafka's meaning: everything before it is done). Forward, it
   * completes what is in flight below it; backward, it rewinds (as a reset does).
   */
  commitAt(offset: number): void {
    if (offset < this.committedOffset) {
      this.resetTo(offset);
      return;
    }
    for (const inFlightOffset of [...this.inFlight.keys()]) if (inFlightOffset < offset) this.inFlight.delete(inFlightOffset);
    for (const acked of [...this.acked]) if (acked < offset) this.acked.delete(acked);
    for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
    if (this.retry !== undefined && this.retry.offset < offset) this.retry = undefined;
    this.committedOffset = offset;
    if (this.nextOffset < offset) this.nextOffset = offset;
    this.advanceCommitted();
  }

  /** Moves the group to `offset` (a reset or an explicit commit): forgets everything in flight. */
  resetTo(offset: number): void {
    this.inFlight.clear();
    this.acked.clear();
    this.retry = undefined;
    for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
    this.committedOffset = offset;
    this.nextOffset = offset;
  }
}
