/**
 * MetaStore's consumer-group tables: committed offsets and delivery attempts. Range reads and deletes
 * must touch exactly their prefix: group "a" is not group "ab", topic "t" is not "t2", partition 1 is
 * not partition 10, and offsets are compared as numbers.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/base/index.js';
import { BrokerError } from '../../../src/errors.js';
import type { FailedAttempt, MetaStore } from '../../../src/meta/index.js';
import { openMetaStore, reopenMetaStore } from '../../helpers/meta-store.js';

const GROUPS = ['a', 'ab', 'a b', 'b'];
const TOPICS = ['t', 't2', 'u'];
const PARTITIONS = [0, 1, 2, 10];

/** One committed offset per (group, topic, partition), valued so each is recognisable. */
async function commitEverywhere(store: MetaStore): Promise<void> {
  await Promise.all(
    GROUPS.map((group, g) =>
      store.commitOffsets(
        group,
        TOPICS.flatMap((topic, t) => PARTITIONS.map((partition) => ({ topic, partition, offset: g * 10_000 + t * 100 + partition }))),
      ),
    ),
  );
}

const failure = (group: string, topic: string, partition: number, offset: number, n = 1): FailedAttempt => ({
  group,
  topic,
  partition,
  offset,
  error: `timed out (${n})`,
  errorClass: 'VisibilityTimeout',
  memberId: `member-${n}`,
});

