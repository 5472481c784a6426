/**
 * The consumer-group routes against a real broker, with members joined in-process (the way a gRPC
 * Consume stream joins them): describe with lag, reset (dry run, refusal with live members, force),
 * pause and resume, delete, and the lag gauges in /metrics.
 */
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/broker.js';
import { BrokerMetrics } from '../../../src/metrics.js';
import { RecordingMember } from '../../helpers/group-harness.js';
import { openHttpApp } from '../../helpers/http-app.js';

const context = { connectionId: 't', clientId: 't' };

async function settle(ms = 40): Promise<void> {
  for (let i = 0; i < ms / 10; i++) {
    for (let j = 0; j < 10; j++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await settle(10);
  }
}

async function setup(): Promise<Awaited<ReturnType<typeof openHttpApp>>> {
  const fixture = await openHttpApp({ settings: { retryBackoffMs: 0, groupTickIntervalMs: 10 } });
  await fixture.broker.createTopic({ name: 'jobs', partitionCount: 2 });
  return fixture;
}

async function produce(broker: Broker, partition: number, values: string[], timestampMs?: number): Promise<void> {
  const records = values.map((value) => ({ key: null, value: Buffer.from(value), headers: [], ...(timestampMs === undefined ? {} : { timestampMs }) }));
  await broker.produce({ topic: 'jobs', partition, records }, context);
}

function join(broker: Broker, group = 'workers'): RecordingMember {
  const member = new RecordingMember();
  member.memberId = broker.groups.join({ group, topics: ['jobs'], clientId: 'w' }, member).memberId;
  return member;
}

function ackAll(broker: Broker, member: RecordingMember, group = 'workers'): void {
  for (const record of member.take()) {
    broker.groups.ack({ group, memberId: member.memberId, generation: member.generation, topic: record.topic, partition: record.partition, ranges: [{ first: record.offset, last: record.offset }] });
  }
}

const committed = (broker: Broker, partition: number, group = 'workers'): number | undefined =>
  broker.describeGroup(group).partitions.find((p) => p.partition === partition)?.committedOffset;

describe('HTTP admin: consumer groups', () => {
  it('lists and describes a group: members, owners, in-flight records, lag in records and seconds', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, ['a', 'b', 'c'], Date.now() - 60_000);
    const member = join(broker);
    await until(() => member.received.length === 3);

    const list = await app.inject({ url: '/v1/groups' });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ groups: [{ group: 'workers', state: 'active', paused: false, memberCount: 1, lagRecords: 3 }] });

    const response = await app.inject({ url: '/v1/groups/workers' });
    expect(response.statusCode).toBe(200);
    const description = response.json();
    expect(description).toMatchObject({ group: 'workers', state: 'active', paused: false, strategy: 'sticky' });
    expect(description.generation).toBeGreaterThan(0);
    expect(description.members).toEqual([
      {
        memberId: member.memberId,
        clientId: 'w',
        topics: ['jobs'],
        partitions: [
          { topic: 'jobs', partition: 0 },
          { topic: 'jobs', partition: 1 },
        ],
        inFlight: 3,
        disconnected: false,
        sessionExpiresInMs: expect.any(Number),
      },
    ]);
    const [p0, p1] = description.partitions;
    expect(p0).toMatchObject({ topic: 'jobs', partition: 0, committedOffset: 0, logStartOffset: 0, highWatermark: 3, lagRecords: 3, ownerMemberId: member.memberId, inFlight: 3 });
    expect(p0.lagSeconds).toBeGreaterThanOrEqual(60);
    expect(p0.lagSeconds).toBeLessThan(120);
    expect(p0).not.toHaveProperty('retrying');
    expect(p1).toMatchObject({ partition: 1, committedOffset: 0, highWatermark: 0, lagRecords: 0, lagSeconds: 0, inFlight: 0 });

    ackAll(broker, member);
    await until(() => committed(broker, 0) === 3);
    expect((await app.inject({ url: '/v1/groups/workers' })).json().partitions[0]).toMatchObject({ committedOffset: 3, lagRecords: 0, lagSeconds: 0, inFlight: 0 });
  });

  it('answers 404 GROUP_NOT_FOUND for an unknown group and 400 for an invalid name', async () => {
    const { app } = await setup();
    const missing = await app.inject({ url: '/v1/groups/nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'GROUP_NOT_FOUND', details: { group: 'nobody' } });
    const invalid = await app.inject({ url: '/v1/groups/has%20space' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { in: 'params' } });
    expect((await app.inject({ url: '/v1/groups' })).json()).toEqual({ groups: [] });
  });

  it('resets offsets: a dry run changes nothing; live members need force; force moves them back', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, ['a', 'b', 'c', 'd', 'e']);
    const member = join(broker);
    await until(() => member.received.length === 5);
    ackAll(broker, member);
    await until(() => committed(broker, 0) === 5);

    const reset = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/groups/workers/reset', payload });
    const dry = await reset({ topic: 'jobs', to: 'earliest', dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toEqual({
      group: 'workers',
      topic: 'jobs',
      dryRun: true,
      executed: false,
      plan: [
        { partition: 0, currentOffset: 5, newOffset: 0, lagRecords: 5 },
        { partition: 1, currentOffset: 0, newOffset: 0, lagRecords: 0 },
      ],
    });
    await settle();
    expect(committed(broker, 0)).toBe(5);
    expect(member.received).toHaveLength(0);

    const refused = await reset({ topic: 'jobs', to: 'earliest' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'GROUP_NOT_EMPTY', retriable: false, details: { group: 'workers', memberCount: 1 } });
    expect(committed(broker, 0)).toBe(5);

    const forced = await reset({ topic: 'jobs', to: 'earliest', force: true });
    expect(forced.statusCode).toBe(200);
    expect(forced.json()).toMatchObject({ dryRun: false, executed: true, plan: [{ partition: 0, currentOffset: 5, newOffset: 0 }, { partition: 1 }] });
    expect(committed(broker, 0)).toBe(0);
    // The member is fenced onto a new generation and gets the records again from the new offset.
    await until(() => member.received.length === 5);
    expect(member.values(0)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(member.received.every((r) => r.deliveryAttempt === 1)).toBe(true);

    // Without live members no force is needed: to chosen offsets, or to a time.
    member.take();
    broker.groups.leave({ group: 'workers', memberId: member.memberId });
    const toOffsets = await reset({ topic: 'jobs', to: 'offsets', offsets: { '0': 2 } });
    expect(toOffsets.statusCode).toBe(200);
    expect(toOffsets.json().plan).toEqual([{ partition: 0, currentOffset: 0, newOffset: 2, lagRecords: 3 }]);
    expect(committed(broker, 0)).toBe(2);
    const toTime = await reset({ topic: 'jobs', to: 'timestamp', timestampMs: Date.now() + 60_000 });
    expect(toTime.json().plan[0]).toMatchObject({ partition: 0, currentOffset: 2, newOffset: 5, lagRecords: 0 });
    expect(committed(broker, 0)).toBe(5);
  });

  it('refuses malformed resets with 400, offsets outside the log with 416, unknown topics with 404', async () => {
    const { app, broker } = await setup();
    await produce(broker, 0, ['a']);
    const reset = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/groups/workers/reset', payload });
    for (const [payload, field] of [
      [{ topic: 'jobs', to: 'timestamp' }, 'timestampMs'],
      [{ topic: 'jobs', to: 'offsets' }, 'offsets'],
      [{ topic: 'jobs', to: 'earliest', offsets: { '0': 0 } }, 'offsets'],
      [{ topic: 'jobs', to: 'latest', timestampMs: 5 }, 'timestampMs'],
    ] as const) {
      const response = await reset(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error, JSON.stringify(payload)).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field } });
    }
    for (const payload of [
      { topic: 'jobs', to: 'yesterday' },
      { topic: 'jobs', to: 'earliest', unknown: true },
      { topic: 'jobs', to: 'offsets', offsets: {} },
      { topic: 'jobs', to: 'offsets', offsets: { first: 1 } },
      { topic: 'jobs', to: 'offsets', offsets: { '0': -1 } },
      { to: 'earliest' },
    ]) {
      const response = await reset(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('INVALID_ARGUMENT');
    }
    const outside = await reset({ topic: 'jobs', to: 'offsets', offsets: { '0': 7 } });
    expect(outside.statusCode).toBe(416);
    expect(outside.json().error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', details: { partition: 0, offset: 7, logStartOffset: 0, highWatermark: 1 } });
    expect((await reset({ topic: 'jobs', to: 'offsets', offsets: { '5': 0 } })).json().error.code).toBe('PARTITION_NOT_FOUND');
    expect((await reset({ topic: 'nope', to: 'earliest' })).statusCode).toBe(404);
  });

  it('pause stops deliveries and resume restarts them', async () => {
    const { app, broker } = await setup();
    const member = join(broker);
    await settle();

    const paused = await app.inject({ method: 'POST', url: '/v1/groups/workers/pause' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toEqual({ group: 'workers', paused: true });
    expect((await app.inject({ url: '/v1/groups/workers' })).json()).toMatchObject({ paused: true, state: 'active' });
    await produce(broker, 0, ['a', 'b']);
    await settle(100);
    expect(member.received).toHaveLength(0);
    expect((await app.inject({ url: '/v1/groups' })).json().groups[0]).toMatchObject({ paused: true, lagRecords: 2 });

    const resumed = await app.inject({ method: 'POST', url: '/v1/groups/workers/resume' });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toEqual({ group: 'workers', paused: false });
    await until(() => member.received.length === 2);
    expect(member.values(0)).toEqual(['a', 'b']);

    const unknown = await app.inject({ method: 'POST', url: '/v1/groups/nobody/pause' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('GROUP_NOT_FOUND');
  });

  it('deletes a group: 409 with live members, 204 once they left, then 404', async () => {
    const { app, broker } = await setup();
    await produce(broker, 1, ['a']);
    const member = join(broker);
    await until(() => member.received.length === 1);
    ackAll(broker, member);
    await until(() => committed(broker, 1) === 1);

    const refused = await app.inject({ method: 'DELETE', url: '/v1/groups/workers' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'GROUP_NOT_EMPTY', details: { group: 'workers', memberCount: 1 } });

    broker.groups.leave({ group: 'workers', memberId: member.memberId });
    await settle();
    expect((await app.inject({ url: '/v1/groups/workers' })).json()).toMatchObject({ state: 'empty', members: [] });
    const deleted = await app.inject({ method: 'DELETE', url: '/v1/groups/workers' });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect((await app.inject({ url: '/v1/groups/workers' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/v1/groups' })).json()).toEqual({ groups: [] });
    const again = await app.inject({ method: 'DELETE', url: '/v1/groups/workers' });
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('GROUP_NOT_FOUND');
  });

  it('exposes lag per group partition in /metrics, computed when scraped', async () => {
    const { app, broker } = await setup();
    await produce(broker, 1, ['a', 'b', 'c'], Date.now() - 30_000);
    const member = join(broker, 'billing');
    await until(() => member.received.length === 3);

    let text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toContain('# TYPE sluice_group_lag_records gauge');
    expect(text).toContain('sluice_group_lag_records{group="billing",topic="jobs",partition="0"} 0');
    expect(text).toContain('sluice_group_lag_records{group="billing",topic="jobs",partition="1"} 3');
    const seconds = /sluice_group_lag_seconds\{group="billing",topic="jobs",partition="1"\} ([0-9.e+]+)/.exec(text);
    expect(Number(seconds?.[1])).toBeGreaterThanOrEqual(30);

    ackAll(broker, member, 'billing');
    await until(() => committed(broker, 1, 'billing') === 3);
    text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toContain('sluice_group_lag_records{group="billing",topic="jobs",partition="1"} 0');
    expect(text).toContain('sluice_group_lag_seconds{group="billing",topic="jobs",partition="1"} 0');
  });
});

describe('BrokerMetrics: group lag', () => {
  it('computes the lag samples once per scrape, fresh on every scrape', async () => {
    let calls = 0;
    let lag = 5;
    const metrics = new BrokerMetrics(
      () => [],
      () => {
        calls++;
        return [{ group: 'g', topic: 't', partition: 0, lagRecords: lag, lagSeconds: 1.5 }];
      },
    );
    expect(await metrics.registry.metrics()).toContain('sluice_group_lag_records{group="g",topic="t",partition="0"} 5');
    expect(calls).toBe(1);
    lag = 0;
    const text = await metrics.registry.metrics();
    expect(text).toContain('sluice_group_lag_records{group="g",topic="t",partition="0"} 0');
    expect(text).toContain('sluice_group_lag_seconds{group="g",topic="t",partition="0"} 1.5');
    expect(calls).toBe(2);
  });
});
