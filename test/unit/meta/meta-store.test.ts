/**
 * MetaStore: topics, id counters, producer snapshots and groups on a real LMDB environment in a
 * temporary directory; what each write promises across close and reopen; the format check.
 */
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/base/index.js';
import { BrokerError } from '../../../src/errors.js';
import { META_FORMAT_VERSION, MetaStore, type GroupRecord, type ProducerSnapshot, type TopicRecord } from '../../../src/meta/index.js';
import { openMetaStore, reopenMetaStore } from '../../helpers/meta-store.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function createTopic(store: MetaStore, name: string, partitionCount = 3): Promise<TopicRecord> {
  const record: TopicRecord = { name, topicId: await store.nextTopicId(), partitionCount, config: { retentionMs: 60_000, durability: 'always' }, createdAtMs: 1_000 };
  await store.putTopic(record);
  return record;
}

const snapshot = (coveredOffset: number, producerId = 1): ProducerSnapshot => ({
  coveredOffset,
  producers: [
    {
      producerId,
      producerEpoch: 2,
      lastTimestampMs: 1_700_000_000_123,
      batches: [
        { baseSequence: 0, lastSequence: 4, baseOffset: 0, lastOffset: 4 },
        { baseSequence: 5, lastSequence: 5, baseOffset: coveredOffset - 1, lastOffset: coveredOffset - 1 },
      ],
    },
  ],
});

