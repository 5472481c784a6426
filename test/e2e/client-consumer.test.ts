/**
 * The library's consumer against a real broker: run({ eachMessage }) and run({ eachBatch }),
 * nack with backoff and dead letters, partitions handled concurrently while each stays in order,
 * the `for await` form, pause/resume, seek, manual commits, assignment events and disconnect.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsumerEvents, type ConsumerMessage, type Producer, json } from '../../src/client/index.js';
import { type TestBroker, rejectionOf, startTestBroker, waitUntil } from '../helpers/broker.js';
import { TrackedSluice, sleepMs } from '../helpers/sluice-library.js';

let env: TestBroker | undefined;
let sluice: TrackedSluice | undefined;

afterEach(async () => {
  await sluice?.closeAll();
  await env?.stop();
  sluice = undefined;
  env = undefined;
});

async function setUp(topic: string, partitionCount: number, config: Record<string, number | string> = {}): Promise<{ sluice: TrackedSluice; producer: Producer }> {
  env = await startTestBroker();
  sluice = new TrackedSluice(env.address);
  await sluice.admin().createTopic({ name: topic, partitionCount, config });
  return { sluice, producer: sluice.producer({ lingerMs: 2 }) };
}

async function produceKeyed(producer: Producer, topic: string, count: number, keys: number): Promise<void> {
  await producer.send({ topic, messages: Array.from({ length: count }, (_, n) => ({ key: `k${n % keys}`, value: `${n % keys}:${n}` })) });
}

describe('Consumer', () => {
  it('runs eachMessage: a success acknowledges, and the message carries what the record holds', async () => {
    const { sluice, producer } = await setUp('orders', 2);
    await producer.send({ topic: 'orders', messages: [{ key: 'a', value: 'first', headers: { h: 'v' }, partition: 1, timestamp: 1_767_225_600_000 }] });
    await produceKeyed(producer, 'orders', 99, 7);
    const consumer = sluice.consumer({ groupId: 'billing', topics: ['orders'] });
    const seen: ConsumerMessage[] = [];
    const joined: ConsumerEvents['joined'][] = [];
    const assignments: ConsumerEvents['assignment'][] = [];
    consumer.on('joined', (e) => joined.push(e));
    consumer.on('assignment', (e) => assignments.push(e));
    await consumer.run({ eachMessage: ({ message }) => void seen.push(message) });
    await waitUntil(() => seen.length === 100, 5_000, '100 messages');
    const first = seen.find((m) => m.value?.toString() === 'first')!;
    expect(first).toMatchObject({ topic: 'orders', partition: 1, offset: 0, timestamp: 1_767_225_600_000, deliveryAttempt: 1 });
    expect(first.key?.toString()).toBe('a');
    expect(first.headers.map((h) => [h.key, h.value?.toString()])).toEqual([['h', 'v']]);
    expect(joined).toHaveLength(1);
    expect(assignments[0]!.assigned).toEqual([
      { topic: 'orders', partition: 0 },
      { topic: 'orders', partition: 1 },
    ]);
    const admin = sluice.admin();
    await waitUntil(async () => (await admin.describeGroup('billing')).partitions.every((p) => p.lagRecords === 0), 5_000, 'acks');
    await consumer.disconnect();
    const described = await admin.describeGroup('billing');
    expect(described.state).toBe('empty');
    expect(described.partitions.map((p) => p.committedOffset).reduce((a, b) => a + b)).toBe(100);
  });

  it('nacks a throw with the configured backoff, keeps the partition in order, and dead-letters at maxDeliveryAttempts', async () => {
    const { sluice, producer } = await setUp('jobs', 1, { maxDeliveryAttempts: 3 });
    await producer.send({ topic: 'jobs', messages: ['ok-1', 'flaky', 'ok-2', 'poison', 'ok-3'].map((value) => ({ key: 'same', value })) });
    const consumer = sluice.consumer({ groupId: 'workers', topics: ['jobs'], retryBackoffMs: 150 });
    const attempts: { value: string; attempt: number; atMs: number }[] = [];
    const failures: ConsumerEvents['handlerError'][] = [];
    consumer.on('handlerError', (e) => failures.push(e));
    await consumer.run({
      eachMessage: ({ message }) => {
        const value = message.value!.toString();
        attempts.push({ value, attempt: message.deliveryAttempt, atMs: Date.now() });
        if (value === 'flaky' && message.deliveryAttempt < 3) throw new TypeError(`flaky attempt ${message.deliveryAttempt}`);
        if (value === 'poison') throw new RangeError('cannot parse poison');
      },
    });
    await waitUntil(() => attempts.some((a) => a.value === 'ok-3'), 10_000, 'ok-3');
    // Successes once each; the flaky one three times with doubling delays; nothing after a failing
    // record is handled before it succeeded or was dead-lettered.
    expect(attempts.map((a) => `${a.value}#${a.attempt}`)).toEqual(['ok-1#1', 'flaky#1', 'flaky#2', 'flaky#3', 'ok-2#1', 'poison#1', 'poison#2', 'poison#3', 'ok-3#1']);
    const flaky = attempts.filter((a) => a.value === 'flaky');
    expect(flaky[1]!.atMs - flaky[0]!.atMs).toBeGreaterThanOrEqual(140);
    expect(flaky[2]!.atMs - flaky[1]!.atMs).toBeGreaterThanOrEqual(290);
    expect(failures.filter((f) => f.offset === 1).map((f) => f.deliveryAttempt)).toEqual([1, 2]);

    const admin = sluice.admin();
    const { deadLetters, dlqTopic } = await admin.listDeadLetters({ topic: 'jobs' });
    expect(dlqTopic).toBe('jobs.dlq');
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]!.value?.toString()).toBe('poison');
    expect(deadLetters[0]!.provenance).toMatchObject({ topic: 'jobs', partition: 0, offset: 3, group: 'workers', attempts: 3, cause: 'nack', error: 'cannot parse poison', errorClass: 'RangeError' });

    // Redrive puts it back on the topic, where the consumer (still running) sees it again.
    const redriven = await admin.redrive({ topic: 'jobs' });
    expect(redriven).toMatchObject({ dlqTopic: 'jobs.dlq', movedCount: 1 });
    await waitUntil(() => attempts.filter((a) => a.value === 'poison').length >= 4, 5_000, 'the redriven record');
  });

  it('handles partitions concurrently (partitionsConsumedConcurrently) while each partition stays in order', async () => {
    const { sluice, producer } = await setUp('events', 4);
    await produceKeyed(producer, 'events', 200, 20);
    const consumer = sluice.consumer({ groupId: 'fanout', topics: ['events'] });
    const busy = new Set<number>();
    let active = 0;
    let maxActive = 0;
    const byPartition = new Map<number, number[]>();
    let overlapped = false;
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ partition, message }) => {
        if (busy.has(partition)) overlapped = true;
        busy.add(partition);
        maxActive = Math.max(maxActive, ++active);
        await sleepMs(2);
        byPartition.set(partition, [...(byPartition.get(partition) ?? []), message.offset]);
        active--;
        busy.delete(partition);
      },
    });
    await waitUntil(() => [...byPartition.values()].reduce((n, offsets) => n + offsets.length, 0) === 200, 10_000, '200 messages');
    expect(overlapped).toBe(false);
    expect(maxActive).toBeGreaterThanOrEqual(3);
    expect(maxActive).toBeLessThanOrEqual(4);
    for (const offsets of byPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
  });

  it('keeps each partition in order through failures while acks and deliveries stream (small window)', async () => {
    const { sluice, producer } = await setUp('orderly', 2);
    await produceKeyed(producer, 'orderly', 600, 10);
    const consumer = sluice.consumer({ groupId: 'orderly', topics: ['orderly'], inFlightMax: 6, retryBackoffMs: 1 });
    const succeeded = new Map<number, number[]>();
    let failures = 0;
    await consumer.run({
      partitionsConsumedConcurrently: 2,
      eachMessage: async ({ partition, message }) => {
        // Fail fast (before any await), so the nack races the deliveries the last acks made room for.
        if (message.offset % 7 === 3 && message.deliveryAttempt === 1) {
          failures++;
          throw new Error('transient');
        }
        succeeded.set(partition, [...(succeeded.get(partition) ?? []), message.offset]);
        await Promise.resolve();
      },
    });
    await waitUntil(() => [...succeeded.values()].reduce((n, o) => n + o.length, 0) >= 600, 15_000, 'all records');
    expect(failures).toBeGreaterThan(50);
    for (const offsets of succeeded.values()) expect(offsets).toEqual(offsets.map((_, i) => i));
  });

  it('runs eachBatch: resolved messages are acknowledged and the first unresolved one is nacked when the handler throws', async () => {
    const { sluice, producer } = await setUp('batches', 1);
    await producer.send({ topic: 'batches', messages: Array.from({ length: 10 }, (_, i) => ({ value: `${i}` })) });
    const consumer = sluice.consumer({ groupId: 'batcher', topics: ['batches'], retryBackoffMs: 50, deserializer: { deserialize: (b) => Number(b.toString()) } });
    const handled: number[] = [];
    let failedOnce = false;
    await consumer.run({
      eachBatch: ({ batch, resolveOffset }) => {
        for (const message of batch.messages) {
          if (message.value === 5 && !failedOnce) {
            failedOnce = true;
            throw new Error('five fails once');
          }
          handled.push(message.value!);
          resolveOffset(message.offset);
        }
      },
    });
    await waitUntil(() => handled.includes(9), 5_000, 'all ten');
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is an async iterable: for await hands out messages, break leaves and the rest goes to the next member', async () => {
    const { sluice, producer } = await setUp('stream', 1);
    await producer.send({ topic: 'stream', messages: Array.from({ length: 6 }, (_, i) => ({ value: JSON.stringify({ n: i }) })) });
    const first = sluice.consumer({ groupId: 'loop', topics: ['stream'], deserializer: json<{ n: number }>(), retryBackoffMs: 20 });
    const got: string[] = [];
    for await (const message of first) {
      if (message.value!.n === 1 && message.deliveryAttempt === 1) {
        message.nack({ delayMs: 10, error: 'once more' });
        continue;
      }
      got.push(`${message.value!.n}#${message.deliveryAttempt}`);
      if (message.value!.n === 3) break; // not acknowledged: redelivered to the next member
    }
    expect(got).toEqual(['0#1', '1#2', '2#1', '3#1']);
    const second = sluice.consumer({ groupId: 'loop', topics: ['stream'], deserializer: json<{ n: number }>() });
    const rest: number[] = [];
    for await (const message of second) {
      rest.push(message.value!.n);
      if (rest.length === 3) break;
    }
    expect(rest).toEqual([3, 4, 5]);
  });

  it('disconnects within shutdownTimeoutMs when a handler never finishes, and the record goes to the next member', async () => {
    const { sluice, producer } = await setUp('stuck', 1);
    await producer.send({ topic: 'stuck', messages: [{ value: 'forever' }] });
    const stuck = sluice.consumer({ groupId: 'stuck', topics: ['stuck'], shutdownTimeoutMs: 200 });
    let started = false;
    await stuck.run({
      eachMessage: async () => {
        started = true;
        await new Promise(() => undefined); // a handler that hangs
      },
    });
    await waitUntil(() => started, 5_000, 'the handler to start');
    const startedMs = Date.now();
    await stuck.disconnect();
    expect(Date.now() - startedMs).toBeLessThan(3_000);
    const next = sluice.consumer({ groupId: 'stuck', topics: ['stuck'] });
    const attempts: number[] = [];
    await next.run({ eachMessage: ({ message }) => void attempts.push(message.deliveryAttempt) });
    await waitUntil(() => attempts.length === 1, 5_000, 'the redelivery');
    // A clean leave hands the record on without counting a failed attempt.
    expect(attempts).toEqual([1]);
  });

  it('pauses and resumes a partition, seeks (replay for the group), and commits by hand', async () => {
    const { sluice, producer } = await setUp('ledger', 2);
    await producer.send({ topic: 'ledger', messages: Array.from({ length: 10 }, (_, i) => ({ value: `p0-${i}`, partition: 0 })) });
    await producer.send({ topic: 'ledger', messages: Array.from({ length: 10 }, (_, i) => ({ value: `p1-${i}`, partition: 1 })) });
    const consumer = sluice.consumer({ groupId: 'audit', topics: ['ledger'], ackTimeoutMs: 600 });
    consumer.pause([{ topic: 'ledger', partitions: [1] }]);
    const seen: string[] = [];
    await consumer.run({ eachMessage: ({ message }) => void seen.push(message.value!.toString()) });
    await waitUntil(() => seen.length === 10, 5_000, 'partition 0');
    // Paused longer than the ack timeout: the held records are kept alive (their deadlines extended).
    await sleepMs(900);
    expect(seen.every((v) => v.startsWith('p0-'))).toBe(true);
    expect(consumer.paused()).toEqual([{ topic: 'ledger', partition: 1 }]);
    consumer.resume([{ topic: 'ledger' }]);
    await waitUntil(() => seen.length === 20, 5_000, 'partition 1');
    expect(seen.filter((v) => v.startsWith('p1-'))).toEqual(Array.from({ length: 10 }, (_, i) => `p1-${i}`));
    expect(seen.filter((v) => v.startsWith('p1-'))).toHaveLength(10);

    await consumer.seek({ topic: 'ledger', partition: 0, offset: 7 });
    await waitUntil(() => seen.length === 23, 5_000, 'the replay');
    expect(seen.slice(20)).toEqual(['p0-7', 'p0-8', 'p0-9']);
    await consumer.disconnect();

    // Manual commits: nothing is acknowledged until commitOffsets.
    const manual = sluice.consumer({ groupId: 'manual', topics: ['ledger'], autoCommit: false });
    const handled: ConsumerMessage[] = [];
    await manual.run({ eachMessage: ({ message }) => void handled.push(message) });
    await waitUntil(() => handled.length === 20, 5_000, 'manual');
    const admin = sluice.admin();
    expect((await admin.describeGroup('manual')).partitions.every((p) => p.committedOffset === 0)).toBe(true);
    await manual.commitOffsets([
      { topic: 'ledger', partition: 0, offset: 10 },
      { topic: 'ledger', partition: 1, offset: 4 },
    ]);
    const committed = (await admin.describeGroup('manual')).partitions.map((p) => [p.partition, p.committedOffset]);
    expect(committed).toEqual([
      [0, 10],
      [1, 4],
    ]);
  });

  it('reports assignment changes as members come and go, and a disconnect finishes the running handler first', async () => {
    const { sluice, producer } = await setUp('shared', 4);
    const one = sluice.consumer({ groupId: 'team', topics: ['shared'] });
    const events: ConsumerEvents['assignment'][] = [];
    one.on('assignment', (e) => events.push(e));
    const handled: string[] = [];
    let release: () => void = () => undefined;
    const slowStarted = new Promise<void>((started) => {
      void one.run({
        eachMessage: async ({ message }) => {
          if (message.value!.toString() === 'slow') {
            started();
            await new Promise<void>((resolve) => (release = resolve));
          }
          handled.push(message.value!.toString());
        },
      });
    });
    await waitUntil(() => events.length === 1, 5_000, 'first assignment');
    expect(events[0]!.partitions).toHaveLength(4);
    const two = sluice.consumer({ groupId: 'team', topics: ['shared'] });
    await two.run({ eachMessage: () => undefined });
    await waitUntil(() => events.length === 2, 5_000, 'rebalance');
    expect(events[1]!.revoked).toHaveLength(2);
    expect(events[1]!.partitions).toHaveLength(2);
    await two.disconnect();
    // Partitions come back one by one, as the leaving member's revocations complete.
    await waitUntil(() => events[events.length - 1]!.partitions.length === 4, 5_000, 'partitions back');
    expect(events.slice(2).flatMap((e) => e.assigned)).toHaveLength(2);

    await producer.send({ topic: 'shared', messages: [{ value: 'slow', partition: 0 }] });
    await slowStarted;
    const stopping = one.disconnect();
    await sleepMs(50);
    release();
    await stopping;
    expect(handled).toEqual(['slow']);
    // Its ack went out before the member left: the record is done (the broker stores the offset
    // within milliseconds).
    const admin = sluice.admin();
    await waitUntil(async () => (await admin.describeGroup('team')).partitions.find((p) => p.partition === 0)?.committedOffset === 1, 2_000, 'the ack');
  });

  it('extends the deadline of a long job (no redelivery) and refuses to run for a topic that does not exist', async () => {
    const { sluice, producer } = await setUp('long', 1);
    await producer.send({ topic: 'long', messages: [{ value: 'slow job' }, { value: 'next' }] });
    const consumer = sluice.consumer({ groupId: 'patient', topics: ['long'], ackTimeoutMs: 300, retryBackoffMs: 20 });
    const attempts: string[] = [];
    await consumer.run({
      eachMessage: async ({ message, extendDeadline }) => {
        attempts.push(`${message.value!.toString()}#${message.deliveryAttempt}`);
        if (message.offset !== 0) return;
        for (let i = 0; i < 4; i++) {
          extendDeadline(300);
          await sleepMs(200);
        }
      },
    });
    await waitUntil(() => attempts.length >= 2, 5_000, 'both');
    // A timed-out record would have come back 20 ms after its deadline.
    await sleepMs(500);
    expect(attempts).toEqual(['slow job#1', 'next#1']);

    const lost = sluice.consumer({ groupId: 'lost', topics: ['no-such-topic'] });
    const failure = await rejectionOf(lost.run({ eachMessage: () => undefined }));
    expect(failure).toMatchObject({ code: 'TOPIC_NOT_FOUND', retriable: false });
  });

  it('on SIGTERM (handleSignals) finishes the running handler, acknowledges it, leaves the group and dies of the signal', async () => {
    const { sluice, producer } = await setUp('signals', 1);
    await producer.send({ topic: 'signals', messages: [{ value: 'a' }, { value: 'b' }] });
    const script = fileURLToPath(new URL('../helpers/signal-consumer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, SLUICE_BROKER: env!.address, SLUICE_GROUP: 'graceful', SLUICE_TOPIC: 'signals', HANDLER_MS: '400' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      await waitUntil(() => stdout.includes('handling 0'), 15_000, 'the child to start handling');
      child.kill('SIGTERM');
      const { signal } = await exited;
      expect(signal).toBe('SIGTERM');
      expect(stdout.split('\n').filter(Boolean)).toEqual(['handling 0', 'handled 0', 'stopped']);
    } finally {
      child.kill('SIGKILL');
    }
    const admin = sluice.admin();
    expect((await admin.describeGroup('graceful')).members).toEqual([]);
    await waitUntil(async () => (await admin.describeGroup('graceful')).partitions[0]?.committedOffset === 1, 2_000, 'the ack of the finished record');
  });
});
