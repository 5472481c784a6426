/**
 * The library across a broker restart (same data directory, same port): the consumer rejoins with
 * backoff and resumes from the committed offsets; the idempotent producer's sends all complete,
 * each record written once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsumerEvents, type ProducerEvents, SluiceClient } from '../../src/client/index.js';
import { nodeFileIO } from '../../src/storage/index.js';
import { waitUntil } from '../helpers/broker.js';
import { FaultyFileIO } from '../helpers/faulty-file-io.js';
import { RestartableBroker, TrackedSluice, readPartition, sleepMs } from '../helpers/sluice-library.js';

let broker: RestartableBroker | undefined;
let sluice: TrackedSluice | undefined;

afterEach(async () => {
  await sluice?.closeAll();
  await broker?.destroy();
  sluice = undefined;
  broker = undefined;
});

describe('client library across a broker restart', () => {
  it('the consumer reconnects with backoff and resumes from the committed offsets', async () => {
    broker = new RestartableBroker();
    await broker.start();
    sluice = new TrackedSluice(broker.address);
    const admin = sluice.admin();
    await admin.createTopic({ name: 'jobs', partitionCount: 2 });
    const producer = sluice.producer({ lingerMs: 2 });
    await producer.send({ topic: 'jobs', messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 9}`, value: `before-${i}` })) });

    const consumer = sluice.consumer({ groupId: 'restart', topics: ['jobs'], reconnect: { backoffMs: 50, backoffMsMax: 300 } });
    const handled: string[] = [];
    const reconnecting: ConsumerEvents['reconnecting'][] = [];
    const joined: ConsumerEvents['joined'][] = [];
    consumer.on('reconnecting', (e) => reconnecting.push(e));
    consumer.on('joined', (e) => joined.push(e));
    await consumer.run({ eachMessage: ({ message }) => void handled.push(message.value!.toString()) });
    await waitUntil(() => handled.length === 100, 5_000, 'the first 100');
    await waitUntil(async () => (await admin.describeGroup('restart')).partitions.every((p) => p.lagRecords === 0), 5_000, 'acks committed');

    await broker.stop();
    await waitUntil(() => reconnecting.length >= 2, 5_000, 'reconnect attempts while the broker is down');
    expect(['SHUTTING_DOWN', 'BROKER_UNAVAILABLE']).toContain(reconnecting[0]!.error?.code);
    await broker.start();

    await producer.send({ topic: 'jobs', messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 9}`, value: `after-${i}` })) });
    await waitUntil(() => handled.length >= 200, 10_000, 'the next 100');
    expect(joined.length).toBeGreaterThanOrEqual(2);
    // Nothing acknowledged before the restart came again.
    expect(handled.filter((v) => v.startsWith('before-'))).toHaveLength(100);
    expect(new Set(handled).size).toBe(200);
  });

  it('the idempotent producer rides out the restart: every send resolves and each record is written once, in order', async () => {
    const io = new FaultyFileIO(nodeFileIO);
    broker = new RestartableBroker({}, io);
    await broker.start();
    sluice = new TrackedSluice(broker.address);
    await sluice.admin().createTopic({ name: 'ledger', partitionCount: 1 });
    const producer = sluice.producer({ lingerMs: 1, batchRecordsMax: 20, retry: { retriesMax: 40, backoffMs: 20, backoffMsMax: 200 } });
    const retries: ProducerEvents['retry'][] = [];
    producer.on('retry', (e) => retries.push(e));

    const sends: Promise<unknown>[] = [];
    let stopped = false;
    const restart = (async () => {
      await sleepMs(150);
      // A hard stop: appends written but not yet fsynced are cut off from their answers, so the
      // producer cannot know they were written; they complete durably as the broker closes.
      io.holdSyncs();
      await sleepMs(30);
      await broker.stop(0, () => io.stopHoldingSyncs());
      stopped = true;
      await sleepMs(400);
      await broker.start();
    })();
    for (let i = 0; i < 300; i++) {
      sends.push(producer.send({ topic: 'ledger', messages: [{ key: 'one-key', value: `${i}` }] }));
      // Spread over about a second, so sends are made before, during and after the restart.
      if (i % 2 === 0) await sleepMs(5);
    }
    await restart;
    await Promise.all(sends);
    expect(stopped).toBe(true);
    expect(retries.length).toBeGreaterThan(0);

    const client = await SluiceClient.connect({ broker: broker.address });
    try {
      const values = (await readPartition(client, 'ledger', 0)).map((r) => Number(r.value));
      expect(values).toEqual(Array.from({ length: 300 }, (_, i) => i));
    } finally {
      client.close();
    }
  });
});
