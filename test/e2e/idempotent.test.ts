import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcStatus } from '../../src/errors.js';
import type { ProduceRequest, SluiceClient } from '../../src/client/index.js';
import { type TestBroker, rejectionOf, startTestBroker, text } from '../helpers/broker.js';

describe('idempotent producer over gRPC', () => {
  let env: TestBroker;
  let client: SluiceClient;

  beforeAll(async () => {
    env = await startTestBroker();
    client = await env.client({ clientId: 'idempotent' });
    await client.createTopic({ name: 'orders', partitionCount: 2 });
  });
  afterAll(() => env.stop());

  it('answers a retried batch with its original offsets, marked duplicate, and writes it once', async () => {
    const producer = await client.initProducer();
    expect(producer.producerId).toBeGreaterThan(0);
    expect(producer.producerEpoch).toBe(0);
    const other = await client.initProducer();
    expect(other.producerId).not.toBe(producer.producerId);

    const batch = (baseSequence: number, values: string[]): ProduceRequest => ({
      topic: 'orders',
      producer,
      partitions: [{ partition: 1, baseSequence, records: values.map((value) => ({ key: 'order', value })) }],
    });
    const first = await client.produce(batch(0, ['a', 'b', 'c']));
    expect(first.appends).toEqual([{ partition: 1, baseOffset: 0, lastOffset: 2, recordCount: 3, duplicate: false }]);
    const second = await client.produce(batch(3, ['d', 'e']));
    expect(second.appends).toEqual([{ partition: 1, baseOffset: 3, lastOffset: 4, recordCount: 2, duplicate: false }]);

    // The client lost the answer to the first batch and retries it (and the second).
    const retryFirst = await client.produce(batch(0, ['a', 'b', 'c']));
    expect(retryFirst.appends).toEqual([{ partition: 1, baseOffset: 0, lastOffset: 2, recordCount: 3, duplicate: true }]);
    const retrySecond = await client.produce(batch(3, ['d', 'e']));
    expect(retrySecond.appends).toEqual([{ partition: 1, baseOffset: 3, lastOffset: 4, recordCount: 2, duplicate: true }]);

    const fetched = await client.fetch({ topic: 'orders', partition: 1, offset: 0 });
    expect(fetched.records.map((r) => text(r.value))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(fetched.highWatermark).toBe(5);

    // Batches for several partitions in one request, each numbered on its own.
    const multi = await client.produce({
      topic: 'orders',
      producer,
      partitions: [
        { partition: 0, baseSequence: 0, records: [{ value: 'p0' }] },
        { partition: 1, baseSequence: 5, records: [{ value: 'f' }] },
      ],
    });
    expect(multi.appends.map((a) => [a.partition, a.baseOffset, a.duplicate])).toEqual([
      [0, 0, false],
      [1, 5, false],
    ]);
  });

  it('refuses a batch that skips a sequence with FAILED_PRECONDITION / OUT_OF_ORDER_SEQUENCE', async () => {
    const producer = await client.initProducer();
    await client.produce({ topic: 'orders', producer, partitions: [{ partition: 0, baseSequence: 0, records: [{ value: 'x' }, { value: 'y' }] }] });
    const error = await rejectionOf(client.produce({ topic: 'orders', producer, partitions: [{ partition: 0, baseSequence: 5, records: [{ value: 'z' }] }] }));
    expect(error.grpcCode).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(error.code).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(error.retriable).toBe(true);
    expect(error.details).toMatchObject({ baseSequence: 5, expectedSequence: 2 });

    // The gap is filled in order, and then the refused batch goes through.
    await client.produce({ topic: 'orders', producer, partitions: [{ partition: 0, baseSequence: 2, records: [{ value: 'z' }] }] });
    const before = (await client.listOffsets({ topic: 'orders', partitions: [0], spec: 'latest' }))[0]!.offset;
    await client.produce({ topic: 'orders', producer, partitions: [{ partition: 0, baseSequence: 3, records: [{ value: 'w' }] }] });
    expect((await client.listOffsets({ topic: 'orders', partitions: [0], spec: 'latest' }))[0]!.offset).toBe(before + 1);
  });

  it('refuses a new producer that does not start at sequence 0 (UNKNOWN_PRODUCER) and unrouted records', async () => {
    const producer = await client.initProducer();
    const unknown = await rejectionOf(client.produce({ topic: 'orders', producer, partitions: [{ partition: 0, baseSequence: 7, records: [{ value: 'x' }] }] }));
    expect(unknown).toMatchObject({ code: 'UNKNOWN_PRODUCER', grpcCode: GrpcStatus.FAILED_PRECONDITION, retriable: false });
    const unrouted = await rejectionOf(client.produce({ topic: 'orders', producer, records: [{ value: 'x' }] }));
    expect(unrouted).toMatchObject({ code: 'INVALID_ARGUMENT', grpcCode: GrpcStatus.INVALID_ARGUMENT });
  });
});
