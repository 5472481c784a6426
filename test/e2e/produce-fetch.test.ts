import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumedRecord, SluiceClient } from '../../src/client/index.js';
import { partitionForKey } from '../../src/partition/index.js';
import { type TestBroker, startTestBroker, text } from '../helpers/broker.js';

describe('produce and fetch over gRPC', () => {
  let env: TestBroker;
  let client: SluiceClient;

  beforeAll(async () => {
    env = await startTestBroker();
    client = await env.client({ clientId: 'produce-fetch' });
  });
  afterAll(() => env.stop());

  /** Every record of a partition from `offset` to its high watermark. */
  async function readAll(topic: string, partition: number, offset = 0): Promise<ConsumedRecord[]> {
    const records: ConsumedRecord[] = [];
    for (;;) {
      const result = await client.fetch({ topic, partition, offset, maxBytes: 64 * 1024 });
      records.push(...result.records);
      if (result.nextOffset >= result.highWatermark) return records;
      offset = result.nextOffset;
    }
  }

  it('round-trips keys, values, headers, null and empty keys and values, and timestamps', async () => {
    await client.createTopic({ name: 'round-trip', partitionCount: 1 });
    const produced = await client.produce({
      topic: 'round-trip',
      records: [
        { key: 'k1', value: 'v1', headers: [{ key: 'trace', value: 'abc' }, { key: 'empty', value: '' }, { key: 'none' }], timestampMs: 1_700_000_000_123 },
        { key: null, value: Buffer.from([0, 1, 2, 255]) },
        { key: '', value: null },
        {},
      ],
    });
    expect(produced.durability).toBe('fsynced');
    expect(produced.appends).toEqual([{ partition: 0, baseOffset: 0, lastOffset: 3, recordCount: 4, duplicate: false }]);

    const fetched = await client.fetch({ topic: 'round-trip', partition: 0, offset: 0 });
    expect(fetched).toMatchObject({ topic: 'round-trip', partition: 0, nextOffset: 4, logStartOffset: 0, highWatermark: 4 });
    const [first, second, third, fourth] = fetched.records;
    expect(first).toMatchObject({ offset: 0, timestampMs: 1_700_000_000_123 });
    expect(text(first!.key)).toBe('k1');
    expect(text(first!.value)).toBe('v1');
    expect(first!.headers.map((h) => [h.key, text(h.value)])).toEqual([
      ['trace', 'abc'],
      ['empty', ''],
      ['none', null],
    ]);
    expect(second!.key).toBeNull();
    expect([...second!.value!]).toEqual([0, 1, 2, 255]);
    expect(second!.timestampMs).toBeGreaterThan(0);
    expect(third!.key).toEqual(Buffer.alloc(0));
    expect(third!.value).toBeNull();
    expect(fourth).toMatchObject({ offset: 3, key: null, value: null, headers: [] });

    const fromMiddle = await client.fetch({ topic: 'round-trip', partition: 0, offset: 2 });
    expect(fromMiddle.records.map((r) => r.offset)).toEqual([2, 3]);
    const atEnd = await client.fetch({ topic: 'round-trip', partition: 0, offset: 4 });
    expect(atEnd.records).toEqual([]);
    expect(atEnd.nextOffset).toBe(4);
  });

  it('writes to an explicit partition, for unkeyed and keyed records alike', async () => {
    await client.createTopic({ name: 'explicit', partitionCount: 3 });
    const result = await client.produce({ topic: 'explicit', partition: 2, records: [{ value: 'a' }, { key: 'x', value: 'b' }] });
    expect(result.appends).toEqual([{ partition: 2, baseOffset: 0, lastOffset: 1, recordCount: 2, duplicate: false }]);
    expect((await readAll('explicit', 2)).map((r) => text(r.value))).toEqual(['a', 'b']);
    expect(await readAll('explicit', 0)).toEqual([]);

    const routed = await client.produce({ topic: 'explicit', partitions: [{ partition: 0, records: [{ value: 'c' }] }, { partition: 1, records: [{ value: 'd' }] }] });
    expect(routed.appends.map((a) => [a.partition, a.baseOffset])).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it("routes keyed records with Kafka's partitioner (murmur2 of the key)", async () => {
    const partitionCount = 7;
    await client.createTopic({ name: 'routing', partitionCount });
    const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    const result = await client.produce({ topic: 'routing', records: keys.map((key) => ({ key, value: key })) });
    expect(result.appends.reduce((sum, a) => sum + a.recordCount, 0)).toBe(keys.length);
    const seen = new Set<number>();
    for (let partition = 0; partition < partitionCount; partition++) {
      for (const record of await readAll('routing', partition)) {
        expect(partitionForKey(record.key!, partitionCount)).toBe(partition);
        expect(text(record.value)).toBe(text(record.key));
        seen.add(partition);
      }
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('keeps per-key order with many keys and three concurrent producers', async () => {
    const partitionCount = 4;
    const keyCount = 40;
    const requestsPerProducer = 25;
    // Ordering does not depend on fsync; 'interval' keeps this test quick.
    await client.createTopic({ name: 'ordering', partitionCount, config: { durability: 'interval' } });
    const producers = await Promise.all([0, 1, 2].map((i) => env.client({ clientId: `producer-${i}` })));
    await Promise.all(
      producers.map(async (producer, p) => {
        for (let request = 0; request < requestsPerProducer; request++) {
          // Each request carries every key once; values count up per producer.
          const records = Array.from({ length: keyCount }, (_, k) => ({ key: `key-${(k + request) % keyCount}`, value: `${p}:${request}` }));
          await producer.produce({ topic: 'ordering', records });
        }
      }),
    );
    let total = 0;
    for (let partition = 0; partition < partitionCount; partition++) {
      const lastSeen = new Map<string, number>();
      for (const record of await readAll('ordering', partition)) {
        total++;
        const key = text(record.key)!;
        expect(partitionForKey(record.key!, partitionCount)).toBe(partition);
        const [producer, request] = text(record.value)!.split(':').map(Number);
        const slot = `${producer}/${key}`;
        expect(request).toBeGreaterThan(lastSeen.get(slot) ?? -1);
        lastSeen.set(slot, request!);
      }
    }
    expect(total).toBe(3 * requestsPerProducer * keyCount);
  });

  it('lists earliest, latest and by-timestamp offsets', async () => {
    await client.createTopic({ name: 'offsets', partitionCount: 2 });
    const base = 1_800_000_000_000;
    await client.produce({ topic: 'offsets', partition: 0, records: [0, 1, 2, 3, 4].map((i) => ({ value: `v${i}`, timestampMs: base + i * 1000 })) });

    expect(await client.listOffsets({ topic: 'offsets', spec: 'earliest' })).toEqual([
      { partition: 0, offset: 0, logStartOffset: 0, highWatermark: 5 },
      { partition: 1, offset: 0, logStartOffset: 0, highWatermark: 0 },
    ]);
    expect(await client.listOffsets({ topic: 'offsets', partitions: [0], spec: 'latest' })).toEqual([{ partition: 0, offset: 5, logStartOffset: 0, highWatermark: 5 }]);
    const at = async (timestampMs: number): Promise<number> => (await client.listOffsets({ topic: 'offsets', partitions: [0], spec: { timestampMs } }))[0]!.offset;
    expect(await at(base - 1)).toBe(0);
    expect(await at(base + 2000)).toBe(2);
    expect(await at(base + 2500)).toBe(3);
    expect(await at(base + 10_000)).toBe(5);
  });

  it('creates, describes, lists and deletes topics, and reports them in metadata', async () => {
    const created = await client.createTopic({ name: 'admin', partitionCount: 2, config: { segmentBytesMax: 1024 * 1024, durability: 'interval' } });
    expect(created).toMatchObject({ name: 'admin', partitionCount: 2, overrides: { segmentBytesMax: '1048576', durability: 'interval' } });
    expect(created.config).toMatchObject({ durability: 'interval', segmentBytesMax: '1048576', fullPolicy: 'reject' });
    expect(created.partitions).toHaveLength(2);
    expect(created.partitions[0]).toMatchObject({ partition: 0, logStartOffset: 0, logEndOffset: 0, highWatermark: 0 });
    expect(created.partitions[0]!.offline).toBeUndefined();

    const produced = await client.produce({ topic: 'admin', partition: 1, records: [{ value: 'x' }] });
    expect(produced.durability).toBe('written');
    const described = await client.describeTopic('admin');
    expect(described.partitions[1]).toMatchObject({ logEndOffset: 1 });
    expect((await client.listTopics()).map((t) => t.name)).toContain('admin');

    const metadata = await client.metadata(['admin']);
    expect(metadata.brokers).toEqual([{ brokerId: 0, host: '127.0.0.1', port: env.server.port }]);
    expect(metadata.topics).toEqual([
      {
        name: 'admin',
        partitions: [
          { partition: 0, leaderBrokerId: 0 },
          { partition: 1, leaderBrokerId: 0 },
        ],
      },
    ]);
    expect((await client.metadata()).topics.map((t) => t.name)).toContain('admin');

    await client.deleteTopic('admin');
    expect((await client.listTopics()).map((t) => t.name)).not.toContain('admin');
  });

  it('records request latencies by method in the broker metrics', async () => {
    const histogram = await env.broker.metrics.requestSeconds.get();
    const counted = new Set(histogram.values.filter((v) => v.metricName === 'sluice_request_duration_seconds_count' && v.value > 0).map((v) => `${v.labels.transport}/${v.labels.method}`));
    for (const method of ['Produce', 'Fetch', 'ListOffsets', 'CreateTopic', 'Metadata']) expect(counted).toContain(`grpc/${method}`);
  });
});
