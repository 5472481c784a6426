import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceClient, type SluiceErrorCode } from '../../src/client/index.js';
import { GrpcStatus } from '../../src/errors.js';
import { brokerService } from '../../src/wire/index.js';
import { type TestBroker, rejectionOf, startTestBroker, text } from '../helpers/broker.js';
import { RawClient } from '../helpers/grpc-raw.js';

const LIMITS = { recordBytesMax: 4096, keyBytesMax: 128, headerCountMax: 4, requestRecordsMax: 100, requestBytesMax: 64 * 1024 };

interface BadInput {
  name: string;
  call: (client: SluiceClient) => Promise<unknown>;
  grpcCode: number;
  code: SluiceErrorCode;
  details?: Record<string, unknown>;
}

const value = (bytes: number): Buffer => Buffer.alloc(bytes, 0x61);

const BAD_INPUTS: BadInput[] = [
  // Unknown things.
  { name: 'produce to an unknown topic', call: (c) => c.produce({ topic: 'nope', records: [{ value: 'x' }] }), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND', details: { topic: 'nope' } },
  { name: 'fetch from an unknown topic', call: (c) => c.fetch({ topic: 'nope', partition: 0, offset: 0 }), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  { name: 'describe an unknown topic', call: (c) => c.describeTopic('nope'), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  { name: 'delete an unknown topic', call: (c) => c.deleteTopic('nope'), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  { name: 'list offsets of an unknown topic', call: (c) => c.listOffsets({ topic: 'nope', spec: 'latest' }), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  { name: 'metadata of an unknown topic', call: (c) => c.metadata(['nope']), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  { name: 'subscribe to an unknown topic', call: (c) => c.subscribe({ topic: 'nope', partition: 0, offset: 0 }).next(), grpcCode: GrpcStatus.NOT_FOUND, code: 'TOPIC_NOT_FOUND' },
  // Bad partitions.
  {
    name: 'produce to a partition the topic lacks',
    call: (c) => c.produce({ topic: 'ok', partition: 9, records: [{ value: 'x' }] }),
    grpcCode: GrpcStatus.NOT_FOUND,
    code: 'PARTITION_NOT_FOUND',
    details: { partition: 9, partitionCount: 2 },
  },
  { name: 'fetch from a partition the topic lacks', call: (c) => c.fetch({ topic: 'ok', partition: 9, offset: 0 }), grpcCode: GrpcStatus.NOT_FOUND, code: 'PARTITION_NOT_FOUND' },
  { name: 'list offsets of a partition the topic lacks', call: (c) => c.listOffsets({ topic: 'ok', partitions: [9], spec: 'earliest' }), grpcCode: GrpcStatus.NOT_FOUND, code: 'PARTITION_NOT_FOUND' },
  { name: 'produce to partition -2', call: (c) => c.produce({ topic: 'ok', partition: -2, records: [{ value: 'x' }] }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', details: { field: 'partition' } },
  { name: 'fetch from partition -1', call: (c) => c.fetch({ topic: 'ok', partition: -1, offset: 0 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', details: { field: 'partition' } },
  // Offsets.
  {
    name: 'fetch past the end of the log',
    call: (c) => c.fetch({ topic: 'ok', partition: 0, offset: 1000 }),
    grpcCode: GrpcStatus.OUT_OF_RANGE,
    code: 'OFFSET_OUT_OF_RANGE',
    details: { offset: 1000, logStartOffset: 0, highWatermark: 1 },
  },
  {
    name: 'long-poll past the end of the log',
    call: (c) => c.fetch({ topic: 'ok', partition: 0, offset: 1000, maxWaitMs: 5_000 }),
    grpcCode: GrpcStatus.OUT_OF_RANGE,
    code: 'OFFSET_OUT_OF_RANGE',
    details: { offset: 1000, logStartOffset: 0, highWatermark: 1 },
  },
  { name: 'fetch from a negative offset', call: (c) => c.fetch({ topic: 'ok', partition: 0, offset: -1 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', details: { field: 'offset' } },
  { name: 'fetch a negative byte budget', call: (c) => c.fetch({ topic: 'ok', partition: 0, offset: 0, maxBytes: -1 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'long-poll a negative time', call: (c) => c.fetch({ topic: 'ok', partition: 0, offset: 0, maxWaitMs: -5 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'list offsets at a negative time', call: (c) => c.listOffsets({ topic: 'ok', spec: { timestampMs: -1 } }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  // Records and requests over their limits.
  { name: 'a record over recordBytesMax', call: (c) => c.produce({ topic: 'ok', records: [{ value: value(5000) }] }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'RECORD_TOO_LARGE', details: { recordBytesMax: 4096 } },
  { name: 'a key over keyBytesMax', call: (c) => c.produce({ topic: 'ok', records: [{ key: value(200), value: 'x' }] }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'RECORD_TOO_LARGE', details: { keyBytesMax: 128 } },
  {
    name: 'more headers than headerCountMax',
    call: (c) => c.produce({ topic: 'ok', records: [{ value: 'x', headers: [1, 2, 3, 4, 5].map((i) => ({ key: `h${i}`, value: 'v' })) }] }),
    grpcCode: GrpcStatus.INVALID_ARGUMENT,
    code: 'RECORD_TOO_LARGE',
  },
  {
    name: 'more records than requestRecordsMax',
    call: (c) => c.produce({ topic: 'ok', records: Array.from({ length: 101 }, () => ({ value: 'x' })) }),
    grpcCode: GrpcStatus.INVALID_ARGUMENT,
    code: 'REQUEST_TOO_LARGE',
    details: { recordCount: 101, requestRecordsMax: 100 },
  },
  { name: 'a produce request without records', call: (c) => c.produce({ topic: 'ok', records: [] }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'a negative record timestamp', call: (c) => c.produce({ topic: 'ok', records: [{ value: 'x', timestampMs: -1 }] }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  {
    name: 'an idempotent batch with a negative sequence',
    call: (c) => c.produce({ topic: 'ok', producer: { producerId: 1, producerEpoch: 0 }, partitions: [{ partition: 0, baseSequence: -1, records: [{ value: 'x' }] }] }),
    grpcCode: GrpcStatus.INVALID_ARGUMENT,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'a message over requestBytesMax (refused by gRPC itself)',
    call: (c) => c.produce({ topic: 'ok', records: Array.from({ length: 20 }, () => ({ value: value(4000) })) }),
    grpcCode: GrpcStatus.RESOURCE_EXHAUSTED,
    code: 'MESSAGE_TOO_LARGE',
  },
  // Topic admin.
  { name: 'create a topic with a bad name', call: (c) => c.createTopic({ name: 'bad/name', partitionCount: 1 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', details: { field: 'name' } },
  { name: 'create a topic named ".."', call: (c) => c.createTopic({ name: '..', partitionCount: 1 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'create a topic without a name', call: (c) => c.createTopic({ name: '', partitionCount: 1 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'create a topic twice', call: (c) => c.createTopic({ name: 'ok', partitionCount: 2 }), grpcCode: GrpcStatus.ALREADY_EXISTS, code: 'TOPIC_EXISTS', details: { topic: 'ok' } },
  { name: 'create a topic with 0 partitions', call: (c) => c.createTopic({ name: 'zero', partitionCount: 0 }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT' },
  { name: 'create a topic with an unknown setting', call: (c) => c.createTopic({ name: 'cfg', partitionCount: 1, config: { colour: 'blue' } }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_CONFIG' },
  { name: 'create a topic with a bad setting value', call: (c) => c.createTopic({ name: 'cfg', partitionCount: 1, config: { durability: 'sometimes' } }), grpcCode: GrpcStatus.INVALID_ARGUMENT, code: 'INVALID_CONFIG' },
];

describe('bad input over gRPC', () => {
  let env: TestBroker;
  let client: SluiceClient;
  let raw: RawClient;

  beforeAll(async () => {
    env = await startTestBroker({ settings: LIMITS });
    client = await env.client();
    raw = new RawClient(env.address);
    await client.createTopic({ name: 'ok', partitionCount: 2, config: { durability: 'interval' } });
    await client.produce({ topic: 'ok', partition: 0, records: [{ value: 'first' }] });
  });
  afterAll(async () => {
    raw.close();
    await env.stop();
  });

  it.each(BAD_INPUTS)('answers $name with its status and code, and keeps serving', async ({ call, grpcCode, code, details }) => {
    const error = await rejectionOf(call(client));
    expect(error.code).toBe(code);
    expect(error.grpcCode).toBe(grpcCode);
    expect(error.retriable).toBe(false);
    if (details) expect(error.details).toMatchObject(details);
    expect((await client.describeTopic('ok')).partitions[0]!.logEndOffset).toBeGreaterThanOrEqual(1);
  });

  it('sends the code and retriable flag as trailers, also for malformed fields the client never sends', async () => {
    const cases: { outcome: Promise<{ errorCode?: string; retriable?: string; error?: { code: number } }>; code: string; field?: string }[] = [
      { outcome: raw.unary(brokerService.ListOffsets, { topic: 'ok', partitions: [] }), code: 'INVALID_ARGUMENT' },
      { outcome: raw.unary(brokerService.Fetch, { topic: '', partition: 0, offset: 0, maxBytes: 0, maxWaitMs: 0 }), code: 'INVALID_ARGUMENT' },
      { outcome: raw.unary(brokerService.DescribeTopic, { name: '' }), code: 'INVALID_ARGUMENT' },
      { outcome: raw.unary(brokerService.DeleteTopic, { name: '' }), code: 'INVALID_ARGUMENT' },
      {
        outcome: raw.unary(brokerService.Produce, { topic: 'ok', records: [{ value: Buffer.from('x'), headers: [] }], partitions: [], producerId: 0, producerEpoch: 3, correlationId: 1, clientId: '' }),
        code: 'INVALID_ARGUMENT',
      },
      {
        outcome: raw.unary(brokerService.Produce, { topic: 'ok', records: [], partitions: [{ partition: 0, baseSequence: 0, records: [{ headers: [] }] }], producerId: -5, producerEpoch: 0, correlationId: 1, clientId: '' }),
        code: 'INVALID_ARGUMENT',
      },
      {
        outcome: raw.unary(brokerService.Produce, { topic: 'ok', records: [], partitions: [{ partition: -1, baseSequence: 0, records: [{ headers: [] }] }], producerId: 0, producerEpoch: 0, correlationId: 1, clientId: '' }),
        code: 'INVALID_ARGUMENT',
      },
      { outcome: raw.unary(brokerService.Produce, { topic: '', records: [{ headers: [] }], partitions: [], producerId: 0, producerEpoch: 0, correlationId: 1, clientId: '' }), code: 'INVALID_ARGUMENT' },
    ];
    for (const { outcome, code } of cases) {
      const result = await outcome;
      expect(result.error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(result.errorCode).toBe(code);
      expect(result.retriable).toBe('false');
    }
  });

  it('still produces and fetches after all of it, and counted each error code', async () => {
    const produced = await client.produce({ topic: 'ok', partition: 1, records: [{ key: 'k', value: 'after' }] });
    const fetched = await client.fetch({ topic: 'ok', partition: 1, offset: produced.appends[0]!.baseOffset });
    expect(fetched.records.map((r) => text(r.value))).toEqual(['after']);

    const errors = await env.broker.metrics.errors.get();
    const counted = new Map(errors.values.map((v) => [`${v.labels.transport}/${v.labels.code}`, v.value]));
    for (const code of ['TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'OFFSET_OUT_OF_RANGE', 'RECORD_TOO_LARGE', 'REQUEST_TOO_LARGE', 'TOPIC_EXISTS', 'INVALID_CONFIG', 'INVALID_ARGUMENT']) {
      expect(counted.get(`grpc/${code}`) ?? 0).toBeGreaterThan(0);
    }
  });
});

describe('connecting', () => {
  it('fails with BROKER_UNAVAILABLE (retriable) when no broker listens', async () => {
    const error = await rejectionOf(SluiceClient.connect({ broker: '127.0.0.1:1', connectTimeoutMs: 300 }));
    expect(error).toMatchObject({ code: 'BROKER_UNAVAILABLE', retriable: true, grpcCode: GrpcStatus.UNAVAILABLE });
  });
});
