/**
 * Consumer groups end to end: a real broker, the real client, members as Consume streams.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConsumerSession, DeliveredRecord, SluiceClient } from '../../src/client/index.js';
import { type TestBroker, startTestBroker, waitUntil } from '../helpers/broker.js';

let env: TestBroker;
afterEach(async () => {
  await env.stop();
});

/** Processes a session's records with `handle` (ack on true, nack on false) until stopped. */
function work(session: ConsumerSession, handle: (record: DeliveredRecord) => boolean, seen: DeliveredRecord[]): Promise<void> {
  return (async () => {
    for await (const event of session.events()) {
      if (event.type !== 'records') continue;
      const ok: number[] = [];
      for (const record of event.records) {
        seen.push(record);
        if (handle(record)) ok.push(record.offset);
        else {
          // Stop at the failure: later records of the partition come again after the retry.
          session.ack(record, ok.splice(0));
          session.nack(record, { error: `cannot process ${record.value!.toString()}`, errorClass: 'PoisonError', delayMs: 0 });
          break;
        }
      }
      session.ack(event, ok);
    }
  })();
}

async function produceKeyed(client: SluiceClient, topic: string, count: number, keys: number): Promise<void> {
  for (let start = 0; start < count; start += 500) {
    const records = Array.from({ length: Math.min(500, count - start) }, (_, i) => {
      const n = start + i;
      return { key: `entity-${n % keys}`, value: `${n % keys}:${n}` };
    });
    await client.produce({ topic, records });
  }
}