const group = (name: string, generation: number, state = 'Stable'): GroupRecord => ({
  group: name,
  generation,
  protocol: 'range',
  state,
  updatedAtMs: 1_700_000_000_000 + generation,
  paused: false,
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('MetaStore counters', () => {
  it('hands out ids from 1, distinct under concurrency, separately per counter, and never again after a restart', async () => {
    const { store } = openMetaStore();
    const ids = await Promise.all(Array.from({ length: 20 }, () => store.allocateProducerId()));
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await store.nextTopicId()).toBe(1);
    expect(await store.nextTopicId()).toBe(2);

    const reopened = await reopenMetaStore(store);
    expect(await reopened.allocateProducerId()).toBe(21);
    expect(await reopened.nextTopicId()).toBe(3);
  });
});

describe('MetaStore topics', () => {
  it('round-trips topic records, lists them by name with a limit, and keeps them across a restart', async () => {
    const { store } = openMetaStore();
    const orders = await createTopic(store, 'orders', 12);
    await createTopic(store, 'audit');
    await createTopic(store, 'orders-dlq', 1);
    expect(store.getTopic('orders')).toEqual(orders);
    expect(store.getTopic('order')).toBeUndefined();
    expect(store.listTopics().map((t) => t.name)).toEqual(['audit', 'orders', 'orders-dlq']);
    expect(store.listTopics({ limit: 2 }).map((t) => t.name)).toEqual(['audit', 'orders']);

    const reopened = await reopenMetaStore(store);
    expect(reopened.getTopic('orders')).toEqual(orders);
    expect(reopened.listTopics()).toHaveLength(3);
  });

  it('copies the record when called, so later changes by the caller are not stored', async () => {
    const { store } = openMetaStore();
    const record: TopicRecord = { name: 't', topicId: await store.nextTopicId(), partitionCount: 1, config: { a: 1 }, createdAtMs: 5 };
    const written = store.putTopic(record);
    record.partitionCount = 99;
    record.config.a = 2;
    await written;
    expect(store.getTopic('t')).toMatchObject({ partitionCount: 1, config: { a: 1 } });
  });

  it('gives a re-created topic a new id and deletes the old topic with its producer snapshots, atomically and durably', async () => {
    const { store } = openMetaStore();
    const first = await createTopic(store, 'events');
    const other = await createTopic(store, 'other');
    await store.putProducerSnapshot(first.topicId, 0, snapshot(10));
    await store.putProducerSnapshot(first.topicId, 2, snapshot(20));
    await store.putProducerSnapshot(other.topicId, 0, snapshot(30));

    expect(await store.deleteTopic('events')).toEqual(first);
    expect(await store.deleteTopic('events')).toBeUndefined();
    expect(store.getTopic('events')).toBeUndefined();
    expect(store.getProducerSnapshot(first.topicId, 0)).toBeUndefined();
    expect(store.getProducerSnapshot(first.topicId, 2)).toBeUndefined();
    expect(store.getProducerSnapshot(other.topicId, 0)).toEqual(snapshot(30));

    const again = await createTopic(store, 'events');
    expect(again.topicId).toBeGreaterThan(other.topicId);
    const reopened = await reopenMetaStore(store);
    expect(reopened.getTopic('events')?.topicId).toBe(again.topicId);
  });

  it('refuses (by assertion) a topic whose id nextTopicId did not hand out', async () => {
    const { store } = openMetaStore();
    await store.nextTopicId();
    const error = await rejection(store.putTopic({ name: 't', topicId: 2, partitionCount: 1, config: {}, createdAtMs: 0 }));
    expect(error).toBeInstanceOf(AssertionError);
    expect(store.getTopic('t')).toBeUndefined();
  });
});

describe('MetaStore producer snapshots', () => {
  it('round-trips a snapshot, replaces it, and keeps it across a restart', async () => {
    const { store } = openMetaStore();
    await store.putProducerSnapshot(1, 0, snapshot(10));
    expect(store.getProducerSnapshot(1, 0)).toEqual(snapshot(10));
    await store.putProducerSnapshot(1, 0, snapshot(15, 7), { durable: true });
    expect(store.getProducerSnapshot(1, 0)).toEqual(snapshot(15, 7));
    expect(store.getProducerSnapshot(1, 1)).toBeUndefined();
    const reopened = await reopenMetaStore(store);
    expect(reopened.getProducerSnapshot(1, 0)).toEqual(snapshot(15, 7));
  });

  it('deletes only the snapshots of the given topic id (1 is not 10 or 11)', async () => {
    const { store } = openMetaStore();
    await Promise.all([1, 10, 11, 2].flatMap((topicId) => [0, 1, 10].map((partition) => store.putProducerSnapshot(topicId, partition, snapshot(topicId + partition + 5)))));
    expect(await store.deleteProducerSnapshots(1)).toBe(3);
    expect(await store.deleteProducerSnapshots(1)).toBe(0);
    for (const partition of [0, 1, 10]) {
      expect(store.getProducerSnapshot(1, partition)).toBeUndefined();
      for (const topicId of [2, 10, 11]) expect(store.getProducerSnapshot(topicId, partition)?.coveredOffset).toBe(topicId + partition + 5);
    }
  });

  it('asserts that every remembered batch lies below coveredOffset', async () => {
    const { store } = openMetaStore();
    const bad = snapshot(10);
    bad.producers[0]!.batches.push({ baseSequence: 6, lastSequence: 6, baseOffset: 10, lastOffset: 10 });
    expect(await rejection(store.putProducerSnapshot(1, 0, bad))).toBeInstanceOf(AssertionError);
    expect(store.getProducerSnapshot(1, 0)).toBeUndefined();
  });
});

describe('MetaStore groups', () => {
  it('round-trips group records, lists them by name, and deletes one', async () => {
    const { store } = openMetaStore();
    await Promise.all([store.putGroup(group('workers', 3)), store.putGroup(group('auditors', 1)), store.putGroup(group('workers-b', 1))]);
    expect(store.getGroup('workers')).toEqual(group('workers', 3));
    expect(store.listGroups().map((g) => g.group)).toEqual(['auditors', 'workers', 'workers-b']);
    expect(store.listGroups({ limit: 1 }).map((g) => g.group)).toEqual(['auditors']);
    await store.putGroup({ ...group('workers', 4, 'PreparingRebalance'), paused: true }, { durable: true });
    expect(store.getGroup('workers')).toMatchObject({ generation: 4, state: 'PreparingRebalance', paused: true });

    expect(await store.deleteGroup('workers')).toBe(true);
    expect(await store.deleteGroup('workers')).toBe(false);
    expect(store.listGroups().map((g) => g.group)).toEqual(['auditors', 'workers-b']);
  });

  it('refuses a generation that goes back, leaving the record and the writes batched with it intact', async () => {
    const { store } = openMetaStore();
    await store.putGroup(group('g', 5));
    // Queued in one event turn: they commit in one LMDB transaction, yet the failing one leaves nothing.
    const results = await Promise.allSettled([
      store.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1 }]),
      store.putGroup(group('g', 4)),
      store.putGroup(group('h', 1)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(AssertionError);
    expect(store.getGroup('g')?.generation).toBe(5);
    expect(store.getGroup('h')?.generation).toBe(1);
    expect(store.getCommittedOffset('g', 't', 0)?.offset).toBe(1);
  });
});

describe('MetaStore lifecycle', () => {
  it('keeps committed (non-durable) writes too once close has resolved', async () => {
    const { store } = openMetaStore();
    void store.putGroup(group('g', 1));
    void store.commitOffsets('g', [{ topic: 't', partition: 0, offset: 9 }]);
    const reopened = await reopenMetaStore(store);
    expect(reopened.getGroup('g')).toEqual(group('g', 1));
    expect(reopened.getCommittedOffset('g', 't', 0)?.offset).toBe(9);
  });

  it('creates its directory, even one with a dot in its name', async () => {
    const dir = path.join(tempDir(), 'data', 'meta.v1');
    const { store } = openMetaStore({ dir });
    await store.putGroup(group('g', 1));
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb']);
  });

  it('fails (by assertion) when used after close; close is idempotent', async () => {
    const { store } = openMetaStore();
    await store.close();
    await store.close();
    expect(() => store.getTopic('t')).toThrow(AssertionError);
    expect(await rejection(store.nextTopicId())).toBeInstanceOf(AssertionError);
  });

  it('refuses a directory written in another format, or holding data without a format version', async () => {
    const newer = tempDir();
    await openMetaStore({ dir: newer }).store.close();
    const env = open({ path: newer });
    await env.openDB({ name: 'store' }).put('formatVersion', META_FORMAT_VERSION + 1);
    await env.close();
    const error = (() => {
      try {
        MetaStore.open({ dir: newer });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ code: 'METADATA_INCOMPATIBLE', details: { formatVersion: META_FORMAT_VERSION + 1 } });

    const unversioned = tempDir();
    const other = open({ path: unversioned, maxDbs: 8 });
    await other.openDB({ name: 'topics' }).put('t', { name: 't' });
    await other.close();
    expect(() => MetaStore.open({ dir: unversioned })).toThrow(expect.objectContaining({ code: 'METADATA_INCOMPATIBLE' }));
  });
});
