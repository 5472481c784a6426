/**
 * The record browser route: pages of one partition's records from an offset or a time, with keys,
 * values and header values as text and base64, bounded by `limit` and `maxBytes`.
 */
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/broker.js';
import type { RecordsReply } from '../../../src/server/http/index.js';
import { openHttpApp } from '../../helpers/http-app.js';

const context = { connectionId: 't', clientId: 't' };

async function produce(broker: Broker, partition: number, records: { key?: string; value: string | Uint8Array; timestampMs?: number; headers?: { key: string; value: Uint8Array | null }[] }[]): Promise<void> {
  await broker.produce(
    {
      topic: 'events',
      partition,
      records: records.map((r) => ({
        key: r.key === undefined ? null : Buffer.from(r.key),
        value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value,
        headers: r.headers ?? [],
        ...(r.timestampMs === undefined ? {} : { timestampMs: r.timestampMs }),
      })),
    },
    context,
  );
}

async function setup(): Promise<Awaited<ReturnType<typeof openHttpApp>>> {
  const fixture = await openHttpApp({ settings: { fetchBytesMax: 64 * 1024 } });
  await fixture.broker.createTopic({ name: 'events', partitionCount: 2 });
  return fixture;
}

const url = (query = '', partition = 0): string => `/v1/topics/events/partitions/${partition}/records${query}`;

describe('HTTP admin: record browser', () => {
  it('pages a partition from an offset: keys, values and headers as text and base64', async () => {
    const { app, broker } = await setup();
    await produce(
      broker,
      0,
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `{"n":${i}}`, headers: [{ key: 'trace', value: Buffer.from(`t${i}`) }] })),
    );
    const response = await app.inject({ url: url('?offset=2&limit=3') });
    expect(response.statusCode).toBe(200);
    const page = response.json<RecordsReply>();
    expect(page).toMatchObject({ topic: 'events', partition: 0, fromOffset: 2, nextOffset: 5, logStartOffset: 0, highWatermark: 10 });
    expect(page.records.map((r) => r.offset)).toEqual([2, 3, 4]);
    expect(page.records[0]).toEqual({
      offset: 2,
      timestampMs: expect.any(Number),
      key: { text: 'k2', base64: Buffer.from('k2').toString('base64') },
      value: { text: '{"n":2}', base64: Buffer.from('{"n":2}').toString('base64') },
      headers: [{ key: 'trace', value: { text: 't2', base64: Buffer.from('t2').toString('base64') } }],
    });
    const last = (await app.inject({ url: url(`?offset=${page.nextOffset}&limit=50`) })).json<RecordsReply>();
    expect(last.records.map((r) => r.offset)).toEqual([5, 6, 7, 8, 9]);
    expect(last.nextOffset).toBe(10);
  });

  it('starts at the log start by default and answers an empty partition with no records', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, [{ value: 'a' }, { value: 'b' }]);
    const page = (await app.inject({ url: url() })).json<RecordsReply>();
    expect(page.fromOffset).toBe(0);
    expect(page.records.map((r) => r.value?.text)).toEqual(['a', 'b']);
    expect(page.records[0]!.key).toBeNull();
    const empty = await app.inject({ url: url('', 1) });
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({ topic: 'events', partition: 1, fromOffset: 0, nextOffset: 0, logStartOffset: 0, highWatermark: 0, records: [] });
    const atEnd = (await app.inject({ url: url('?offset=2') })).json<RecordsReply>();
    expect(atEnd).toMatchObject({ fromOffset: 2, nextOffset: 2, records: [] });
  });

  it('shows bytes that are not UTF-8 as base64 only, and null header values as null', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, [{ value: new Uint8Array([0xff, 0x00, 0x41]), headers: [{ key: 'empty', value: null }] }]);
    const [record] = (await app.inject({ url: url() })).json<RecordsReply>().records;
    expect(record!.value).toEqual({ text: null, base64: Buffer.from([0xff, 0x00, 0x41]).toString('base64') });
    expect(record!.headers).toEqual([{ key: 'empty', value: null }]);
  });

  it('starts at the first record at or after a time, or at the end when none is that new', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, [{ value: 'old', timestampMs: 1_000 }]);
    await produce(broker, 0, [{ value: 'middle', timestampMs: 2_000 }]);
    await produce(broker, 0, [{ value: 'new', timestampMs: 3_000 }]);
    const page = (await app.inject({ url: url('?timestampMs=1500') })).json<RecordsReply>();
    expect(page.fromOffset).toBe(1);
    expect(page.records.map((r) => [r.value?.text, r.timestampMs])).toEqual([
      ['middle', 2_000],
      ['new', 3_000],
    ]);
    const future = (await app.inject({ url: url('?timestampMs=9000') })).json<RecordsReply>();
    expect(future).toMatchObject({ fromOffset: 3, nextOffset: 3, records: [] });
  });

  it('reads at most maxBytes (but always one batch) and at most limit records', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, [{ value: 'x'.repeat(100) }, { value: 'y'.repeat(100) }]);
    await produce(broker, 0, [{ value: 'z'.repeat(100) }]);
    const oneBatch = (await app.inject({ url: url('?maxBytes=1') })).json<RecordsReply>();
    expect(oneBatch.records.map((r) => r.offset)).toEqual([0, 1]);
    expect(oneBatch.nextOffset).toBe(2);
    const limited = (await app.inject({ url: url('?limit=1') })).json<RecordsReply>();
    expect(limited.records.map((r) => r.offset)).toEqual([0]);
    expect(limited.nextOffset).toBe(1);
  });

  it('refuses offsets outside the log (416), both offset and time (400), bad bounds (400), unknown topics and partitions (404)', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, [{ value: 'a' }]);
    const outside = await app.inject({ url: url('?offset=5') });
    expect(outside.statusCode).toBe(416);
    expect(outside.json().error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', details: { offset: 5, logStartOffset: 0, highWatermark: 1 } });
    const both = await app.inject({ url: url('?offset=0&timestampMs=1') });
    expect(both.statusCode).toBe(400);
    expect(both.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'timestampMs' } });
    for (const query of ['?limit=0', '?limit=1001', '?maxBytes=0', `?maxBytes=${64 * 1024 + 1}`, '?offset=-1', '?from=0']) {
      const response = await app.inject({ url: url(query) });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code, query).toBe('INVALID_ARGUMENT');
    }
    const topic = await app.inject({ url: '/v1/topics/missing/partitions/0/records' });
    expect(topic.statusCode).toBe(404);
    expect(topic.json().error).toMatchObject({ code: 'TOPIC_NOT_FOUND', details: { topic: 'missing' } });
    const partition = await app.inject({ url: url('', 7) });
    expect(partition.statusCode).toBe(404);
    expect(partition.json().error).toMatchObject({ code: 'PARTITION_NOT_FOUND', details: { partition: 7 } });
  });
});
