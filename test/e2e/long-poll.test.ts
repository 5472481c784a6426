import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FetchResult, SluiceClient } from '../../src/client/index.js';
import { GrpcStatus } from '../../src/errors.js';
import { type TestBroker, rejectionOf, startTestBroker, text, waitUntil } from '../helpers/broker.js';

describe('long-poll fetch and subscribe over gRPC', () => {
  let env: TestBroker;
  let client: SluiceClient;

  beforeAll(async () => {
    env = await startTestBroker();
    client = await env.client();
    await client.createTopic({ name: 'events', partitionCount: 2, config: { durability: 'interval' } });
  });
  afterAll(() => env.stop());

  it('wakes a long-poll fetch when a record arrives', async () => {
    const startedMs = Date.now();
    const polling = client.fetch({ topic: 'events', partition: 0, offset: 0, maxWaitMs: 10_000 });
    await waitUntil(() => env.broker.partition('events', 0).waiterCount === 1, 5_000, 'the fetch to wait');
    await client.produce({ topic: 'events', partition: 0, records: [{ value: 'hello' }] });
    const result = await polling;
    expect(result.records.map((r) => text(r.value))).toEqual(['hello']);
    expect(result.nextOffset).toBe(1);
    expect(Date.now() - startedMs).toBeLessThan(5_000);
  });

  it('answers a long-poll fetch empty after max_wait_ms when nothing arrives', async () => {
    const startedMs = Date.now();
    const result = await client.fetch({ topic: 'events', partition: 1, offset: 0, maxWaitMs: 300 });
    const elapsedMs = Date.now() - startedMs;
    expect(result.records).toEqual([]);
    expect(result.nextOffset).toBe(0);
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(elapsedMs).toBeLessThan(3_000);
  });

  it('releases the waiter of a fetch the client cancels', async () => {
    const abort = new AbortController();
    const polling = client.fetch({ topic: 'events', partition: 1, offset: 0, maxWaitMs: 20_000 }, { signal: abort.signal });
    await waitUntil(() => env.broker.partition('events', 1).waiterCount === 1, 5_000, 'the fetch to wait');
    abort.abort();
    expect((await rejectionOf(polling)).code).toBe('CANCELLED');
    await waitUntil(() => env.broker.partition('events', 1).waiterCount === 0, 5_000, 'the waiter to be released');
  });

  it('streams records to a subscriber as they arrive, and stops waiting when it cancels', async () => {
    await client.createTopic({ name: 'tail', partitionCount: 1, config: { durability: 'interval' } });
    await client.produce({ topic: 'tail', records: [{ value: 'before-0' }, { value: 'before-1' }] });
    const abort = new AbortController();
    const received: string[] = [];
    const batches: FetchResult[] = [];
    const consuming = (async () => {
      for await (const batch of client.subscribe({ topic: 'tail', partition: 0, offset: 1 }, { signal: abort.signal })) {
        batches.push(batch);
        received.push(...batch.records.map((r) => text(r.value)!));
        if (received.length === 4) abort.abort();
      }
    })();
    await waitUntil(() => received.length === 1, 5_000, 'the stored record');
    expect(received).toEqual(['before-1']);
    for (const value of ['live-0', 'live-1', 'live-2']) {
      await client.produce({ topic: 'tail', records: [{ value }] });
      await waitUntil(() => received.includes(value), 5_000, `record ${value}`);
    }
    await consuming;
    expect(received).toEqual(['before-1', 'live-0', 'live-1', 'live-2']);
    expect(batches.at(-1)!.nextOffset).toBe(5);
    await waitUntil(() => env.broker.partition('tail', 0).waiterCount === 0, 5_000, 'the subscription to stop waiting');
  });

  it('lets a consumer leave a subscription by breaking out of the loop', async () => {
    await client.produce({ topic: 'events', partition: 1, records: [{ value: 'one' }, { value: 'two' }] });
    let seen = 0;
    for await (const batch of client.subscribe({ topic: 'events', partition: 1, offset: 0 })) {
      seen += batch.records.length;
      if (seen >= 2) break;
    }
    expect(seen).toBe(2);
    await waitUntil(() => env.broker.partition('events', 1).waiterCount === 0, 5_000, 'the subscription to stop waiting');
  });

  it('fails a subscription from an offset past the end with OUT_OF_RANGE', async () => {
    const subscription = client.subscribe({ topic: 'events', partition: 0, offset: 1000 });
    const error = await rejectionOf(subscription.next());
    expect(error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', grpcCode: GrpcStatus.OUT_OF_RANGE });
    expect(error.details).toMatchObject({ offset: 1000, logStartOffset: 0, highWatermark: 1 });
  });
});

describe('gRPC server shutdown', () => {
  it('ends subscriptions and long polls, then refuses new calls', async () => {
    const env = await startTestBroker();
    try {
      const client = await env.client();
      await client.createTopic({ name: 'closing', partitionCount: 1, config: { durability: 'interval' } });
      const subscription = client.subscribe({ topic: 'closing', partition: 0, offset: 0 });
      const next = subscription.next();
      const polling = client.fetch({ topic: 'closing', partition: 0, offset: 0, maxWaitMs: 20_000 });
      await waitUntil(() => env.broker.partition('closing', 0).waiterCount === 2, 5_000, 'both to wait');

      const closing = env.server.close(5_000);
      const ended = await rejectionOf(next);
      expect(ended).toMatchObject({ code: 'SHUTTING_DOWN', retriable: true, grpcCode: GrpcStatus.UNAVAILABLE });
      // A long poll cut short by shutdown answers with what is there (nothing).
      expect((await polling).records).toEqual([]);
      await closing;
      const refused = await rejectionOf(client.describeTopic('closing', { timeoutMs: 1_000 }));
      expect(refused.retriable).toBe(true);
    } finally {
      await env.stop();
    }
  });
});
