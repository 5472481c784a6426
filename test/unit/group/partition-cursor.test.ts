import { describe, expect, it } from 'vitest';
import { PartitionCursor } from '../../../src/group/partition-cursor.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('PartitionCursor', () => {
  it('commits the contiguous acknowledged prefix, whatever order acks arrive in', () => {
    const cursor = new PartitionCursor({ committedOffset: 10 });
    expect(cursor.markDelivered(range(10, 14), 14, 'm', 1000)).toEqual([1, 1, 1, 1, 1]);
    expect(cursor.ack([12, 13], 'm').committedMoved).toBe(false);
    expect(cursor.committedOffset).toBe(10);
    expect(cursor.ack([10], 'm').committedMoved).toBe(true);
    expect(cursor.committedOffset).toBe(11);
    cursor.ack([11, 14], 'm');
    expect(cursor.committedOffset).toBe(15);
    expect(cursor.inFlightCount).toBe(0);
  });

  it('ignores acks for records the member does not hold', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered([0], 0, 'a', 1000);
    expect(cursor.ack([0, 5], 'b')).toEqual({ committedMoved: false, unknown: [0, 5] });
  });

  it('after a failure, takes back later records and resumes at the failed one after the delay', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(range(0, 9), 9, 'm', 1000);
    cursor.ack([0, 1], 'm');
    expect(cursor.fail(3, 5000, 200)).toBe(1);
    expect(cursor.nextOffset).toBe(3);
    expect(cursor.inFlightRecords().map((r) => r.offset)).toEqual([2]);
    expect(cursor.deliverableFrom(5100)).toBeUndefined();
    expect(cursor.deliverableFrom(5200)).toBe(3);
    expect(cursor.markDelivered(range(3, 5), 5, 'm', 9000)).toEqual([2, 1, 1]);
  });

  it('counts failures per record across deliveries, starting from the stored count', () => {
    const cursor = new PartitionCursor({ committedOffset: 0, failedAttempts: new Map([[0, 2]]) });
    expect(cursor.markDelivered([0], 0, 'm', 1)).toEqual([3]);
    expect(cursor.fail(0, 0, 0)).toBe(3);
    cursor.markDelivered([0], 0, 'm', 1);
    expect(cursor.fail(0, 0, 0)).toBe(4);
  });

  it('dead-lettering completes a record so the partition moves on', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered([0, 1], 1, 'm', 1);
    cursor.fail(0, 0, 0);
    expect(cursor.completeDeadLettered(0)).toBe(true);
    expect(cursor.committedOffset).toBe(1);
    expect(cursor.deliverableFrom(0)).toBe(1);
    expect(cursor.retrying).toBeUndefined();
  });

  it('a dead member fails only the record it was working on; the prefetched ones go back without an attempt', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(range(0, 4), 4, 'dead', 1);
    cursor.ack([0], 'dead');
    expect(cursor.releaseMember('dead', 0, { countHeadAsFailure: true })).toEqual({ offset: 1, attempts: 1 });
    expect(cursor.markDelivered(range(1, 4), 4, 'next', 1)).toEqual([2, 1, 1, 1]);
    // A revoke from a live member counts nothing.
    expect(cursor.releaseMember('next', 0, { countHeadAsFailure: false })).toBeUndefined();
    expect(cursor.nextOffset).toBe(1);
    expect(cursor.failedAttempts(1)).toBe(1);
  });

  it('skips records already acknowledged when delivery rewinds', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered(range(0, 3), 3, 'm', 1);
    cursor.ack([2], 'm');
    cursor.fail(1, 0, 0);
    expect(cursor.isAcked(2)).toBe(true);
    expect(cursor.markDelivered([1, 3], 3, 'm', 1)).toEqual([2, 1]);
    cursor.ack([0, 1, 3], 'm');
    expect(cursor.committedOffset).toBe(4);
  });

  it('finds expired visibility deadlines and extends them for the holder only', () => {
    const cursor = new PartitionCursor({ committedOffset: 0 });
    cursor.markDelivered([0, 1], 1, 'm', 1000);
    expect(cursor.firstExpired(999)).toBeUndefined();
    expect(cursor.extend(0, 'other', 5000)).toBe(false);
    expect(cursor.extend(0, 'm', 5000)).toBe(true);
    expect(cursor.firstExpired(1000)?.offset).toBe(1);
    expect(cursor.nextDeadlineMs()).toBe(1000);
  });

  it('resets to any offset, forgetting what was in flight', () => {
    const cursor = new PartitionCursor({ committedOffset: 5 });
    cursor.markDelivered([5, 6], 6, 'm', 1);
    cursor.resetTo(0);
    expect(cursor).toMatchObject({ committedOffset: 0, nextOffset: 0, inFlightCount: 0 });
  });
});
