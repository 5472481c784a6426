import { describe, expect, it } from 'vitest';
import { nodeFileIO, type FileIO } from '../../../src/storage/index.js';
import { openHttpApp } from '../../helpers/http-app.js';

describe('HTTP admin: health', () => {
  it('is ok with no offline partitions', async () => {
    const { app } = await openHttpApp();
    const response = await app.inject({ url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', offlinePartitions: [] });
  });

  it('stays 200 but degraded, listing the partitions that are offline', async () => {
    let failSyncs = false;
    const io: FileIO = {
      ...nodeFileIO,
      fdatasync(fd) {
        if (failSyncs) return Promise.reject(Object.assign(new Error('EIO: injected i/o error, fdatasync'), { code: 'EIO', syscall: 'fdatasync' }));
        return nodeFileIO.fdatasync(fd);
      },
    };
    const { app, broker } = await openHttpApp({ io });
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'orders', partitionCount: 2 } });
    failSyncs = true;
    await expect(
      broker.produce({ topic: 'orders', partition: 1, records: [{ key: null, value: new Uint8Array(4), headers: [] }] }, { connectionId: 't', clientId: 't' }),
    ).rejects.toMatchObject({ code: 'STORAGE_IO_ERROR' });
    const response = await app.inject({ url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'degraded',
      offlinePartitions: [{ topic: 'orders', partition: 1, code: 'STORAGE_IO_ERROR', message: expect.any(String) }],
    });
  });

  it('answers 503 SHUTTING_DOWN on every route once the broker is closing', async () => {
    const { app, broker } = await openHttpApp();
    await broker.close();
    for (const url of ['/healthz', '/v1/topics', '/metrics']) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(503);
      expect(response.json().error, url).toMatchObject({ code: 'SHUTTING_DOWN', retriable: true });
    }
  });
});

describe('HTTP admin: metrics', () => {
  it('serves Prometheus text with per-partition gauges and HTTP request metrics', async () => {
    const { app, broker } = await openHttpApp();
    await app.inject({ method: 'POST', url: '/v1/topics', payload: { name: 'orders', partitionCount: 2 } });
    await broker.produce({ topic: 'orders', partition: 1, records: [{ key: null, value: new Uint8Array(3), headers: [] }] }, { connectionId: 't', clientId: 't' });
    await app.inject({ url: '/v1/topics/missing' });
    await app.inject({ url: '/nowhere' });

    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(broker.metrics.registry.contentType);
    const text = response.body;
    expect(text).toContain('sluice_log_end_offset{topic="orders",partition="0"} 0');
    expect(text).toContain('sluice_log_end_offset{topic="orders",partition="1"} 1');
    expect(text).toMatch(/sluice_request_duration_seconds_count\{transport="http",method="POST \/v1\/topics"\} 1\b/);
    expect(text).toMatch(/sluice_request_duration_seconds_count\{transport="http",method="GET \/v1\/topics\/:topic"\} 1\b/);
    // Unmatched paths share one label, so scanners cannot grow the label set.
    expect(text).toMatch(/sluice_request_duration_seconds_count\{transport="http",method="GET unmatched"\} 1\b/);
    expect(text).toContain('sluice_errors_total{transport="http",code="TOPIC_NOT_FOUND"} 1');
    expect(text).toContain('sluice_errors_total{transport="http",code="ROUTE_NOT_FOUND"} 1');
  });
});