describe('consumer groups over gRPC', () => {
  it('shares a topic among competing members: each record processed once, per-key order kept', async () => {
    env = await startTestBroker();
    const client = await env.client();
    await client.createTopic({ name: 'orders', partitionCount: 6 });
    await produceKeyed(client, 'orders', 3000, 50);
    const seen: DeliveredRecord[] = [];
    const sessions = await Promise.all([0, 1, 2].map(() => client.consume({ group: 'billing', topics: ['orders'], inFlightMax: 200 })));
    const workers = sessions.map((s) => work(s, () => true, seen));
    await waitUntil(() => seen.length >= 3000, 20_000);
    const description = await client.describeGroup('billing');
    expect(description.members).toHaveLength(3);
    await waitUntil(async () => (await client.describeGroup('billing')).partitions.every((p) => p.lagRecords === 0), 10_000);
    await Promise.all(sessions.map((s) => s.leave()));
    await Promise.all(workers);
    expect(seen).toHaveLength(3000);
    expect(new Set(seen.map((r) => `${r.partition}/${r.offset}`)).size).toBe(3000);
    const perKey = new Map<string, number[]>();
    for (const record of seen) {
      const [key, n] = record.value!.toString().split(':');
      perKey.set(key!, [...(perKey.get(key!) ?? []), Number(n)]);
    }
    for (const values of perKey.values()) expect(values).toEqual([...values].sort((a, b) => a - b));
  });

  it('holds a member to its inFlightBytesMax: the group view shows the bytes it holds', async () => {
    env = await startTestBroker();
    const client = await env.client();
    await client.createTopic({ name: 'scans', partitionCount: 1 });
    for (let i = 0; i < 4; i++) await client.produce({ topic: 'scans', records: [{ key: 'k', value: `${i}`.padEnd(2000, '.') }] });
    const session = await client.consume({ group: 'ocr', topics: ['scans'], inFlightBytesMax: 5000 });
    const events = session.events()[Symbol.asyncIterator]();
    const nextRecords = async (): Promise<DeliveredRecord[]> => {
      for (;;) {
        const next = await events.next();
        if (next.done === true) throw new Error('the session ended');
        if (next.value.type === 'records') return next.value.records;
      }
    };
    const held: DeliveredRecord[] = [];
    while (held.length < 2) held.push(...(await nextRecords()));
    // Two batches of about 2 KB fit in 5000 bytes; a third does not, so nothing more comes until an ack.
    const [partition] = (await client.describeGroup('ocr')).partitions;
    expect(partition).toMatchObject({ inFlight: 2 });
    expect(partition!.inFlightBytes).toBeGreaterThan(4000);
    expect(partition!.inFlightBytes).toBeLessThanOrEqual(5000);
    session.ack(held[0]!, held.map((record) => record.offset));
    while (held.length < 4) held.push(...(await nextRecords()));
    expect(held.map((record) => record.offset)).toEqual([0, 1, 2, 3]);
    await session.leave();
  });

  it('dead-letters a poison record after maxDeliveryAttempts, moves on, and redrives it', async () => {
    env = await startTestBroker({ settings: { retryBackoffMs: 0 }, topicDefaults: { maxDeliveryAttempts: 3 } });
    const client = await env.client();
    await client.createTopic({ name: 'videos', partitionCount: 1 });
    await client.produce({ topic: 'videos', records: ['ok-1', 'poison', 'ok-2'].map((value) => ({ key: 'v', value })) });
    const session = await client.consume({ group: 'transcoders', topics: ['videos'] });
    const seen: DeliveredRecord[] = [];
    const worker = work(session, (r) => r.value!.toString() !== 'poison', seen);
    await waitUntil(async () => (await client.listDeadLetters({ topic: 'videos' })).deadLetters.length === 1, 10_000);
    await waitUntil(() => seen.some((r) => r.value!.toString() === 'ok-2'), 5_000);
    expect(seen.filter((r) => r.value!.toString() === 'poison').map((r) => r.deliveryAttempt)).toEqual([1, 2, 3]);
    const [dead] = (await client.listDeadLetters({ topic: 'videos' })).deadLetters;
    expect(dead).toMatchObject({ originTopic: 'videos', originPartition: 0, originOffset: 1, group: 'transcoders', attempts: 3, cause: 'nack', error: 'cannot process poison', errorClass: 'PoisonError' });
    expect(dead!.value!.toString()).toBe('poison');

    const preview = await client.redrive({ topic: 'videos', dryRun: true });
    expect(preview.movedCount).toBe(1);
    expect((await client.redrive({ topic: 'videos' })).movedCount).toBe(1);
    // "Fixed the bug": the redriven copy now succeeds.
    await waitUntil(() => seen.filter((r) => r.value!.toString() === 'poison').length === 4, 5_000);
    await session.leave();
    await worker;
  });

  it('redelivers what a dead member held to the next owner; only its current record counts an attempt', async () => {
    env = await startTestBroker({ settings: { retryBackoffMs: 0 } });
    const client = await env.client();
    await client.createTopic({ name: 'jobs', partitionCount: 1 });
    await client.produce({ topic: 'jobs', records: ['a', 'b', 'c'].map((value) => ({ key: 'k', value })) });
    const doomed = await client.consume({ group: 'g', topics: ['jobs'] });
    for await (const event of doomed.events()) if (event.type === 'records') break;
    const survivor = await client.consume({ group: 'g', topics: ['jobs'] });
    doomed.abandon();
    const seen: DeliveredRecord[] = [];
    const worker = work(survivor, () => true, seen);
    await waitUntil(() => seen.length === 3, 10_000);
    expect(seen.map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
    await survivor.leave();
    await worker;
  });

  it('fences a stale ack in-band and keeps the session', async () => {
    env = await startTestBroker();
    const client = await env.client();
    await client.createTopic({ name: 't', partitionCount: 1 });
    const session = await client.consume({ group: 'g', topics: ['t'] });
    session.ack({ topic: 't', partition: 0, generation: session.generation + 5 }, [0]);
    for await (const event of session.events()) {
      if (event.type === 'error') {
        expect(event.error.code).toBe('MEMBER_FENCED');
        break;
      }
    }
    expect(session.isOpen).toBe(true);
    await session.leave();
  });

  it('resets a group to replay: dry run first, refused with live members unless forced', async () => {
    env = await startTestBroker();
    const client = await env.client();
    await client.createTopic({ name: 'log', partitionCount: 2 });
    await produceKeyed(client, 'log', 40, 4);
    const session = await client.consume({ group: 'audit', topics: ['log'] });
    const seen: DeliveredRecord[] = [];
    const worker = work(session, () => true, seen);
    await waitUntil(async () => (await client.describeGroup('audit')).partitions.every((p) => p.lagRecords === 0 && p.committedOffset > 0), 10_000);
    const plan = await client.resetGroup({ group: 'audit', topic: 'log', to: 'earliest', dryRun: true });
    expect(plan.executed).toBe(false);
    expect(plan.plan.reduce((sum, p) => sum + p.lagRecords, 0)).toBe(40);
    await expect(client.resetGroup({ group: 'audit', topic: 'log', to: 'earliest' })).rejects.toMatchObject({ code: 'GROUP_NOT_EMPTY' });
    await client.resetGroup({ group: 'audit', topic: 'log', to: 'earliest', force: true });
    await waitUntil(() => seen.length === 80, 10_000);
    await session.leave();
    await worker;
  });
});
