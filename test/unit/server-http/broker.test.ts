/**
 * `GET /v1/broker`: the overview the console polls for uptime, sizes and rates.
 */
import { describe, expect, it } from 'vitest';
import type { BrokerOverviewReply } from '../../../src/server/http/index.js';
import { RecordingMember } from '../../helpers/group-harness.js';
import { openHttpApp } from '../../helpers/http-app.js';

const context = { connectionId: 't', clientId: 't' };

describe('HTTP admin: broker overview', () => {
  it('starts with zero counters and an empty data directory', async () => {
    const { app, dataDir } = await openHttpApp();
    const response = await app.inject({ url: '/v1/broker' });
    expect(response.statusCode).toBe(200);
    const overview = response.json<BrokerOverviewReply>();
    expect(overview).toEqual({
      version: '9.9.9',
      startedAtMs: expect.any(Number),
      nowMs: expect.any(Number),
      uptimeMs: expect.any(Number),
      dataDir,
      topicCount: 0,
      partitionCount: 0,
      offlinePartitionCount: 0,
      logSizeBytes: 0,
      groupCount: 0,
      counters: {
        produceRecords: 0,
        produceBytes: 0,
        fetchRecords: 0,
        fetchBytes: 0,
        deliveredRecords: 0,
        deliveredBytes: 0,
        redeliveredRecords: 0,
        deadLetteredRecords: 0,
        produceRejections: 0,
        errors: 0,
      },
      errors: [],
    });
    expect(overview.uptimeMs).toBe(overview.nowMs - overview.startedAtMs);
  });

  it('counts topics, bytes on disk, produced, fetched and delivered records, groups and errors', async () => {
    const { app, broker } = await openHttpApp();
    await broker.createTopic({ name: 'orders', partitionCount: 3 });
    await broker.produce({ topic: 'orders', partition: 1, records: [{ key: Buffer.from('k'), value: Buffer.from('12345'), headers: [] }, { key: null, value: Buffer.from('678'), headers: [] }] }, context);
    await app.inject({ url: '/v1/topics/orders/partitions/1/records' });
    const member = new RecordingMember();
    member.memberId = broker.groups.join({ group: 'billing', topics: ['orders'], clientId: 'w' }, member).memberId;
    for (let i = 0; i < 200 && member.received.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(member.received).toHaveLength(2);
    await app.inject({ url: '/v1/topics/missing' });
    await app.inject({ url: '/v1/topics/missing' });

    const overview = (await app.inject({ url: '/v1/broker' })).json<BrokerOverviewReply>();
    const sizes = broker.describeTopic('orders').partitions.reduce((total, p) => total + p.sizeBytes, 0);
    expect(overview).toMatchObject({ topicCount: 1, partitionCount: 3, offlinePartitionCount: 0, logSizeBytes: sizes, groupCount: 1 });
    expect(overview.logSizeBytes).toBeGreaterThan(0);
    expect(overview.counters).toMatchObject({ produceRecords: 2, produceBytes: 9, fetchRecords: 2, deliveredRecords: 2, errors: 2 });
    // Fetches and deliveries count the record batches they carry, headers included.
    expect(overview.counters.fetchBytes).toBeGreaterThan(9);
    expect(overview.counters.deliveredBytes).toBeGreaterThan(9);
    expect(overview.errors).toEqual([{ transport: 'http', code: 'TOPIC_NOT_FOUND', count: 2 }]);

    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('sluice_delivered_records_total{topic="orders",group="billing"} 2');
    expect(metrics).toContain(`sluice_delivered_bytes_total{topic="orders",group="billing"} ${overview.counters.deliveredBytes}`);
  });
});
