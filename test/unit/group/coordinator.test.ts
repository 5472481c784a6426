import { afterEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../../src/errors.js';
import type { RecordingMember} from '../../helpers/group-harness.js';
import { type GroupHarness, groupHarness, rangesOf } from '../../helpers/group-harness.js';

let harness: GroupHarness;
afterEach(async () => {
  await harness.coordinator.close();
  await harness.topics.close();
});

const ref = (member: RecordingMember) => ({ group: 'workers', memberId: member.memberId, generation: member.generation });

function ack(member: RecordingMember, records = member.take()): void {
  const byPartition = new Map<number, number[]>();
  for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r.offset]);
  for (const [partition, offsets] of byPartition) harness.coordinator.ack({ ...ref(member), topic: 'jobs', partition, ranges: rangesOf(offsets) });
}

describe('GroupCoordinator', () => {
  it('gives a lone member every partition and delivers in offset order with attempt 1; acks commit', async () => {
    harness = await groupHarness();
    await harness.produce('jobs', 0, ['a', 'b', 'c']);
    await harness.produce('jobs', 1, ['x']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    expect(member.partitions).toEqual([{ topic: 'jobs', partition: 0 }, { topic: 'jobs', partition: 1 }]);
    expect(member.values(0)).toEqual(['a', 'b', 'c']);
    expect(member.received.every((r) => r.deliveryAttempt === 1)).toBe(true);
    ack(member);
    await harness.settle();
    // Committed offsets are written once per offsetCommitIntervalMs (100 ms by default), not per ack.
    expect(harness.meta.getCommittedOffset('workers', 'jobs', 0)).toBeUndefined();
    harness.clock.advance(100);
    await harness.settle();
    expect(harness.meta.getCommittedOffset('workers', 'jobs', 0)?.offset).toBe(3);
    expect(harness.meta.getCommittedOffset('workers', 'jobs', 1)?.offset).toBe(1);
    // New records flow to the waiting member.
    await harness.produce('jobs', 0, ['d']);
    await harness.settle();
    expect(member.values(0)).toEqual(['d']);
  });

  it('writes acknowledged progress at close without waiting for the commit interval', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    ack(member);
    await harness.coordinator.close();
    expect(harness.meta.getCommittedOffset('workers', 'jobs', 0)?.offset).toBe(2);
  });

  it('holds at most inFlightMax unacknowledged records per member', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, Array.from({ length: 20 }, (_, i) => `r${i}`));
    const member = harness.join({ topics: ['jobs'], inFlightMax: 5 });
    await harness.settle();
    expect(member.received).toHaveLength(5);
    ack(member);
    await harness.settle();
    expect(member.values()).toEqual(['r5', 'r6', 'r7', 'r8', 'r9']);
  });

  it('spends a window in whole batches when it can, cutting one only when it alone exceeds the window', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b', 'c']);
    await harness.produce('jobs', 0, ['d', 'e', 'f']);
    const member = harness.join({ topics: ['jobs'], inFlightMax: 4 });
    await harness.settle();
    expect(member.values()).toEqual(['a', 'b', 'c']); // not 'd': that would split the second batch
    ack(member);
    await harness.settle();
    expect(member.values()).toEqual(['d', 'e', 'f']);

    await harness.produce('jobs', 0, ['g', 'h', 'i', 'j', 'k', 'l']);
    ack(member);
    await harness.settle();
    expect(member.values()).toEqual(['g', 'h', 'i', 'j']);
  });

  it('holds at most inFlightBytesMax bytes per member', async () => {
    harness = await groupHarness({ partitions: 1 });
    const big = (i: number): string => `${i}`.padEnd(1000, '.');
    for (let i = 0; i < 6; i++) await harness.produce('jobs', 0, [big(i)]); // a batch of about 2.1 KB each (key and value)
    const member = harness.join({ topics: ['jobs'], inFlightBytesMax: 5000 });
    await harness.settle();
    expect(member.values()).toEqual([big(0), big(1)]);
    ack(member);
    await harness.settle();
    expect(member.values()).toEqual([big(2), big(3)]);
  });

  it('lets one batch out to a member holding nothing, even past its byte budget', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['x'.repeat(500)]);
    await harness.produce('jobs', 0, ['y'.repeat(500)]);
    const member = harness.join({ topics: ['jobs'], inFlightBytesMax: 10 });
    await harness.settle();
    expect(member.values()).toEqual(['x'.repeat(500)]);
    ack(member);
    await harness.settle();
    expect(member.values()).toEqual(['y'.repeat(500)]);
  });

  it('retries a nacked record after its backoff before anything after it, with the next attempt number', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b', 'c']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    const [a, b] = member.take();
    ack(member, [a!]);
    harness.coordinator.nack({ ...ref(member), topic: 'jobs', partition: 0, offset: b!.offset, error: 'boom', errorClass: 'Error' });
    await harness.settle();
    expect(member.received).toHaveLength(0); // c is not delivered while b waits
    harness.clock.advance(100);
    await harness.settle();
    expect(member.received.map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([
      ['b', 2],
      ['c', 1],
    ]);
    expect(harness.meta.getDeliveryAttempts('workers', 'jobs', 0, b!.offset)).toMatchObject({ attempts: 1, lastError: 'boom' });
  });

  it('dead-letters a record after maxDeliveryAttempts failures and moves on', async () => {
    harness = await groupHarness({ partitions: 1, topicConfig: { maxDeliveryAttempts: 3 } });
    await harness.produce('jobs', 0, ['poison', 'fine']);
    const member = harness.join({ topics: ['jobs'], inFlightMax: 1 });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await harness.settle();
      const [poison] = member.take();
      expect(poison).toMatchObject({ offset: 0, deliveryAttempt: attempt });
      harness.coordinator.nack({ ...ref(member), topic: 'jobs', partition: 0, offset: 0, error: `fail ${attempt}`, errorClass: 'Bad', delayMs: 0 });
      harness.clock.advance(1);
    }
    await harness.settle();
    expect(harness.deadLetters).toHaveLength(1);
    expect(harness.deadLetters[0]).toMatchObject({ group: 'workers', topic: 'jobs', partition: 0, cause: 'nack', attempts: { attempts: 3, lastError: 'fail 3' } });
    expect(harness.deadLetters[0]!.record.value!.toString()).toBe('poison');
    expect(member.values()).toEqual(['fine']);
    ack(member);
    harness.clock.advance(100);
    await harness.settle();
    expect(harness.meta.getCommittedOffset('workers', 'jobs', 0)?.offset).toBe(2);
  });

  it('sends a rejected record straight to the DLQ', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['never']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    harness.coordinator.reject({ ...ref(member), topic: 'jobs', partition: 0, offset: 0, error: 'malformed', errorClass: 'Validation' });
    await harness.settle();
    expect(harness.deadLetters.map((d) => [d.cause, d.attempts.attempts])).toEqual([['reject', 1]]);
  });

  it('redelivers a record not acknowledged within the visibility timeout, unless extended', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['slow', 'later']);
    const member = harness.join({ topics: ['jobs'], ackTimeoutMs: 1000, inFlightMax: 1 });
    await harness.settle();
    member.take();
    harness.clock.advance(900);
    expect(harness.coordinator.extend({ group: 'workers', memberId: member.memberId, topic: 'jobs', partition: 0, offsets: [0], extendMs: 1000 })).toBe(1);
    harness.clock.advance(900);
    await harness.settle();
    expect(member.received).toHaveLength(0);
    harness.clock.advance(300);
    await harness.settle();
    harness.clock.advance(200); // the retry backoff
    await harness.settle();
    expect(member.take().map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([['slow', 2]]);
  });

  it("redelivers a dead member's records to another; only the one it was working on counts an attempt", async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b', 'c']);
    const first = harness.join({ topics: ['jobs'] });
    await harness.settle();
    expect(first.values()).toEqual(['a', 'b', 'c']);
    const second = harness.join({ topics: ['jobs'] });
    await harness.settle();
    harness.coordinator.disconnect({ group: 'workers', memberId: first.memberId });
    harness.clock.advance(100);
    await harness.settle();
    expect(second.received.map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
  });

  it('rebalances a join stickily and never lets two members hold the same partition', async () => {
    harness = await groupHarness({ partitions: 4, settings: { revokeTimeoutMs: 5000 } });
    for (let p = 0; p < 4; p++) await harness.produce('jobs', p, [`p${p}-0`, `p${p}-1`]);
    const first = harness.join({ topics: ['jobs'] });
    await harness.settle();
    expect(first.received).toHaveLength(8);
    const second = harness.join({ topics: ['jobs'] });
    await harness.settle();
    // Two partitions are revoked from `first`, but `second` gets them only once `first` lets go.
    expect(first.partitions).toHaveLength(2);
    expect(second.partitions).toHaveLength(0);
    expect(second.received).toHaveLength(0);
    ack(first);
    await harness.settle();
    expect(second.partitions).toHaveLength(2);
    expect(second.received).toHaveLength(0); // everything was acknowledged before the handover
    const moved = second.partitions.map((tp) => tp.partition);
    await harness.produce('jobs', moved[0]!, ['new']);
    await harness.settle();
    expect(second.values()).toEqual(['new']);
  });

  it('hands a revoked partition on after revokeTimeoutMs even if the old owner never answers', async () => {
    harness = await groupHarness({ partitions: 2, settings: { revokeTimeoutMs: 1000 } });
    await harness.produce('jobs', 0, ['a']);
    await harness.produce('jobs', 1, ['b']);
    const first = harness.join({ topics: ['jobs'], ackTimeoutMs: 60_000 });
    await harness.settle();
    const second = harness.join({ topics: ['jobs'] });
    harness.clock.advance(1000);
    await harness.settle();
    expect(second.partitions).toHaveLength(1);
    expect(second.received.map((r) => r.deliveryAttempt)).toEqual([1]);
    // The old owner's late ack for the moved partition is fenced.
    const moved = second.partitions[0]!.partition;
    expect(() => harness.coordinator.ack({ ...ref(first), topic: 'jobs', partition: moved, ranges: [{ first: 0, last: 0 }] })).toThrow(BrokerError);
    try {
      harness.coordinator.ack({ ...ref(first), topic: 'jobs', partition: moved, ranges: [{ first: 0, last: 0 }] });
    } catch (error) {
      expect((error as BrokerError).code).toBe('MEMBER_FENCED');
    }
  });

  it('removes a member whose session expires and redelivers its work', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a']);
    const silent = harness.join({ topics: ['jobs'], sessionTimeoutMs: 1000 });
    await harness.settle();
    // Sticky: the first member keeps the only partition when the second joins.
    const alive = harness.join({ topics: ['jobs'], sessionTimeoutMs: 60_000 });
    await harness.settle();
    expect(silent.values()).toEqual(['a']);
    expect(alive.partitions).toEqual([]);
    harness.clock.advance(1100);
    await harness.settle();
    expect(silent.closedWith?.code).toBe('UNKNOWN_MEMBER');
    harness.clock.advance(200);
    await harness.settle();
    expect(alive.take().map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([['a', 2]]);
  });

  it('keeps a static member’s partitions when it rejoins within its session, without a rebalance', async () => {
    harness = await groupHarness({ partitions: 2 });
    const a = harness.join({ topics: ['jobs'], instanceId: 'worker-a', sessionTimeoutMs: 5000 });
    const b = harness.join({ topics: ['jobs'], instanceId: 'worker-b', sessionTimeoutMs: 5000 });
    await harness.settle();
    const partitionsOfA = a.partitions;
    const generation = a.generation;
    harness.coordinator.disconnect({ group: 'workers', memberId: a.memberId });
    harness.clock.advance(2000);
    harness.coordinator.heartbeat({ group: 'workers', memberId: b.memberId });
    const back = harness.join({ topics: ['jobs'], instanceId: 'worker-a', sessionTimeoutMs: 5000 });
    expect(back.memberId).toBe(a.memberId);
    expect(back.partitions).toEqual(partitionsOfA);
    expect(back.generation).toBe(generation);
  });

  it('keeps committed offsets and failed attempts across a coordinator restart', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    const [a, b] = member.take();
    ack(member, [a!]);
    harness.coordinator.nack({ ...ref(member), topic: 'jobs', partition: 0, offset: b!.offset, error: 'x', errorClass: 'E', delayMs: 0 });
    await harness.settle();
    await harness.coordinator.close();
    harness.restartCoordinator();
    const again = harness.join({ topics: ['jobs'] });
    await harness.settle();
    expect(again.received.map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([['b', 2]]);
  });

  it('resets offsets to replay, and refuses a stranger’s ack', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a', 'b']);
    const member = harness.join({ topics: ['jobs'] });
    await harness.settle();
    ack(member);
    await harness.settle();
    await harness.coordinator.resetOffsets('workers', 'jobs', new Map([[0, 0]]));
    await harness.settle();
    expect(member.values()).toEqual(['a', 'b']);
    expect(() => harness.coordinator.ack({ group: 'workers', memberId: 'nobody', generation: 1, topic: 'jobs', partition: 0, ranges: [{ first: 0, last: 0 }] })).toThrow(/join again/);
  });

  it('shares a member’s window fairly between its partitions', async () => {
    harness = await groupHarness({ partitions: 2 });
    await harness.produce('jobs', 0, Array.from({ length: 50 }, (_, i) => `a${i}`));
    await harness.produce('jobs', 1, Array.from({ length: 50 }, (_, i) => `b${i}`));
    const member = harness.join({ topics: ['jobs'], inFlightMax: 10 });
    await harness.settle();
    expect(member.values(0)).toHaveLength(5);
    expect(member.values(1)).toHaveLength(5);
  });

  it('goes round its partitions when the window is smaller than their number', async () => {
    harness = await groupHarness({ partitions: 2 });
    await harness.produce('jobs', 0, Array.from({ length: 10 }, (_, i) => `a${i}`));
    await harness.produce('jobs', 1, Array.from({ length: 10 }, (_, i) => `b${i}`));
    const member = harness.join({ topics: ['jobs'], inFlightMax: 1 });
    const order: string[] = [];
    for (let turn = 0; turn < 6; turn++) {
      await harness.settle();
      const records = member.take();
      expect(records).toHaveLength(1);
      order.push(`${records[0]!.partition}`);
      ack(member, records);
    }
    // Both partitions progress; neither waits for the other to drain.
    expect(order.filter((p) => p === '0').length).toBeGreaterThanOrEqual(2);
    expect(order.filter((p) => p === '1').length).toBeGreaterThanOrEqual(2);
  });

  it('moves past records that retention deleted before the group consumed them', async () => {
    harness = await groupHarness({ partitions: 1, topicConfig: { segmentBytesMax: 64 * 1024, batchBytesMax: 16 * 1024, retentionBytes: 64 * 1024, retentionMs: -1 } });
    const member = harness.join({ topics: ['jobs'], inFlightMax: 1 });
    await harness.settle();
    for (let i = 0; i < 40; i++) await harness.produce('jobs', 0, [`${i}`.padEnd(4000, '.')]);
    await harness.settle();
    const first = member.take();
    expect(first.map((r) => r.offset)).toEqual([0]);
    harness.topics.partition('jobs', 0).enforceRetention();
    const logStart = harness.topics.partition('jobs', 0).state().logStartOffset;
    expect(logStart).toBeGreaterThan(1);
    ack(member, first);
    await harness.settle();
    expect(member.take().map((r) => r.offset)).toEqual([logStart]);
  });

  it('keeps a group paused ahead of time: members that join later get nothing until it resumes', async () => {
    harness = await groupHarness({ partitions: 1 });
    await harness.produce('jobs', 0, ['a']);
    const first = harness.join({ topics: ['jobs'] });
    await harness.settle();
    ack(first);
    harness.coordinator.leave({ group: 'workers', memberId: first.memberId });
    await harness.settle();
    harness.coordinator.setPaused('workers', true);
    await harness.produce('jobs', 0, ['b']);
    await harness.settle();
    const later = harness.join({ topics: ['jobs'] });
    await harness.settle();
    expect(later.received).toHaveLength(0);
    harness.coordinator.setPaused('workers', false);
    await harness.settle();
    expect(later.values()).toEqual(['b']);
    expect(() => harness.coordinator.setPaused('nobody', true)).toThrow(/does not exist/);
  });
});