describe('committed offsets', () => {
  it('round-trips an offset with metadata and the commit time, and keeps it across a restart', async () => {
    const { store, clock } = openMetaStore();
    await store.commitOffsets('workers', [{ topic: 'orders', partition: 3, offset: 42, metadata: 'checkpoint-7' }], { durable: true });
    expect(store.getCommittedOffset('workers', 'orders', 3)).toEqual({ offset: 42, metadata: 'checkpoint-7', commitTimestampMs: clock.nowMs() });
    clock.advance(5_000);
    await store.commitOffsets('workers', [{ topic: 'orders', partition: 3, offset: 40 }]);
    expect(store.getCommittedOffset('workers', 'orders', 3)).toEqual({ offset: 40, metadata: '', commitTimestampMs: clock.nowMs() });
    expect(store.getCommittedOffset('workers', 'orders', 4)).toBeUndefined();
    expect(store.getCommittedOffset('worker', 'orders', 3)).toBeUndefined();

    const reopened = await reopenMetaStore(store);
    expect(reopened.getCommittedOffset('workers', 'orders', 3)).toEqual({ offset: 40, metadata: '', commitTimestampMs: clock.nowMs() });
  });

  it('lists one group ordered by topic, then partition numerically, and not a group it prefixes', async () => {
    const { store } = openMetaStore();
    await commitEverywhere(store);
    const listed = store.listCommittedOffsets('a');
    expect(listed.map((e) => [e.topic, e.partition, e.offset])).toEqual(
      TOPICS.flatMap((topic, t) => PARTITIONS.map((partition) => [topic, partition, t * 100 + partition])),
    );
    expect(store.listCommittedOffsets('ab').every((e) => e.offset >= 10_000 && e.offset < 20_000)).toBe(true);
    expect(store.listCommittedOffsets('a', { limit: 5 }).map((e) => [e.topic, e.partition])).toEqual([
      ['t', 0],
      ['t', 1],
      ['t', 2],
      ['t', 10],
      ['t2', 0],
    ]);
    expect(store.listCommittedOffsets('nobody')).toEqual([]);
  });

  it('commits all offsets of one call or none: a call with one unstorable name writes nothing', async () => {
    const { store } = openMetaStore();
    await store.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1 }]);
    const commit = store.commitOffsets('g', [
      { topic: 't', partition: 0, offset: 2 },
      { topic: 't', partition: 1, offset: 2 },
      { topic: 'bad\u0000name', partition: 0, offset: 2 },
    ]);
    await expect(commit).rejects.toBeInstanceOf(BrokerError);
    await expect(commit).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await store.commitOffsets('g', [{ topic: 'later', partition: 0, offset: 3 }]);
    expect(store.listCommittedOffsets('g').map((e) => [e.topic, e.partition, e.offset])).toEqual([
      ['later', 0, 3],
      ['t', 0, 1],
    ]);
  });

  it('commits a whole call in one transaction: a reader between commits sees all of it or none of it', async () => {
    const { store } = openMetaStore();
    const entries = Array.from({ length: 500 }, (_, partition) => ({ topic: 'wide', partition, offset: 7 }));
    const seen: number[] = [];
    const committing = store.commitOffsets('g', entries);
    // Poll on every event turn until the commit lands; each observation is all or nothing.
    while (seen.at(-1) !== entries.length) {
      seen.push(store.listCommittedOffsets('g').length);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await committing;
    expect(seen[0]).toBe(0);
    expect(seen.every((count) => count === 0 || count === entries.length)).toBe(true);
  });

  it('lists the groups that have offsets, one entry each, in order, with a limit', async () => {
    const { store } = openMetaStore();
    expect(store.listGroupsWithOffsets()).toEqual([]);
    await commitEverywhere(store);
    expect(store.listGroupsWithOffsets()).toEqual(['a', 'a b', 'ab', 'b']);
    expect(store.listGroupsWithOffsets({ limit: 2 })).toEqual(['a', 'a b']);
    await store.deleteGroupOffsets('a b');
    expect(store.listGroupsWithOffsets()).toEqual(['a', 'ab', 'b']);
  });

  it('deletes a group\'s offsets, or one topic of them, and nothing of a group or topic it prefixes', async () => {
    const { store } = openMetaStore();
    await commitEverywhere(store);
    const perTopic = PARTITIONS.length;
    expect(await store.deleteGroupOffsets('a', { topic: 't' })).toBe(perTopic);
    expect(store.listCommittedOffsets('a').map((e) => e.topic)).toEqual([...Array(perTopic).fill('t2'), ...Array(perTopic).fill('u')]);
    expect(store.listCommittedOffsets('ab')).toHaveLength(TOPICS.length * perTopic);

    expect(await store.deleteGroupOffsets('a', { durable: true })).toBe(2 * perTopic);
    expect(store.listCommittedOffsets('a')).toEqual([]);
    for (const group of ['ab', 'a b', 'b']) expect(store.listCommittedOffsets(group)).toHaveLength(TOPICS.length * perTopic);
    expect(await store.deleteGroupOffsets('a')).toBe(0);
  });
});

