import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProduceResult, SluiceClient } from '../../src/client/index.js';
import { GrpcStatus } from '../../src/errors.js';
import { nodeFileIO } from '../../src/storage/index.js';
import { type TestBroker, rejectionOf, startTestBroker, text, waitUntil } from '../helpers/broker.js';
import { FaultyFileIO } from '../helpers/faulty-file-io.js';

const STREAM_IN_FLIGHT_MAX = 4;

describe('ProduceStream over gRPC', () => {
  const io = new FaultyFileIO(nodeFileIO);
  let env: TestBroker;
  let client: SluiceClient;

  beforeAll(async () => {
    env = await startTestBroker({ io, settings: { produceStreamInFlightMax: STREAM_IN_FLIGHT_MAX } });
    client = await env.client({ clientId: 'streamer' });
    await client.createTopic({ name: 'stream', partitionCount: 3, config: { durability: 'interval' } });
    await client.createTopic({ name: 'synced', partitionCount: 1 });
  });
  afterEach(() => io.stopHoldingSyncs());
  afterAll(() => env.stop());

  it('answers many requests in flight in request order, each with its own result', async () => {
    const stream = client.produceStream({ inFlightMax: 64 });
    const requestCount = 200;
    const sends: Promise<ProduceResult>[] = [];
    for (let i = 0; i < requestCount; i++) {
      const recordCount = (i % 5) + 1;
      sends.push(stream.send({ topic: 'stream', partition: i % 3, records: Array.from({ length: recordCount }, (_, r) => ({ key: `k${r}`, value: `${i}:${r}` })) }));
    }
    const answered: number[] = [];
    sends.forEach((send, i) => void send.then(() => answered.push(i)));
    const results = await Promise.all(sends);
    expect(answered).toEqual(Array.from({ length: requestCount }, (_, i) => i));
    const nextOffset = [0, 0, 0];
    results.forEach((result, i) => {
      const partition = i % 3;
      expect(result.appends).toEqual([{ partition, baseOffset: nextOffset[partition], lastOffset: nextOffset[partition]! + (i % 5), recordCount: (i % 5) + 1, duplicate: false }]);
      nextOffset[partition]! += (i % 5) + 1;
    });
    await stream.close();

    const fetched = await client.fetch({ topic: 'stream', partition: 1, offset: 0 });
    expect(text(fetched.records[0]!.value)).toBe('1:0');
    await expect(stream.send({ topic: 'stream', records: [{ value: 'late' }] })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });

  it('stops reading at produceStreamInFlightMax unanswered requests and resumes as they are answered', async () => {
    const partition = env.broker.partition('synced', 0);
    const startOffset = partition.state().logEndOffset;
    const stream = client.produceStream({ inFlightMax: 40 });
    io.holdSyncs();
    const sends = Array.from({ length: 40 }, (_, i) => stream.send({ topic: 'synced', records: [{ value: `held-${i}` }] }));
    await waitUntil(() => partition.state().logEndOffset - startOffset === STREAM_IN_FLIGHT_MAX, 5_000, 'the first requests to be appended');
    // The rest wait unread: nothing more reaches the log while the first ones are unanswered.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(partition.state().logEndOffset - startOffset).toBe(STREAM_IN_FLIGHT_MAX);
    expect(stream.inFlight).toBe(40);

    io.stopHoldingSyncs();
    const results = await Promise.all(sends);
    expect(results.map((r) => r.appends[0]!.baseOffset)).toEqual(Array.from({ length: 40 }, (_, i) => startOffset + i));
    expect(results.every((r) => r.durability === 'fsynced')).toBe(true);
    await stream.close();
  });

  it('answers a refused request in-band and keeps the stream open', async () => {
    const stream = client.produceStream();
    const before = stream.send({ topic: 'stream', partition: 0, records: [{ value: 'before' }] });
    const refused = stream.send({ topic: 'missing', records: [{ value: 'x' }] });
    const tooBig = stream.send({ topic: 'stream', partition: 7, records: [{ value: 'x' }] });
    const after = stream.send({ topic: 'stream', partition: 0, records: [{ value: 'after' }] });

    const beforeResult = await before;
    const error = await rejectionOf(refused);
    expect(error).toMatchObject({ code: 'TOPIC_NOT_FOUND', grpcCode: GrpcStatus.NOT_FOUND, retriable: false });
    expect(error.details).toMatchObject({ topic: 'missing' });
    expect(await rejectionOf(tooBig)).toMatchObject({ code: 'PARTITION_NOT_FOUND', details: { partition: 7 } });
    expect((await after).appends[0]!.baseOffset).toBe(beforeResult.appends[0]!.baseOffset + 1);
    await stream.close();
  });
});

describe('ProduceStream at shutdown', () => {
  it('answers what it read, then ends the stream with SHUTTING_DOWN', async () => {
    const env = await startTestBroker();
    try {
      const client = await env.client();
      await client.createTopic({ name: 'last', partitionCount: 1, config: { durability: 'interval' } });
      const stream = client.produceStream();
      expect((await stream.send({ topic: 'last', records: [{ value: 'a' }] })).appends[0]!.baseOffset).toBe(0);
      await env.server.close(5_000);
      const error = await rejectionOf(stream.send({ topic: 'last', records: [{ value: 'b' }] }));
      expect(error).toMatchObject({ code: 'SHUTTING_DOWN', retriable: true, grpcCode: GrpcStatus.UNAVAILABLE });
      await stream.close();
    } finally {
      await env.stop();
    }
  });
});
