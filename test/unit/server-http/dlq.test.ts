/**
 * The dead-letter routes against a real broker: a poison record is nacked in-process until it is
 * dead-lettered, then listed with its provenance and redriven (dry run, then for real).
 */
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/broker.js';
import type { DeadLettersReply } from '../../../src/server/http/index.js';
import { RecordingMember } from '../../helpers/group-harness.js';
import { openHttpApp } from '../../helpers/http-app.js';

const context = { connectionId: 't', clientId: 't' };
const SYNTAX_ERROR = 'SyntaxError: Unexpected end of JSON input';

async function settle(ms = 40): Promise<void> {
  for (let i = 0; i < ms / 10; i++) {
    for (let j = 0; j < 10; j++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setup(): Promise<Awaited<ReturnType<typeof openHttpApp>>> {
  const fixture = await openHttpApp({ settings: { retryBackoffMs: 0, groupTickIntervalMs: 10 } });
  await fixture.broker.createTopic({ name: 'jobs', partitionCount: 2, config: { maxDeliveryAttempts: 3 } });
  return fixture;
}

/** Produces a poison record (and a good one after it) to partition 1 and fails the poison one until it is dead-lettered. */
async function deadLetterPoison(broker: Broker): Promise<RecordingMember> {
  await broker.produce(
    {
      topic: 'jobs',
      partitions: [
        {
          partition: 1,
          records: [
            { key: Buffer.from('video-7'), value: Buffer.from('{bad json'), headers: [{ key: 'trace', value: Buffer.from('t1') }] },
            { key: Buffer.from('video-8'), value: Buffer.from('ok'), headers: [] },
          ],
        },
      ],
    },
    context,
  );
  const member = new RecordingMember();
  member.memberId = broker.groups.join({ group: 'transcoders', topics: ['jobs'], clientId: 'w' }, member).memberId;
  const handled = new Set<string>();
  const deadLettered = (): boolean => broker.listTopics().some((t) => t.name === 'jobs.dlq') && broker.listDeadLetters({ dlqTopic: 'jobs.dlq', limit: 1 }).length > 0;
  for (let round = 0; round < 300 && !deadLettered(); round++) {
    for (const record of member.take()) {
      const id = `${record.offset}:${record.deliveryAttempt}`;
      if (handled.has(id)) continue;
      handled.add(id);
      const ref = { group: 'transcoders', memberId: member.memberId, generation: member.generation, topic: 'jobs', partition: record.partition };
      if (record.value!.toString().startsWith('{bad')) broker.groups.nack({ ...ref, offset: record.offset, error: SYNTAX_ERROR, errorClass: 'SyntaxError' });
      else broker.groups.ack({ ...ref, ranges: [{ first: record.offset, last: record.offset }] });
    }
    await settle(10);
  }
  expect(deadLettered()).toBe(true);
  return member;
}

const text = (value: string): { text: string; base64: string } => ({ text: value, base64: Buffer.from(value).toString('base64') });

describe('HTTP admin: dead letters', () => {
  it('lists nothing before the first dead letter; 404 for an unknown topic', async () => {
    const { app } = await setup();
    const empty = await app.inject({ url: '/v1/topics/jobs/dlq' });
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({ topic: 'jobs', dlqTopic: 'jobs.dlq', deadLetters: [], truncated: false });
    const missing = await app.inject({ url: '/v1/topics/nope/dlq' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'TOPIC_NOT_FOUND', details: { topic: 'nope' } });
  });

  it('lists a dead letter with its bytes (text and base64) and its provenance', async () => {
    const { app, broker } = await setup();
    await deadLetterPoison(broker);

    const response = await app.inject({ url: '/v1/topics/jobs/dlq' });
    expect(response.statusCode).toBe(200);
    const body = response.json<DeadLettersReply>();
    expect(body).toMatchObject({ topic: 'jobs', dlqTopic: 'jobs.dlq', truncated: false });
    expect(body.deadLetters).toHaveLength(1);
    const dead = body.deadLetters[0]!;
    expect(dead).toMatchObject({ partition: 1, offset: 0, key: text('video-7'), value: text('{bad json') });
    expect(dead.headers[0]).toEqual({ key: 'trace', value: text('t1') });
    expect(dead.headers.map((h) => h.key)).toEqual(expect.arrayContaining(['sluice.dlq.topic', 'sluice.dlq.error', 'sluice.dlq.first-failure-ms']));
    expect(dead.provenance).toEqual({
      topic: 'jobs',
      partition: 1,
      offset: 0,
      timestampMs: expect.any(Number),
      group: 'transcoders',
      attempts: 3,
      cause: 'nack',
      error: SYNTAX_ERROR,
      errorClass: 'SyntaxError',
      member: expect.stringMatching(/^w-/),
      firstFailureMs: expect.any(Number),
      lastFailureMs: expect.any(Number),
      redriveCount: 0,
    });
    expect(dead.provenance!.lastFailureMs).toBeGreaterThanOrEqual(dead.provenance!.firstFailureMs);
    expect(dead.timestampMs).toBe(dead.provenance!.lastFailureMs);

    // Filters: partition, offset, error text.
    const list = async (query: string) => (await app.inject({ url: `/v1/topics/jobs/dlq?${query}` })).json().deadLetters as unknown[];
    expect(await list('partition=1&errorContains=SyntaxError')).toHaveLength(1);
    expect(await list('partition=0')).toHaveLength(0);
    expect(await list('fromOffset=1')).toHaveLength(0);
    expect(await list('errorContains=Timeout')).toHaveLength(0);
    expect(await list('limit=1')).toHaveLength(1);
  });

  it('shows bytes that are not UTF-8 as base64 only, and null keys and header values as null', async () => {
    const { app, broker } = await setup();
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    await broker.createTopic({ name: 'jobs.dlq', partitionCount: 2 });
    await broker.produce({ topic: 'jobs.dlq', partition: 0, records: [{ key: null, value: binary, headers: [{ key: 'empty', value: null }] }] }, context);
    const [letter] = (await app.inject({ url: '/v1/topics/jobs/dlq' })).json().deadLetters;
    expect(letter).toEqual({
      partition: 0,
      offset: 0,
      timestampMs: expect.any(Number),
      key: null,
      value: { text: null, base64: binary.toString('base64') },
      headers: [{ key: 'empty', value: null }],
      provenance: null,
    });
  });

  it('bounds the listing: limit 1..1000, unknown query fields refused', async () => {
    const { app } = await setup();
    for (const query of ['limit=0', 'limit=1001', 'partition=-1', 'fromOffset=x', 'color=red']) {
      const response = await app.inject({ url: `/v1/topics/jobs/dlq?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code, query).toBe('INVALID_ARGUMENT');
    }
    expect((await app.inject({ url: '/v1/topics/jobs/dlq?limit=1000' })).statusCode).toBe(200);
  });

  it('stops a listing at fetchBytesMax and says it was truncated (always at least one record)', async () => {
    const { app, broker } = await openHttpApp({ settings: { fetchBytesMax: 1024 } });
    await broker.createTopic({ name: 'jobs', partitionCount: 1 });
    await broker.createTopic({ name: 'jobs.dlq', partitionCount: 1 });
    const big = { key: null, value: Buffer.alloc(700, 0x61), headers: [] };
    await broker.produce({ topic: 'jobs.dlq', partition: 0, records: [big, big, big] }, context);
    const body = (await app.inject({ url: '/v1/topics/jobs/dlq' })).json<DeadLettersReply>();
    expect(body.deadLetters).toHaveLength(1);
    expect(body.truncated).toBe(true);
    const next = (await app.inject({ url: '/v1/topics/jobs/dlq?partition=0&fromOffset=1&limit=1' })).json<DeadLettersReply>();
    expect(next.deadLetters.map((d) => d.offset)).toEqual([1]);
    expect(next.truncated).toBe(false);
  });

  it('redrives: a dry run moves nothing, then the redrive moves the record back once', async () => {
    const { app, broker } = await setup();
    await deadLetterPoison(broker);
    const redrive = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive', payload });

    const dry = await redrive({ dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toEqual({
      dlqTopic: 'jobs.dlq',
      jobId: expect.stringMatching(/^jobs\.dlq\.redrive-/),
      dryRun: true,
      movedCount: 1,
      skippedByLoopGuardCount: 0,
      skippedByFilterCount: 0,
      totalMovedCount: 0,
      preview: [{ dlqPartition: 1, dlqOffset: 0, toTopic: 'jobs', toPartition: 1, originalOffset: 0, error: SYNTAX_ERROR }],
    });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(2);
    expect((await redrive({ dryRun: true, errorContains: 'Timeout' })).json()).toMatchObject({ movedCount: 0, skippedByFilterCount: 1 });
    expect((await redrive({ dryRun: true, redriveCountMax: 0 })).json()).toMatchObject({ movedCount: 0, skippedByLoopGuardCount: 1 });

    // The body selects what moves, so it is required: `{}` is everything.
    expect((await app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive' })).statusCode).toBe(400);
    const moved = await redrive({});
    expect(moved.statusCode).toBe(200);
    expect(moved.json()).toMatchObject({ dryRun: false, movedCount: 1, totalMovedCount: 1, preview: [] });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);
    const back = await broker.fetch({ topic: 'jobs', partition: 1, offset: 2, maxBytes: 1 << 20, maxWaitMs: 0 });
    expect(back.records[0]!.value!.toString()).toBe('{bad json');

    // The same redrive again continues where it stopped: nothing moves twice.
    expect((await redrive({})).json()).toMatchObject({ movedCount: 0, totalMovedCount: 1 });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);
  });

  it('refuses malformed redrives with 400 and a topic without a DLQ topic with 404', async () => {
    const { app, broker } = await setup();
    for (const payload of [{ dryRun: 'maybe' }, { color: 'red' }, { fromOffset: -1 }, { recordsPerSecondMax: 0 }, { toTopic: 'no spaces' }]) {
      const response = await app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('INVALID_ARGUMENT');
    }
    const range = await app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive', payload: { fromOffset: 5, toOffset: 5 } });
    expect(range.statusCode).toBe(400);
    expect(range.json().error.details).toMatchObject({ field: 'toOffset' });
    const noDlq = await app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive', payload: { dryRun: true } });
    expect(noDlq.statusCode).toBe(404);
    expect(noDlq.json().error).toMatchObject({ code: 'TOPIC_NOT_FOUND', details: { topic: 'jobs.dlq' } });
    await deadLetterPoison(broker);
    const noTarget = await app.inject({ method: 'POST', url: '/v1/topics/jobs/dlq/redrive', payload: { toTopic: 'elsewhere' } });
    expect(noTarget.statusCode).toBe(404);
    expect(noTarget.json().error.details).toMatchObject({ topic: 'elsewhere' });
  });

  it('counts redeliveries and dead letters in /metrics', async () => {
    const { app, broker } = await setup();
    await deadLetterPoison(broker);
    const text = (await app.inject({ url: '/metrics' })).body;
    // Attempts 2 and 3 of the poison record were redeliveries; the good record never failed.
    expect(text).toContain('sluice_redelivered_records_total{topic="jobs",group="transcoders"} 2');
    expect(text).toContain('sluice_dead_lettered_records_total{topic="jobs",group="transcoders"} 1');
    expect(text).toContain('sluice_group_lag_records{group="transcoders",topic="jobs",partition="1"}');
  });
});
