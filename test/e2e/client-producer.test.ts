/**
 * The library's producer against a real broker: batching across concurrent sends, routing (the
 * broker's partitioner for keys, sticky batches without), retries of transient failures without
 * duplicates, and typed errors for the rest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/base/index.js';
import { type ProducerEvents, type SluiceError, isSluiceError, json } from '../../src/client/index.js';
import { nodeFileIO } from '../../src/storage/index.js';
import { type TestBroker, rejectionOf, startTestBroker } from '../helpers/broker.js';
import { FaultyFileIO } from '../helpers/faulty-file-io.js';
import { TrackedSluice, produceRequestCount, readPartition, sleepMs } from '../helpers/sluice-library.js';

let env: TestBroker | undefined;
let sluice: TrackedSluice | undefined;

afterEach(async () => {
  await sluice?.closeAll();
  await env?.stop();
  sluice = undefined;
  env = undefined;
});

async function setUp(options: Parameters<typeof startTestBroker>[0] = {}): Promise<{ env: TestBroker; sluice: TrackedSluice }> {
  env = await startTestBroker(options);
  sluice = new TrackedSluice(env.address);
  return { env, sluice };
}

describe('Producer', () => {
  it('batches concurrent sends by lingerMs into few requests and resolves each with its offsets', async () => {
    const { env, sluice } = await setUp();
    const admin = sluice.admin();
    await admin.createTopic({ name: 'orders', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 30 });
    await producer.connect();
    const before = await produceRequestCount(env.broker);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.send({ topic: 'orders', messages: [{ value: `m${i}` }] })));
    const requests = (await produceRequestCount(env.broker)) - before;
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(5);
    // Each send resolves with its own record's offset; calls made in order are written in order.
    expect(results.map((r) => r[0]!.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(results[7]).toEqual([{ topic: 'orders', partition: 0, offset: 7 }]);
    const client = await env.client();
    expect((await readPartition(client, 'orders', 0)).map((r) => r.value)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it('sends the batches of many partitions that are ready together as one request; a refusal still reaches only its own batch', async () => {
    const { env, sluice } = await setUp({ settings: { recordBytesMax: 10_000 } });
    await sluice.admin().createTopic({ name: 'wide', partitionCount: 8 });
    // inFlightMax counts batches: room for all eight at once.
    const producer = sluice.producer({ lingerMs: 30, inFlightMax: 8 });
    await producer.connect();
    const before = await produceRequestCount(env.broker);
    const written = await producer.send({ topic: 'wide', messages: Array.from({ length: 8 }, (_, p) => ({ value: `p${p}`, partition: p })) });
    // Eight batches, one per partition, left in one request.
    expect((await produceRequestCount(env.broker)) - before).toBe(1);
    expect(written.map((w) => [w.partition, w.offset])).toEqual(Array.from({ length: 8 }, (_, p) => [p, 0]));

    // One partition's batch holds a record the broker refuses: the request is refused whole, and the
    // producer sends its batches again one by one, so only that send fails.
    const outcomes = await Promise.allSettled([
      producer.send({ topic: 'wide', messages: [{ value: 'ok', partition: 0 }] }),
      producer.send({ topic: 'wide', messages: [{ value: 'x'.repeat(20_000), partition: 1 }] }),
      producer.send({ topic: 'wide', messages: [{ value: 'ok', partition: 2 }] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'RECORD_TOO_LARGE' });
    const client = await env.client();
    expect((await readPartition(client, 'wide', 0)).map((r) => r.value)).toEqual(['p0', 'ok']);
    expect((await readPartition(client, 'wide', 1)).map((r) => r.value)).toEqual(['p1']);
    expect((await readPartition(client, 'wide', 2)).map((r) => r.value)).toEqual(['p2', 'ok']);
  });

  it('closes a batch at batchRecordsMax or batchBytesMax, and sends the rest after lingerMs', async () => {
    const { env, sluice } = await setUp();
    await sluice.admin().createTopic({ name: 'big', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 1_000, batchRecordsMax: 10, inFlightMax: 2 });
    await producer.connect();
    const before = await produceRequestCount(env.broker);
    const started = Date.now();
    // 95 records in one call: nine full batches go at once (two at a time), the tail of 5 after lingerMs.
    const result = await producer.send({ topic: 'big', messages: Array.from({ length: 95 }, (_, i) => ({ key: 'k', value: `v${i}` })) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await produceRequestCount(env.broker)) - before).toBe(10);
    expect(result.map((r) => r.offset)).toEqual(Array.from({ length: 95 }, (_, i) => i));

    const bytesProducer = sluice.producer({ lingerMs: 1_000, batchBytesMax: 2_000 });
    const t0 = Date.now();
    const beforeBytes = await produceRequestCount(env.broker);
    await bytesProducer.send({ topic: 'big', messages: Array.from({ length: 4 }, () => ({ value: 'x'.repeat(900) })) });
    // Two records fill a batch (900 bytes each plus overhead); the last batch waits out the linger.
    expect((await produceRequestCount(env.broker)) - beforeBytes).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('with lingerMs 0 sends a batch once the turn that opened it ends: one request per turn, none held for a later turn', async () => {
    const { env, sluice } = await setUp();
    await sluice.admin().createTopic({ name: 'eager', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 0 });
    await producer.connect();
    // Two turns: the send's own continuation (and the pump it schedules) runs a turn after the call.
    const twoTurns = async (): Promise<void> => {
      for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    };

    // Sends made in one turn share a request.
    let before = await produceRequestCount(env.broker);
    await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ topic: 'eager', messages: [{ value: `same-turn-${i}` }] })));
    expect((await produceRequestCount(env.broker)) - before).toBe(1);

    // Sends made a couple of turns apart (well under a millisecond) go in three requests: a batch does
    // not wait for a timer (Node runs a 0 ms timer after 1 ms at the earliest) that later sends would join.
    before = await produceRequestCount(env.broker);
    const sends = [producer.send({ topic: 'eager', messages: [{ value: 'turn-1' }] })];
    await twoTurns();
    sends.push(producer.send({ topic: 'eager', messages: [{ value: 'turn-2' }] }));
    await twoTurns();
    sends.push(producer.send({ topic: 'eager', messages: [{ value: 'turn-3' }] }));
    const offsets = (await Promise.all(sends)).map((written) => written[0]!.offset);
    expect((await produceRequestCount(env.broker)) - before).toBe(3);
    expect(offsets).toEqual([20, 21, 22]);
  });

  it("routes keyed messages with the broker's partitioner and keyless ones in sticky batches", async () => {
    const { env, sluice } = await setUp();
    await sluice.admin().createTopic({ name: 'routed', partitionCount: 4 });
    const producer = sluice.producer({ lingerMs: 10 });
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const keyed = await producer.send({ topic: 'routed', messages: keys.map((key) => ({ key, value: key })) });
    keyed.forEach((metadata, i) => expect(metadata.partition).toBe(partitionForKey(Buffer.from(keys[i]!), 4)));

    // Keyless: one send's messages share a batch, so they land on one partition; later batches move on.
    const partitionsUsed = new Set<number>();
    for (let round = 0; round < 8; round++) {
      const batch = await producer.send({ topic: 'routed', messages: Array.from({ length: 5 }, (_, i) => ({ value: `r${round}-${i}` })) });
      expect(new Set(batch.map((m) => m.partition)).size).toBe(1);
      partitionsUsed.add(batch[0]!.partition);
    }
    expect(partitionsUsed.size).toBe(4);

    // Explicit partitions, headers (object and list form), timestamps and the JSON serializer.
    const jsonProducer = sluice.sluice.producer({ serializer: json<{ total: number }>() });
    sluice.track(jsonProducer);
    const [explicit] = await jsonProducer.send({
      topic: 'routed',
      messages: [{ key: 'k', value: { total: 5 }, partition: 2, timestamp: new Date(1_767_225_600_000), headers: { source: 'web', tag: ['a', 'b'] } }],
    });
    expect(explicit!.partition).toBe(2);
    const client = await env.client();
    const fetched = await client.fetch({ topic: 'routed', partition: 2, offset: explicit!.offset });
    const record = fetched.records[0]!;
    expect(JSON.parse(record.value!.toString())).toEqual({ total: 5 });
    expect(record.timestampMs).toBe(1_767_225_600_000);
    expect(record.headers.map((h) => [h.key, h.value?.toString()])).toEqual([
      ['source', 'web'],
      ['tag', 'a'],
      ['tag', 'b'],
    ]);
    const wrong = await rejectionOf(producer.send({ topic: 'routed', messages: [{ value: 'x', partition: 9 }] }));
    expect(wrong).toMatchObject({ code: 'PARTITION_NOT_FOUND', retriable: false });
  });

  it('retries a batch whose answer never came (held fsync, request timeout) and the broker writes it once', async () => {
    const io = new FaultyFileIO(nodeFileIO);
    const { env, sluice } = await setUp({ io });
    await sluice.admin().createTopic({ name: 'durable', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 0, requestTimeoutMs: 300, retry: { backoffMs: 20, backoffMsMax: 50 } });
    const retries: ProducerEvents['retry'][] = [];
    producer.on('retry', (event) => retries.push(event));
    await producer.send({ topic: 'durable', messages: [{ value: 'before' }] });

    io.holdSyncs();
    const sending = producer.send({ topic: 'durable', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    // The first attempt is written but not fsynced; it times out and is retried (same sequence
    // numbers), and the retries wait for the same fsync as duplicates.
    await sleepMs(900);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]!.error.code).toBe('DEADLINE_EXCEEDED');
    io.stopHoldingSyncs();
    const result = await sending;
    expect(result.map((r) => r.offset)).toEqual([1, 2, 3]);
    const after = await producer.send({ topic: 'durable', messages: [{ value: 'after' }] });
    expect(after[0]!.offset).toBe(4);
    const client = await env.client();
    expect((await readPartition(client, 'durable', 0)).map((r) => r.value)).toEqual(['before', 'a', 'b', 'c', 'after']);
  });

  it('retries refusals the broker marks retriable (THROTTLED) after its retryAfterMs, in order and once', async () => {
    const { env, sluice } = await setUp({ settings: { topicRecordsPerSecondMax: 200 } });
    await sluice.admin().createTopic({ name: 'quota', partitionCount: 2 });
    const producer = sluice.producer({ lingerMs: 2, batchRecordsMax: 50, retry: { retriesMax: 30, backoffMs: 10, backoffMsMax: 100 } });
    const retries: ProducerEvents['retry'][] = [];
    producer.on('retry', (event) => retries.push(event));
    const started = Date.now();
    const sends = Array.from({ length: 12 }, (_, i) =>
      producer.send({ topic: 'quota', messages: Array.from({ length: 50 }, (__, j) => ({ key: `key-${j % 4}`, value: `${i}:${j}` })) }),
    );
    await Promise.all(sends);
    // 600 records at 200/s with a one-second burst: about two seconds, spent waiting out the hints.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(retries.some((r) => r.error.code === 'THROTTLED' && r.delayMs >= (r.error.retryAfterMs ?? 0))).toBe(true);
    const client = await env.client();
    const all = [...(await readPartition(client, 'quota', 0)), ...(await readPartition(client, 'quota', 1))];
    expect(all).toHaveLength(600);
    expect(new Set(all.map((r) => r.value)).size).toBe(600);
    // Per key, the order of the sends is kept.
    for (const key of ['key-0', 'key-1', 'key-2', 'key-3']) {
      const order = all.filter((r) => r.key === key).map((r) => Number(r.value!.split(':')[0]));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it('fails a send for good with a typed error and keeps going: later batches of the partition are renumbered', async () => {
    const { env, sluice } = await setUp({ settings: { recordBytesMax: 10_000 } });
    await sluice.admin().createTopic({ name: 'strict', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 0, batchRecordsMax: 1 });
    const missing = await rejectionOf(producer.send({ topic: 'nope', messages: [{ value: 'x' }] }));
    expect(missing).toMatchObject({ code: 'TOPIC_NOT_FOUND', retriable: false, grpcCode: 5 });

    // A too-large record between good ones, all in flight at once: it fails alone.
    const outcomes = await Promise.allSettled([
      producer.send({ topic: 'strict', messages: [{ value: 'one' }] }),
      producer.send({ topic: 'strict', messages: [{ value: 'x'.repeat(20_000) }] }),
      producer.send({ topic: 'strict', messages: [{ value: 'two' }] }),
      producer.send({ topic: 'strict', messages: [{ value: 'three' }] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const tooLarge = (outcomes[1] as PromiseRejectedResult).reason as SluiceError;
    expect(isSluiceError(tooLarge)).toBe(true);
    expect(tooLarge).toMatchObject({ code: 'RECORD_TOO_LARGE', retriable: false, grpcCode: 3 });
    await producer.send({ topic: 'strict', messages: [{ value: 'four' }] });
    // The later batches were refused once as out of order (their predecessor was never written)
    // and renumbered, not failed.
    const errors = await env.broker.metrics.errors.get();
    expect(errors.values.find((v) => v.labels.code === 'OUT_OF_ORDER_SEQUENCE')?.value ?? 0).toBeGreaterThan(0);
    const client = await env.client();
    expect((await readPartition(client, 'strict', 0)).map((r) => r.value)).toEqual(['one', 'two', 'three', 'four']);
  });

  it('takes a new producer id when the broker forgot the old one (UNKNOWN_PRODUCER) and sends on', async () => {
    const { env, sluice } = await setUp({ settings: { producerIdExpirationMs: 1_000, producerStateSnapshotIntervalMs: 100 } });
    await sluice.admin().createTopic({ name: 'idle', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 0 });
    await producer.send({ topic: 'idle', messages: [{ value: 'a' }, { value: 'b' }] });
    // Idle past producerIdExpirationMs: the broker forgets the producer id at its next snapshot.
    await sleepMs(1_400);
    const [after] = await producer.send({ topic: 'idle', messages: [{ value: 'c' }] });
    expect(after!.offset).toBe(2);
    const errors = await env.broker.metrics.errors.get();
    expect(errors.values.find((v) => v.labels.code === 'UNKNOWN_PRODUCER')?.value ?? 0).toBe(1);
    await producer.send({ topic: 'idle', messages: [{ value: 'd' }] });
    const client = await env.client();
    expect((await readPartition(client, 'idle', 0)).map((r) => r.value)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('bounds buffered bytes (send waits for room) and refuses sends after disconnect', async () => {
    const { sluice } = await setUp();
    await sluice.admin().createTopic({ name: 'buffered', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 0, bufferedBytesMax: 5_000 });
    const sends = Array.from({ length: 20 }, (_, i) => producer.send({ topic: 'buffered', messages: [{ value: `${i}`.padEnd(1_000, '.') }] }));
    const offsets = (await Promise.all(sends)).map((r) => r[0]!.offset);
    expect(offsets).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await producer.disconnect();
    const closed = await rejectionOf(producer.send({ topic: 'buffered', messages: [{ value: 'late' }] }));
    expect(closed.code).toBe('CLIENT_CLOSED');
  });
});
