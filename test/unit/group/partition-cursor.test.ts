import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type OffsetRange, PartitionCursor } from '../../../src/group/partition-cursor.js';

const run = (first: number, last: number): OffsetRange[] => [{ first, last }];
const one = (offset: number): OffsetRange[] => run(offset, offset);
const RECORD_BYTES = 100;

describe('PartitionCursor', () => {
  it('commits the contiguous acknowledged prefix, whatever order acks arrive in', () => {
    const cursor = new PartitionCursor({ committedOffset: 10 });
    cursor.markDelivered(run(10, 14), 14, 'm', 1000);
    expect(cursor.inFlightCount).toBe(5);
    expect(cursor.ack(run(12, 13), 'm').committedMoved).toBe(false);
    expect(cursor.committedOffset).toBe(10);
    expect(cursor.ack(one(10), 'm').committedMoved).toBe(true);
    expect(cursor.committedOffset).toBe(11);
    cursor.ack([...one(11), ...one(14)], 'm');
    expect(cursor.committedOffset).toBe(15);
    expect(cursor.inFlightCount).toBe(0);
  });

  it('ignores acks for records the member does not hold', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(one(0), 0, 'a', 1000);
    expect(cursor.ack([...one(0), ...one(5)], 'b')).toEqual({ committedMoved: false, unknown: 2 });
    expect(cursor.ack(run(0, 3), 'a')).toEqual({ committedMoved: true, unknown: 3 });
  });

  it('after a failure, takes back later records and resumes at the failed one after the delay', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(run(0, 9), 9, 'm', 1000);
    cursor.ack(run(0, 1), 'm');
    expect(cursor.fail(3, 5000, 200)).toBe(1);
    expect(cursor.nextOffset).toBe(3);
    expect(cursor.inFlightRecords().map((r) => r.offset)).toEqual([2]);
    expect(cursor.deliverableFrom(5100)).toBeUndefined();
    expect(cursor.deliverableFrom(5200)).toBe(3);
    expect([3, 4, 5].map((offset) => cursor.deliveryAttempt(offset))).toEqual([2, 1, 1]);
    cursor.markDelivered(run(3, 5), 5, 'm', 9000);
    expect(cursor.retrying).toBeUndefined();
  });

  it('counts failures per record across deliveries, starting from the stored count', () => {
    const cursor = new PartitionCursor({ committedOffset: 0, failedAttempts: new Map([[0, 2]]) });
    expect(cursor.hasFailures).toBe(true);
    expect(cursor.deliveryAttempt(0)).toBe(3);
    cursor.markDelivered(one(0), 0, 'm', 1);
    expect(cursor.fail(0, 0, 0)).toBe(3);
    cursor.markDelivered(one(0), 0, 'm', 1);
    expect(cursor.fail(0, 0, 0)).toBe(4);
    cursor.markDelivered(one(0), 0, 'm', 1);
    cursor.ack(one(0), 'm');
    expect(cursor.hasFailures).toBe(false);
  });

  it('dead-lettering completes a record so the partition moves on', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(run(0, 1), 1, 'm', 1);
    cursor.fail(0, 0, 0);
    expect(cursor.completeDeadLettered(0)).toBe(true);
    expect(cursor.committedOffset).toBe(1);
    expect(cursor.deliverableFrom(0)).toBe(1);
    expect(cursor.retrying).toBeUndefined();
  });

  it('a dead member fails only the record it was working on; the prefetched ones go back without an attempt', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(run(0, 4), 4, 'dead', 1);
    cursor.ack(one(0), 'dead');
    expect(cursor.releaseMember('dead', 0, { countHeadAsFailure: true })).toEqual({ offset: 1, attempts: 1 });
    expect([1, 2].map((offset) => cursor.deliveryAttempt(offset))).toEqual([2, 1]);
    cursor.markDelivered(run(1, 4), 4, 'next', 1);
    expect(cursor.holderOf(3)).toBe('next');
    // A revoke from a live member counts nothing.
    expect(cursor.releaseMember('next', 0, { countHeadAsFailure: false })).toBeUndefined();
    expect(cursor.nextOffset).toBe(1);
    expect(cursor.failedAttempts(1)).toBe(1);
    expect(cursor.holderOf(3)).toBeUndefined();
  });

  it('steps over records already acknowledged when delivery rewinds', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(run(0, 3), 3, 'm', 1);
    cursor.ack(one(2), 'm');
    cursor.fail(1, 0, 0);
    expect(cursor.isAcked(2)).toBe(true);
    expect(cursor.ackedFrom(1)).toEqual({ first: 2, last: 2 });
    expect(() => cursor.markDelivered(run(1, 3), 3, 'm', 1)).toThrow(/acknowledged/);
    cursor.markDelivered([...one(1), ...one(3)], 3, 'm', 1);
    cursor.ack([...run(0, 1), ...one(3)], 'm');
    expect(cursor.committedOffset).toBe(4);
  });

  it('finds expired visibility deadlines and extends them for the holder only', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(run(0, 1), 1, 'm', 1000);
    expect(cursor.firstExpired(999)).toBeUndefined();
    expect(cursor.extend(0, 'other', 5000)).toBe(false);
    expect(cursor.extend(0, 'm', 5000)).toBe(true);
    expect(cursor.firstExpired(1000)?.offset).toBe(1);
    expect(cursor.nextDeadlineMs()).toBe(1000);
  });

  it('resets to any offset, forgetting what was in flight', () => {
    const cursor = new PartitionCursor({ committedOffset: 5 });
    cursor.markDelivered(run(5, 6), 6, 'm', 1);
    cursor.resetTo(0);
    expect(cursor).toMatchObject({ committedOffset: 0, nextOffset: 0, inFlightCount: 0 });
  });

  it('counts the bytes in flight: a part of a run takes its share by record count, an extend keeps the total', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered([{ first: 0, last: 2 }, { first: 3, last: 3 }], 3, 'm', 1000, [100, 40]);
    expect(cursor.inFlightBytes).toBe(140);
    expect(cursor.extend(1, 'm', 2000)).toBe(true);
    expect(cursor.inFlightBytes).toBe(140);
    cursor.ack(one(3), 'm');
    expect(cursor.inFlightBytes).toBe(100);
    cursor.ack(one(1), 'm');
    expect(cursor.inFlightBytes).toBe(66); // 33 each for offsets 0 and 2
    cursor.ack(run(0, 2), 'm');
    expect(cursor.inFlightBytes).toBe(0);
    cursor.markDelivered(run(4, 9), 9, 'm', 1000, [600]);
    cursor.resetTo(4);
    expect(cursor.inFlightBytes).toBe(0);
  });

  it('behaves like a record-by-record model under any sequence of deliveries, acks, failures, extends and commits', () => {
    const members = ['a', 'b'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 12 }), member: fc.constantFrom(...members), deadline: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ kind: fc.constant('ack' as const), offsets: fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 12 }), member: fc.constantFrom(...members) }),
      fc.record({ kind: fc.constant('fail' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('release' as const), member: fc.constantFrom(...members), counts: fc.boolean() }),
      fc.record({ kind: fc.constant('extend' as const), offset: fc.integer({ min: 0, max: 60 }), member: fc.constantFrom(...members), deadline: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ kind: fc.constant('deadLetter' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('commit' as const), offset: fc.integer({ min: 0, max: 60 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const cursor = new PartitionCursor({ committedOffset: 0 });
        const model = new CursorModel();
        for (const step of ops) {
          switch (step.kind) {
            case 'deliver': {
              const offsets = model.deliverable(step.count);
              if (offsets.length === 0) break;
              const through = offsets[offsets.length - 1]!;
              expect(offsets.map((offset) => cursor.deliveryAttempt(offset))).toEqual(offsets.map((offset) => model.attempt(offset)));
              const ranges = toRanges(offsets);
              cursor.markDelivered(ranges, through, step.member, step.deadline, ranges.map((range) => RECORD_BYTES * (range.last - range.first + 1)));
              model.deliver(offsets, through, step.member, step.deadline);
              break;
            }
            case 'ack': {
              const result = cursor.ack(toRanges(step.offsets), step.member);
              expect(result).toEqual(model.ack(step.offsets, step.member));
              break;
            }
            case 'fail': {
              const held = model.heldOffsets();
              if (held.length === 0) break;
              const offset = held[step.pick % held.length]!;
              expect(cursor.fail(offset, 0, 0)).toBe(model.fail(offset));
              break;
            }
            case 'release':
              expect(cursor.releaseMember(step.member, 0, { countHeadAsFailure: step.counts })).toEqual(model.release(step.member, step.counts));
              break;
            case 'extend':
              expect(cursor.extend(step.offset, step.member, step.deadline)).toBe(model.extend(step.offset, step.member, step.deadline));
              break;
            case 'deadLetter': {
              const held = model.heldOffsets();
              if (held.length === 0) break;
              const offset = held[step.pick % held.length]!;
              cursor.fail(offset, 0, 0);
              model.fail(offset);
              expect(cursor.completeDeadLettered(offset)).toBe(model.completeDeadLettered(offset));
              break;
            }
            case 'commit':
              if (step.offset > model.nextOffset) break;
              cursor.commitAt(step.offset);
              model.commitAt(step.offset);
              break;
          }
          expect({ committed: cursor.committedOffset, next: cursor.nextOffset, count: cursor.inFlightCount }).toEqual({
            committed: model.committedOffset,
            next: model.nextOffset,
            count: model.inFlight.size,
          });
          // Every record weighs the same here, so the bytes of split runs stay exact.
          expect(cursor.inFlightBytes).toBe(RECORD_BYTES * model.inFlight.size);
          expect(cursor.inFlightRecords()).toEqual(model.inFlightRecords());
          expect(cursor.firstExpired(25)).toEqual(model.inFlightRecords().find((r) => r.deadlineMs <= 25));
          for (let offset = 0; offset <= 61; offset++) {
            expect(cursor.isAcked(offset)).toBe(model.isAcked(offset));
            expect(cursor.holderOf(offset)).toBe(model.inFlight.get(offset)?.memberId);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

function toRanges(offsets: readonly number[]): OffsetRange[] {
  const ranges: OffsetRange[] = [];
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && offset === last.last + 1) last.last = offset;
    else ranges.push({ first: offset, last: offset });
  }
  return ranges;
}

/** The cursor's rules, one record at a time: the reference the range-based cursor must match. */
class CursorModel {
  committedOffset = 0;
  nextOffset = 0;
  readonly inFlight = new Map<number, { memberId: string; deadlineMs: number }>();
  private readonly acked = new Set<number>();
  private readonly failures = new Map<number, number>();

  attempt(offset: number): number {
    return (this.failures.get(offset) ?? 0) + 1;
  }

  isAcked(offset: number): boolean {
    return offset < this.committedOffset || this.acked.has(offset);
  }

  heldOffsets(): number[] {
    return [...this.inFlight.keys()].sort((a, b) => a - b);
  }

  inFlightRecords(): { offset: number; deliveryAttempt: number; deadlineMs: number; memberId: string }[] {
    return this.heldOffsets().map((offset) => ({ offset, deliveryAttempt: this.attempt(offset), ...this.inFlight.get(offset)! }));
  }

  /** Up to `count` offsets from nextOffset, skipping acknowledged ones (as the coordinator reads them). */
  deliverable(count: number): number[] {
    const offsets: number[] = [];
    for (let offset = this.nextOffset; offsets.length < count && offset < 60; offset++) if (!this.isAcked(offset)) offsets.push(offset);
    return offsets;
  }

  deliver(offsets: number[], through: number, memberId: string, deadlineMs: number): void {
    for (const offset of offsets) this.inFlight.set(offset, { memberId, deadlineMs });
    this.nextOffset = through + 1;
  }

  ack(offsets: number[], memberId: string): { committedMoved: boolean; unknown: number } {
    let unknown = 0;
    for (const offset of offsets) {
      if (this.inFlight.get(offset)?.memberId !== memberId) {
        unknown++;
        continue;
      }
      this.inFlight.delete(offset);
      this.acked.add(offset);
    }
    return { committedMoved: this.advance(), unknown };
  }

  private advance(): boolean {
    const before = this.committedOffset;
    while (this.acked.delete(this.committedOffset)) {
      this.failures.delete(this.committedOffset);
      this.committedOffset++;
    }
    if (this.nextOffset < this.committedOffset) this.nextOffset = this.committedOffset;
    return before !== this.committedOffset;
  }

  fail(offset: number): number {
    const attempts = (this.failures.get(offset) ?? 0) + 1;
    this.failures.set(offset, attempts);
    this.takeBackFrom(offset);
    return attempts;
  }

  private takeBackFrom(offset: number): void {
    for (const held of this.heldOffsets()) if (held >= offset) this.inFlight.delete(held);
    if (offset < this.nextOffset) this.nextOffset = Math.max(offset, this.committedOffset);
  }

  release(memberId: string, counts: boolean): { offset: number; attempts: number } | undefined {
    const head = this.heldOffsets().find((offset) => this.inFlight.get(offset)!.memberId === memberId);
    if (head === undefined) return undefined;
    if (counts) return { offset: head, attempts: this.fail(head) };
    this.takeBackFrom(head);
    return undefined;
  }

  extend(offset: number, memberId: string, deadlineMs: number): boolean {
    const record = this.inFlight.get(offset);
    if (record?.memberId !== memberId) return false;
    record.deadlineMs = Math.max(record.deadlineMs, deadlineMs);
    return true;
  }

  completeDeadLettered(offset: number): boolean {
    this.inFlight.delete(offset);
    this.acked.add(offset);
    if (this.nextOffset === offset) this.nextOffset = offset + 1;
    return this.advance();
  }

  commitAt(offset: number): void {
    if (offset < this.committedOffset) {
      this.inFlight.clear();
      this.acked.clear();
      for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
      this.committedOffset = this.nextOffset = offset;
      return;
    }
    for (const held of this.heldOffsets()) if (held < offset) this.inFlight.delete(held);
    for (const acked of [...this.acked]) if (acked < offset) this.acked.delete(acked);
    for (const failed of [...this.failures.keys()]) if (failed < offset) this.failures.delete(failed);
    this.committedOffset = offset;
    if (this.nextOffset < offset) this.nextOffset = offset;
    this.advance();
  }
}