describe('delivery attempts', () => {
  it('counts failures of one record: first failure kept, last failure, error and member replaced; durable across a restart', async () => {
    const { store, clock } = openMetaStore();
    const firstMs = clock.nowMs();
    expect(await store.recordFailedAttempt(failure('g', 't', 0, 5, 1))).toEqual({
      attempts: 1,
      firstFailureMs: firstMs,
      lastFailureMs: firstMs,
      lastError: 'timed out (1)',
      lastErrorClass: 'VisibilityTimeout',
      lastMemberId: 'member-1',
    });
    clock.advance(30_000);
    const second = await store.recordFailedAttempt({ ...failure('g', 't', 0, 5, 2), errorClass: 'Nack' });
    expect(second).toEqual({ attempts: 2, firstFailureMs: firstMs, lastFailureMs: firstMs + 30_000, lastError: 'timed out (2)', lastErrorClass: 'Nack', lastMemberId: 'member-2' });
    expect(store.getDeliveryAttempts('g', 't', 0, 5)).toEqual(second);
    expect(store.getDeliveryAttempts('g', 't', 0, 6)).toBeUndefined();

    const reopened = await reopenMetaStore(store);
    expect(reopened.getDeliveryAttempts('g', 't', 0, 5)).toEqual(second);
  });

  it('counts concurrent failures of one record without losing any (read-modify-write in one transaction)', async () => {
    const { store } = openMetaStore();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.recordFailedAttempt(failure('g', 't', 0, 5, i))));
    expect(results.map((r) => r.attempts)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(store.getDeliveryAttempts('g', 't', 0, 5)).toMatchObject({ attempts: 8, lastMemberId: 'member-7' });
  });

  it('clears exactly the records below an offset of one partition of one topic of one group', async () => {
    const { store } = openMetaStore();
    const offsets = [0, 4, 5, 6, 9, 10, 100];
    const keys = GROUPS.flatMap((group) => TOPICS.flatMap((topic) => PARTITIONS.flatMap((partition) => offsets.map((offset) => ({ group, topic, partition, offset })))));
    await Promise.all(keys.map(({ group, topic, partition, offset }) => store.recordFailedAttempt(failure(group, topic, partition, offset))));

    expect(await store.clearDeliveryAttemptsBelow('a', 't', 1, 5)).toBe(2);
    const remaining = (group: string, topic: string, partition: number) =>
      store.listDeliveryAttempts(group, { topic, partition }).map((e) => e.offset);
    expect(remaining('a', 't', 1)).toEqual([5, 6, 9, 10, 100]);
    // Neighbours sharing a prefix are untouched.
    for (const [group, topic, partition] of [['ab', 't', 1], ['a', 't2', 1], ['a', 't', 10], ['a', 't', 0], ['a b', 't', 1]] as const) {
      expect(remaining(group, topic, partition), `${group}/${topic}/${partition}`).toEqual(offsets);
    }

    expect(await store.clearDeliveryAttemptsBelow('a', 't', 1, 0)).toBe(0);
    expect(await store.clearDeliveryAttemptsBelow('a', 't', 1, 10)).toBe(3);
    expect(remaining('a', 't', 1)).toEqual([10, 100]);
    expect(await store.clearDeliveryAttemptsBelow('a', 't', 1, 101, { durable: true })).toBe(2);
    expect(remaining('a', 't', 1)).toEqual([]);
    expect(store.listDeliveryAttempts('a').length).toBe(TOPICS.length * PARTITIONS.length * offsets.length - offsets.length);
  });

  it('lists a group\'s attempts by topic, partition and offset, filtered and limited, never another group\'s', async () => {
    const { store } = openMetaStore();
    const keys = [
      ['a', 't2', 0, 3],
      ['a', 't', 10, 1],
      ['a', 't', 2, 100],
      ['a', 't', 2, 20],
      ['ab', 't', 2, 1],
      ['a\u0005', 't', 2, 1],
    ] as const;
    for (const [group, topic, partition, offset] of keys) await store.recordFailedAttempt(failure(group, topic, partition, offset));
    const list = (group: string, options?: Parameters<MetaStore['listDeliveryAttempts']>[1]) =>
      store.listDeliveryAttempts(group, options).map((e) => [e.topic, e.partition, e.offset]);
    expect(list('a')).toEqual([
      ['t', 2, 20],
      ['t', 2, 100],
      ['t', 10, 1],
      ['t2', 0, 3],
    ]);
    expect(list('a', { topic: 't' })).toEqual([
      ['t', 2, 20],
      ['t', 2, 100],
      ['t', 10, 1],
    ]);
    expect(list('a', { topic: 't', partition: 2, limit: 1 })).toEqual([['t', 2, 20]]);
    expect(list('ab')).toEqual([['t', 2, 1]]);
    expect(list('a\u0005')).toEqual([['t', 2, 1]]);
    expect(store.listDeliveryAttempts('a', { limit: 1 })[0]).toMatchObject({ attempts: 1, lastErrorClass: 'VisibilityTimeout' });
    expect(() => store.listDeliveryAttempts('a', { partition: 2 })).toThrow(AssertionError);
  });
});
