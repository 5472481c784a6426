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
 * State is kept as offset ranges, not per record: deliveries hand out runs of consecutive offsets
 * and acks arrive as ranges, so the cost of delivering and acknowledging is per run, whatever the
 * number of records in it. Ranges split only where acks arrive out of order or a deadline is
 * extended for part of a run.
 *
 * Pure state: no I/O, no timers. Times are passed in; the coordinator persists what changes.
 */
import { AssertionError, assert } from '../base/index.js';

/** Offsets `first` to `last`, both included. */
export interface OffsetRange {
  first: number;
  last: number;
}

export interface InFlightRecord {
  offset: number;
  deliveryAttempt: number;
  deadlineMs: number;
  memberId: string;
}

export type FailureCause = 'nack' | 'timeout' | 'member-died' | 'reject';

/** Consecutive in-flight offsets held by one member under one visibility deadline. */
interface InFlightRun extends OffsetRange {
  memberId: string;
  deadlineMs: number;
  /** Bytes delivered for the run; a part split off gets its share by record count. */
  bytes: number;
}

export class PartitionCursor {
  /** In-flight runs, ascending and disjoint, all below `nextOffset`. */
  private runs: InFlightRun[] = [];
  private inFlightTotal = 0;
  private inFlightBytesTotal = 0;
  /** Offsets acknowledged out of order: ascending, disjoint, non-adjacent ranges above `committedOffset`. */
  private acked: OffsetRange[] = [];
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
    return this.inFlightTotal;
  }

  /** Bytes of the in-flight records as delivered (exact for whole runs, prorated for parts of one). */
  get inFlightBytes(): number {
    return this.inFlightBytesTotal;
  }

  get retrying(): { offset: number; notBeforeMs: number } | undefined {
    return this.retry;
  }

  /** Whether any record of the partition has failed before (so a delivery must carry attempt numbers). */
  get hasFailures(): boolean {
    return this.failures.size > 0;
  }

  /** Every in-flight record, in offset order (one object per record: for inspection, not hot paths). */
  inFlightRecords(): InFlightRecord[] {
    const records: InFlightRecord[] = [];
    for (const run of this.runs) {
      for (let offset = run.first; offset <= run.last; offset++) {
        records.push({ offset, deliveryAttempt: this.deliveryAttempt(offset), deadlineMs: run.deadlineMs, memberId: run.memberId });
      }
    }
    return records;
  }

  failedAttempts(offset: number): number {
    return this.failures.get(offset) ?? 0;
  }

  /** The attempt number the next delivery of `offset` carries. */
  deliveryAttempt(offset: number): number {
    return (this.failures.get(offset) ?? 0) + 1;
  }

  /** Whether delivery may continue now (no retry delay pending), and from which offset. */
  deliverableFrom(nowMs: number): number | undefined {
    if (this.retry !== undefined && nowMs < this.retry.notBeforeMs) return undefined;
    return this.nextOffset;
  }

  /** Whether `offset` was acknowledged out of order (a rewind skips it rather than delivering it again). */
  isAcked(offset: number): boolean {
    if (offset < this.committedOffset) return true;
    const i = firstEndingAtOrAfter(this.acked, offset);
    return i < this.acked.length && this.acked[i]!.first <= offset;
  }

  /** The first out-of-order acknowledged range that ends at or after `offset`, if any (a delivery stops before it). */
  ackedFrom(offset: number): OffsetRange | undefined {
    return this.acked[firstEndingAtOrAfter(this.acked, offset)];
  }

  /** The member holding `offset` in flight, if any. */
  holderOf(offset: number): string | undefined {
    const run = this.runs[firstEndingAtOrAfter(this.runs, offset)];
    return run !== undefined && run.first <= offset ? run.memberId : undefined;
  }

  /** The lowest offset `memberId` holds in flight, if any. */
  firstHeldBy(memberId: string): number | undefined {
    return this.runs.find((run) => run.memberId === memberId)?.first;
  }

  /**
   * Records that the offsets of `ranges` (ascending, from `deliverableFrom`, none acknowledged) went
   * to `memberId`, `bytes[i]` bytes for `ranges[i]`, and moves `nextOffset` past `throughOffset`
   * (which may pass skipped, already acknowledged offsets).
   */
  markDelivered(ranges: readonly OffsetRange[], throughOffset: number, memberId: string, deadlineMs: number, bytes: readonly number[] = []): void {
    assert(throughOffset >= this.nextOffset - 1, 'delivery goes forward');
    let floor = this.nextOffset;
    ranges.forEach((range, i) => {
      if (range.first < floor || range.last < range.first || range.last > throughOffset) throw new AssertionError(`offsets ${range.first}-${range.last} are not deliverable`);
      const acked = this.ackedFrom(range.first);
      if (acked !== undefined && acked.first <= range.last) throw new AssertionError(`offsets ${range.first}-${range.last} include acknowledged ones`);
      if (this.retry !== undefined && range.first <= this.retry.offset && this.retry.offset <= range.last) this.retry = undefined;
      const runBytes = bytes[i] ?? 0;
      this.runs.push({ first: range.first, last: range.last, memberId, deadlineMs, bytes: runBytes });
      this.inFlightTotal += range.last - range.first + 1;
      this.inFlightBytesTotal += runBytes;
      floor = range.last + 1;
    });
    this.nextOffset = throughOffset + 1;
  }

  /**
   * Acknowledges the offsets of `ranges` that `memberId` holds; the rest (already redelivered, or
   * never delivered) are counted in `unknown`. Returns whether committedOffset moved.
   */
  ack(ranges: readonly OffsetRange[], memberId: string): { committedMoved: boolean; unknown: number } {
    let unknown = 0;
    for (const range of ranges) {
      let matched = 0;
      this.removeInFlight(range.first, range.last, (run, first, last) => {
        if (run.memberId !== memberId) return false;
        this.addAcked(first, last);
        matched += last - first + 1;
        return true;
      });
      unknown += range.last - range.first + 1 - matched;
    }
    return { committedMoved: this.advanceCommitted(), unknown };
  }

  /** Marks a dead-lettered record done (after its DLQ append is durable). */
  completeDeadLettered(offset: number): boolean {
    this.removeInFlight(offset, offset, () => true);
    if (this.retry?.offset === offset) this.retry = undefined;
    if (offset >= this.committedOffset) this.addAcked(offset, offset);
    if (this.nextOffset === offset) this.nextOffset = offset + 1;
    return this.advanceCommitted();
  }

  private advanceCommitted(): boolean {
    const before = this.committedOffset;
    const head = this.acked[0];
    if (head !== undefined && head.first === this.committedOffset) {
      this.acked.shift();
      this.committedOffset = head.last + 1;
      if (this.failures.size > 0) for (const failed of [...this.failures.keys()]) if (failed < this.committedOffset) this.failures.delete(failed);
    }
    if (this.nextOffset < this.committedOffset) this.nextOffset = this.committedOffset;
    return this.committedOffset !== before;
  }

  /** Adds [first, last] (above committedOffset, not yet acknowledged) to the acknowledged ranges, merging neighbours. */
  private addAcked(first: number, last: number): void {
    const i = firstEndingAtOrAfter(this.acked, first - 1);
    const next = this.acked[i];
    if (next === undefined || next.first > last + 1) {
      this.acked.splice(i, 0, { first, last });
      return;
    }
    // Touches `next` (just before, inside or just after it), and maybe the ranges after it too.
    next.first = Math.min(next.first, first);
    next.last = Math.max(next.last, last);
    for (let after = this.acked[i + 1]; after !== undefined && after.first <= next.last + 1; after = this.acked[i + 1]) {
      next.last = Math.max(next.last, after.last);
      this.acked.splice(i + 1, 1);
    }
  }

  /**
   * Takes [first, last] out of the in-flight runs where `take(run, from, to)` agrees for the part of
   * a run that overlaps, splitting runs at the edges.
   */
  private removeInFlight(first: number, last: number, take: (run: InFlightRun, from: number, to: number) => boolean): void {
    let i = firstEndingAtOrAfter(this.runs, first);
    while (i < this.runs.length) {
      const run = this.runs[i]!;
      if (run.first > last) return;
      const from = Math.max(first, run.first);
      const to = Math.min(last, run.last);
      if (!take(run, from, to)) {
        i++;
        continue;
      }
      this.inFlightTotal -= to - from + 1;
      const pieces: InFlightRun[] = [];
      if (run.first < from) pieces.push(part(run, run.first, from - 1));
      if (to < run.last) pieces.push(part(run, to + 1, run.last));
      this.inFlightBytesTotal -= run.bytes - pieces.reduce((sum, piece) => sum + piece.bytes, 0);
      this.runs.splice(i, 1, ...pieces);
      i += pieces.length;
    }
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
    this.removeInFlight(offset, Number.MAX_SAFE_INTEGER, () => true);
    if (offset < this.nextOffset) this.nextOffset = Math.max(offset, this.committedOffset);
  }

  /**
   * Takes back everything `memberId` holds (a revoke, or the member left or died). Only when
   * `countHeadAsFailure` is set (the member died or timed out holding records) does the first of them
   * count as a failed attempt: it is the one being worked on; the rest were only prefetched.
   * Returns the offset that was counted, with its failed attempts so far.
   */
  releaseMember(memberId: string, nowMs: number, options: { countHeadAsFailure: boolean }): { offset: number; attempts: number } | undefined {
    const head = this.firstHeldBy(memberId);
    if (head === undefined) return undefined;
    if (options.countHeadAsFailure) return { offset: head, attempts: this.fail(head, nowMs, 0) };
    this.takeBackFrom(head);
    return undefined;
  }

  /** The first in-flight record whose visibility deadline has passed, if any. */
  firstExpired(nowMs: number): InFlightRecord | undefined {
    const run = this.runs.find((r) => r.deadlineMs <= nowMs);
    return run === undefined ? undefined : { offset: run.first, deliveryAttempt: this.deliveryAttempt(run.first), deadlineMs: run.deadlineMs, memberId: run.memberId };
  }

  /** Earliest visibility deadline among in-flight records (for scheduling the next check). */
  nextDeadlineMs(): number | undefined {
    let earliest: number | undefined;
    for (const run of this.runs) earliest = Math.min(earliest ?? Infinity, run.deadlineMs);
    return earliest;
  }

  /** Extends the visibility deadline of a record `memberId` still holds; false if it does not. */
  extend(offset: number, memberId: string, deadlineMs: number): boolean {
    const i = firstEndingAtOrAfter(this.runs, offset);
    const run = this.runs[i];
    if (run === undefined || run.first > offset || run.memberId !== memberId) return false;
    if (run.deadlineMs >= deadlineMs) return true;
    const pieces: InFlightRun[] = [];
    if (run.first < offset) pieces.push(part(run, run.first, offset - 1));
    if (offset < run.last) pieces.push(part(run, offset + 1, run.last));
    // The extended record keeps what is left of the run's bytes, so the pieces add up to the run.
    const extended = { first: offset, last: offset, memberId: run.memberId, deadlineMs, bytes: run.bytes - pieces.reduce((sum, piece) => sum + piece.bytes, 0) };
    pieces.splice(run.first < offset ? 1 : 0, 0, extended);
    this.runs.splice(i, 1, ...pieces);
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
    this.removeInFlight(0, offset - 1, () => true);
    this.acked = this.acked.filter((range) => range.last >= offset).map((range) => ({ first: Math.max(range.first, offset), last: range.last }));
    for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
    if (this.retry !== undefined && this.retry.offset < offset) this.retry = undefined;
    this.committedOffset = offset;
    if (this.nextOffset < offset) this.nextOffset = offset;
    this.advanceCommitted();
  }

  /** Moves the group to `offset` (a reset or an explicit commit): forgets everything in flight. */
  resetTo(offset: number): void {
    this.runs = [];
    this.inFlightTotal = 0;
    this.inFlightBytesTotal = 0;
    this.acked = [];
    this.retry = undefined;
    for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
    this.committedOffset = offset;
    this.nextOffset = offset;
  }
}

/** Offsets `first` to `last` of `run`, with their share of its bytes by record count (rounded down). */
function part(run: InFlightRun, first: number, last: number): InFlightRun {
  const share = Math.floor((run.bytes * (last - first + 1)) / (run.last - run.first + 1));
  return { first, last, memberId: run.memberId, deadlineMs: run.deadlineMs, bytes: share };
}

/** Index of the first of `ranges` (ascending, disjoint) whose last offset is at or after `offset`. */
export function firstEndingAtOrAfter(ranges: readonly OffsetRange[], offset: number): number {
  let low = 0;
  let high = ranges.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ranges[middle]!.last < offset) low = middle + 1;
    else high = middle;
  }
  return low;
}
