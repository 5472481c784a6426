import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceClient } from '../../src/client/index.js';
import { GrpcStatus } from '../../src/errors.js';
import { nodeFileIO } from '../../src/storage/index.js';
import { type TestBroker, rejectionOf, startTestBroker, waitUntil } from '../helpers/broker.js';
import { FaultyFileIO } from '../helpers/faulty-file-io.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('produce backpressure over gRPC', () => {
  // Produces stay in flight while their fsync is held, so the budgets fill deterministically.
  const io = new FaultyFileIO(nodeFileIO);
  let env: TestBroker;

  beforeAll(async () => {
    env = await startTestBroker({ io, settings: { inFlightProduceBytesMax: 1 * MiB, connectionInFlightProduceBytesMax: 512 * KiB } });
    const admin = await env.client();
    await admin.createTopic({ name: 'busy', partitionCount: 1 });
  });
  afterEach(() => io.stopHoldingSyncs());
  afterAll(() => env.stop());

  const inFlightBytes = async (): Promise<number> => (await env.broker.metrics.inFlightProduceBytes.get()).values[0]?.value ?? 0;
  const big = (client: SluiceClient, bytes: number) => client.produce({ topic: 'busy', records: [{ value: Buffer.alloc(bytes, 0x62) }] });

  it('refuses produce bytes beyond the connection budget with RESOURCE_EXHAUSTED / BROKER_BUSY and a retry hint', async () => {
    const client = await env.client();
    io.holdSyncs();
    const first = big(client, 300 * KiB);
    await waitUntil(() => io.heldSyncCount >= 1, 5_000, 'the first produce to reach fsync');

    const refused = await rejectionOf(big(client, 300 * KiB));
    expect(refused).toMatchObject({ code: 'BROKER_BUSY', grpcCode: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.details).toMatchObject({ reason: 'in_flight_connection' });

    io.stopHoldingSyncs();
    expect((await first).appends[0]!.recordCount).toBe(1);
    // Once the first is written the budget is free again: the retry goes through.
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs));
    expect((await big(client, 300 * KiB)).appends[0]!.recordCount).toBe(1);
  });

  it('refuses produce bytes beyond the broker-wide budget, whichever connection sends them', async () => {
    const [a, b, c] = await Promise.all([env.client(), env.client(), env.client()]);
    io.holdSyncs();
    const first = big(a, 400 * KiB);
    await waitUntil(() => io.heldSyncCount >= 1, 5_000, 'the first produce to reach fsync');
    const second = big(b, 400 * KiB);
    await waitUntil(async () => (await inFlightBytes()) >= 800 * KiB, 5_000, 'the second produce to be in flight');

    const refused = await rejectionOf(big(c, 400 * KiB));
    expect(refused).toMatchObject({ code: 'BROKER_BUSY', grpcCode: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.details).toMatchObject({ reason: 'in_flight_broker' });

    io.stopHoldingSyncs();
    await Promise.all([first, second]);
  });
});

describe('produce quotas over gRPC', () => {
  let env: TestBroker;

  beforeAll(async () => {
    env = await startTestBroker({ settings: { producerRecordsPerSecondMax: 20 } });
    const admin = await env.client();
    await admin.createTopic({ name: 'metered', partitionCount: 1, config: { durability: 'interval' } });
  });
  afterAll(() => env.stop());

  const records = (count: number) => Array.from({ length: count }, (_, i) => ({ value: `r${i}` }));

  it('throttles a client id past its records per second with RESOURCE_EXHAUSTED / THROTTLED and a retry hint', async () => {
    const client = await env.client({ clientId: 'greedy' });
    await client.produce({ topic: 'metered', records: records(20) });
    const throttled = await rejectionOf(client.produce({ topic: 'metered', records: records(10) }));
    expect(throttled).toMatchObject({ code: 'THROTTLED', grpcCode: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true });
    expect(throttled.details).toMatchObject({ reason: 'client_records' });
    // 10 records at 20/s: up to half a second, less the refill since the first request.
    expect(throttled.retryAfterMs).toBeGreaterThan(0);
    expect(throttled.retryAfterMs).toBeLessThanOrEqual(500);

    // Another client id has its own quota.
    const other = await env.client({ clientId: 'modest' });
    expect((await other.produce({ topic: 'metered', records: records(5) })).appends[0]!.recordCount).toBe(5);

    // After the hinted wait the same request goes through.
    await new Promise((resolve) => setTimeout(resolve, throttled.retryAfterMs));
    expect((await client.produce({ topic: 'metered', records: records(10) })).appends[0]!.recordCount).toBe(10);
  });
});
