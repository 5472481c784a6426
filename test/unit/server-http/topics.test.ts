import { describe, expect, it } from 'vitest';
import { nodeFileIO, type FileIO } from '../../../src/storage/index.js';
import { openHttpApp } from '../../helpers/http-app.js';

const json = { 'content-type': 'application/json' };

describe('HTTP admin: topics', () => {
  it('creates, lists, describes and deletes a topic', async () => {
    const { app } = await openHttpApp();
    const created = await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'orders', partitionCount: 3, config: { retentionMs: 60_000, durability: 'interval' } } });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/v1/topics/orders');
    const description = created.json();
    expect(description).toMatchObject({ name: 'orders', partitionCount: 3, overrides: { retentionMs: 60_000, durability: 'interval' } });
    expect(description.config).toMatchObject({ retentionMs: 60_000, durability: 'interval', fullPolicy: 'reject' });
    expect(description.partitions).toHaveLength(3);

    const list = await app.inject({ url: '/v1/topics' });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({
      topics: [
        {
          name: 'orders',
          partitionCount: 3,
          createdAtMs: description.createdAtMs,
          overrides: { retentionMs: 60_000, durability: 'interval' },
          offlinePartitionCount: 0,
          recordCount: 0,
          sizeBytes: 0,
          retentionMs: 60_000,
          retentionBytes: -1,
          dlqTopic: 'orders.dlq',
        },
      ],
    });

    const described = await app.inject({ url: '/v1/topics/orders' });
    expect(described.statusCode).toBe(200);
    expect(described.json().partitions[2]).toEqual({ partition: 2, logStartOffset: 0, logEndOffset: 0, highWatermark: 0, sizeBytes: 0, segmentCount: 1 });

    const deleted = await app.inject({ method: 'DELETE', url: '/v1/topics/orders' });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect((await app.inject({ url: '/v1/topics' })).json()).toEqual({ topics: [] });
  });

  it('describes partitions after produce: offsets, high watermark, bytes', async () => {
    const { app, broker } = await openHttpApp();
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'events', partitionCount: 1 } });
    const value = new TextEncoder().encode('hello');
    await broker.produce({ topic: 'events', partition: 0, records: [{ key: null, value, headers: [] }, { key: null, value, headers: [] }] }, { connectionId: 't', clientId: 't' });
    const partition = (await app.inject({ url: '/v1/topics/events' })).json().partitions[0];
    expect(partition).toMatchObject({ partition: 0, logStartOffset: 0, logEndOffset: 2, highWatermark: 2, segmentCount: 1 });
    expect(partition.sizeBytes).toBeGreaterThan(0);
  });

  it('answers 409 TOPIC_EXISTS for a name taken', async () => {
    const { app } = await openHttpApp();
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'orders', partitionCount: 1 } });
    const again = await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'orders', partitionCount: 2 } });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ error: { code: 'TOPIC_EXISTS', message: expect.any(String), retriable: false, details: { topic: 'orders' } } });
  });

  it('answers 404 TOPIC_NOT_FOUND on describe, delete and offsets of an unknown topic', async () => {
    const { app } = await openHttpApp();
    for (const request of [
      { method: 'GET' as const, url: '/v1/topics/missing' },
      { method: 'DELETE' as const, url: '/v1/topics/missing' },
      { method: 'GET' as const, url: '/v1/topics/missing/offsets?spec=latest' },
    ]) {
      const response = await app.inject(request);
      expect(response.statusCode, request.method).toBe(404);
      expect(response.json().error).toMatchObject({ code: 'TOPIC_NOT_FOUND', retriable: false, details: { topic: 'missing' } });
    }
  });

  it('refuses unknown and out-of-range settings with 400 INVALID_CONFIG', async () => {
    const { app } = await openHttpApp();
    const unknown = await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'a', partitionCount: 1, config: { retentionHours: 5 } } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({ code: 'INVALID_CONFIG', retriable: false, details: { key: 'retentionHours' } });
    const range = await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'a', partitionCount: 1, config: { segmentBytesMax: 10 } } });
    expect(range.statusCode).toBe(400);
    expect(range.json().error).toMatchObject({ code: 'INVALID_CONFIG', details: { key: 'segmentBytesMax', value: 10 } });
    expect((await app.inject({ url: '/v1/topics' })).json().topics).toEqual([]);
  });

  it('validates bodies and queries against the schemas: 400 INVALID_ARGUMENT naming the field', async () => {
    const { app } = await openHttpApp({ settings: { partitionCountMax: 8 } });
    const cases: { payload: unknown; path: string; keyword: string }[] = [
      { payload: { partitionCount: 1 }, path: '', keyword: 'required' },
      { payload: { name: 'a', partitionCount: 0 }, path: '/partitionCount', keyword: 'minimum' },
      { payload: { name: 'a', partitionCount: 9 }, path: '/partitionCount', keyword: 'maximum' },
      { payload: { name: 'a', partitionCount: 1.5 }, path: '/partitionCount', keyword: 'type' },
      { payload: { name: 'a b', partitionCount: 1 }, path: '/name', keyword: 'pattern' },
      { payload: { name: '..', partitionCount: 1 }, path: '/name', keyword: 'pattern' },
      { payload: { name: 'a', partitionCount: 1, replicas: 3 }, path: '', keyword: 'additionalProperties' },
      { payload: { name: 'a', partitionCount: 1, config: { retentionMs: [1] } }, path: '/config/retentionMs', keyword: 'type' },
      { payload: { name: 'a', partitionCount: 1, config: { retentionMs: { hours: 1 } } }, path: '/config/retentionMs', keyword: 'type' },
    ];
    for (const { payload, path, keyword } of cases) {
      const response = await app.inject({ method: 'POST', url: '/v1/topics', payload: payload as object });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      const { error } = response.json();
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.retriable).toBe(false);
      expect(error.message).toMatch(/^body/);
      expect(error.details.in).toBe('body');
      expect(error.details.validation[0]).toMatchObject({ path, keyword });
    }
    expect((await app.inject({ url: '/v1/topics' })).json().topics).toEqual([]);
  });

  it('answers a malformed JSON body with 400 INVALID_ARGUMENT and an oversized one with 413 REQUEST_TOO_LARGE', async () => {
    const { app } = await openHttpApp();
    const malformed = await app.inject({ method: 'POST', url: '/v1/topics', headers: json, payload: '{"name": ' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { reason: 'FST_ERR_CTP_INVALID_JSON_BODY' } });
    const huge = await app.inject({ method: 'POST', url: '/v1/topics', headers: json, payload: JSON.stringify({ name: 'a'.repeat(100_000), partitionCount: 1 }) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe('REQUEST_TOO_LARGE');
  });

  it('lists offsets: earliest, latest, by timestamp, one partition', async () => {
    const { app, broker } = await openHttpApp();
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'events', partitionCount: 2 } });
    const value = new TextEncoder().encode('v');
    await broker.produce(
      { topic: 'events', partition: 1, records: [1_000, 2_000, 3_000].map((timestampMs) => ({ key: null, value, headers: [], timestampMs })) },
      { connectionId: 't', clientId: 't' },
    );
    const latest = await app.inject({ url: '/v1/topics/events/offsets?spec=latest' });
    expect(latest.json()).toEqual({
      topic: 'events',
      spec: 'latest',
      offsets: [
        { partition: 0, offset: 0, logStartOffset: 0, highWatermark: 0 },
        { partition: 1, offset: 3, logStartOffset: 0, highWatermark: 3 },
      ],
    });
    const earliest = await app.inject({ url: '/v1/topics/events/offsets?spec=earliest&partition=1' });
    expect(earliest.json().offsets).toEqual([{ partition: 1, offset: 0, logStartOffset: 0, highWatermark: 3 }]);
    const byTime = await app.inject({ url: '/v1/topics/events/offsets?spec=timestamp&timestampMs=1500&partition=1' });
    expect(byTime.json().offsets[0].offset).toBe(1);

    const noTimestamp = await app.inject({ url: '/v1/topics/events/offsets?spec=timestamp' });
    expect(noTimestamp.statusCode).toBe(400);
    expect(noTimestamp.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'timestampMs' } });
    const badSpec = await app.inject({ url: '/v1/topics/events/offsets?spec=newest' });
    expect(badSpec.statusCode).toBe(400);
    expect(badSpec.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { in: 'querystring' } });
    const unknownField = await app.inject({ url: '/v1/topics/events/offsets?spec=latest&from=3' });
    expect(unknownField.statusCode).toBe(400);
    const noPartition = await app.inject({ url: '/v1/topics/events/offsets?spec=latest&partition=2' });
    expect(noPartition.statusCode).toBe(404);
    expect(noPartition.json().error).toMatchObject({ code: 'PARTITION_NOT_FOUND', details: { partition: 2, partitionCount: 2 } });
  });

  it('shows an offline partition in the description and answers its offsets with the partition error', async () => {
    let failWrites = false;
    const io: FileIO = {
      ...nodeFileIO,
      writeAll(fd, buffers, position) {
        if (failWrites) throw Object.assign(new Error('EIO: injected i/o error, write'), { code: 'EIO', syscall: 'write' });
        nodeFileIO.writeAll(fd, buffers, position);
      },
    };
    const { app, broker } = await openHttpApp({ io });
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'events', partitionCount: 2 } });
    failWrites = true;
    await expect(
      broker.produce({ topic: 'events', partition: 0, records: [{ key: null, value: new Uint8Array(1), headers: [] }] }, { connectionId: 't', clientId: 't' }),
    ).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    failWrites = false;
    const description = (await app.inject({ url: '/v1/topics/events' })).json();
    expect(description.partitions[0].offline).toMatchObject({ code: 'STORAGE_IO_ERROR' });
    expect(description.partitions[1].offline).toBeUndefined();
    expect((await app.inject({ url: '/v1/topics' })).json().topics[0].offlinePartitionCount).toBe(1);
    const offsets = await app.inject({ url: '/v1/topics/events/offsets?spec=latest&partition=0' });
    expect(offsets.statusCode).toBe(503);
    expect(offsets.json().error.code).toBe('STORAGE_IO_ERROR');
  });
});
