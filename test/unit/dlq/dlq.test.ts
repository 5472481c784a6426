/**
 * Dead-lettering through a real broker (in-process) and redrive: provenance headers, durability
 * order, dry run, resumable progress without duplicates, the loop guard.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/index.js';
import { Broker } from '../../../src/broker.js';
import { brokerSettings, topicConfig } from '../../../src/config.js';
import { DlqHeader, REDRIVE_COUNT_HEADER } from '../../../src/dlq/index.js';
import type { MetaStore } from '../../../src/meta/index.js';
import { RecordingMember } from '../../helpers/group-harness.js';
import { tempDir } from '../../helpers/temp-dir.js';

const brokers: Broker[] = [];
afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.close();
});

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

async function brokerWithPoison(): Promise<{ broker: Broker; member: RecordingMember }> {
  const broker = Broker.open({
    settings: brokerSettings({ dataDir: path.join(tempDir(), 'data'), retryBackoffMs: 0, groupTickIntervalMs: 10 }),
    topicDefaults: topicConfig({ maxDeliveryAttempts: 3 }),
    logger: silentLogger,
  });
  brokers.push(broker);
  await broker.createTopic({ name: 'jobs', partitionCount: 2 });
  await broker.produce(
    {
      topic: 'jobs',
      partitions: [{ partition: 1, records: [{ key: Buffer.from('video-7'), value: Buffer.from('{bad json'), headers: [{ key: 'trace', value: Buffer.from('t1') }] }, { key: Buffer.from('video-8'), value: Buffer.from('ok'), headers: [] }] }],
    },
    context,
  );
  const member = new RecordingMember();
  const joined = broker.groups.join({ group: 'transcoders', topics: ['jobs'], clientId: 'w' }, member);
  member.memberId = joined.memberId;
  // Fail the poison record every time it comes; acknowledge everything else.
  const handled = new Set<string>();
  const loop = async (): Promise<void> => {
    const deadLettered = () => broker.listTopics().some((t) => t.name === 'jobs.dlq') && broker.listDeadLetters({ dlqTopic: 'jobs.dlq', limit: 1 }).length > 0;
    for (let round = 0; round < 300 && !deadLettered(); round++) {
      for (const record of member.take()) {
        const id = `${record.offset}:${record.deliveryAttempt}`;
        if (handled.has(id)) continue;
        handled.add(id);
        const ref = { group: 'transcoders', memberId: member.memberId, generation: member.generation, topic: 'jobs', partition: record.partition };
        if (record.value!.toString().startsWith('{bad')) broker.groups.nack({ ...ref, offset: record.offset, error: 'SyntaxError: Unexpected end of JSON input', errorClass: 'SyntaxError' });
        else broker.groups.ack({ ...ref, ranges: [{ first: record.offset, last: record.offset }] });
      }
      await settle(10);
    }
  };
  await loop();
  return { broker, member };
}

describe('dead-letter topic', () => {
  it('moves a poison record to <topic>.dlq after maxDeliveryAttempts, bytes intact, with provenance; the group moves on', async () => {
    const { broker, member } = await brokerWithPoison();
    const [dead] = broker.listDeadLetters({ dlqTopic: 'jobs.dlq', limit: 10 });
    expect(dead).toBeDefined();
    expect(dead!.partition).toBe(1);
    expect(dead!.key!.toString()).toBe('video-7');
    expect(dead!.value!.toString()).toBe('{bad json');
    expect(dead!.headers.find((h) => h.key === 'trace')!.value!.toString()).toBe('t1');
    expect(dead!.provenance).toMatchObject({
      topic: 'jobs',
      partition: 1,
      offset: 0,
      group: 'transcoders',
      attempts: 3,
      cause: 'nack',
      error: 'SyntaxError: Unexpected end of JSON input',
      errorClass: 'SyntaxError',
      redriveCount: 0,
    });
    expect(dead!.headers.map((h) => h.key)).toContain(DlqHeader.firstFailure);
    await until(() => {
      for (const record of member.take()) {
        broker.groups.ack({ group: 'transcoders', memberId: member.memberId, generation: member.generation, topic: 'jobs', partition: record.partition, ranges: [{ first: record.offset, last: record.offset }] });
      }
      return broker.describeGroup('transcoders').partitions.find((p) => p.partition === 1)?.committedOffset === 2;
    });
    expect(broker.describeTopic('jobs.dlq').config.durability).toBe('always');
  });

  it('redrives dead letters back to their partition; a re-run moves nothing twice; dry run moves nothing', async () => {
    const { broker } = await brokerWithPoison();
    const preview = await broker.redrive({ dlqTopic: 'jobs.dlq', dryRun: true });
    expect(preview).toMatchObject({ dryRun: true, movedCount: 1 });
    expect(preview.preview[0]).toMatchObject({ toTopic: 'jobs', toPartition: 1, originalOffset: 0, error: 'SyntaxError: Unexpected end of JSON input' });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(2);

    const first = await broker.redrive({ dlqTopic: 'jobs.dlq' });
    expect(first).toMatchObject({ movedCount: 1, totalMovedCount: 1 });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);
    const again = await broker.redrive({ dlqTopic: 'jobs.dlq' });
    expect(again).toMatchObject({ movedCount: 0, totalMovedCount: 1 });
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);

    const back = await broker.fetch({ topic: 'jobs', partition: 1, offset: 2, maxBytes: 1 << 20, maxWaitMs: 0 });
    expect(back.records[0]!.value!.toString()).toBe('{bad json');
    expect(back.records[0]!.headers.find((h) => h.key === REDRIVE_COUNT_HEADER)!.value!.toString()).toBe('1');
    expect(back.records[0]!.headers.some((h) => h.key.startsWith('sluice.dlq.'))).toBe(false);
  });

  it('filters by error text and original partition, and skips records past the loop guard unless forced', async () => {
    const { broker } = await brokerWithPoison();
    expect((await broker.redrive({ dlqTopic: 'jobs.dlq', errorContains: 'Timeout', dryRun: true })).movedCount).toBe(0);
    expect((await broker.redrive({ dlqTopic: 'jobs.dlq', originalPartition: 0, dryRun: true })).movedCount).toBe(0);
    const guarded = await broker.redrive({ dlqTopic: 'jobs.dlq', redriveCountMax: 0, dryRun: true });
    expect(guarded).toMatchObject({ movedCount: 0, skippedByLoopGuardCount: 1 });
    expect((await broker.redrive({ dlqTopic: 'jobs.dlq', redriveCountMax: 0, force: true, dryRun: true })).movedCount).toBe(1);
  });

  it('continues an interrupted redrive without duplicating what it already wrote', async () => {
    const { broker } = await brokerWithPoison();
    // Interrupt the first run after its write but before its progress is saved, as a crash would.
    const meta = (broker as unknown as { meta: MetaStore }).meta;
    const save = meta.putRedriveJob.bind(meta);
    let saves = 0;
    meta.putRedriveJob = (job) => (++saves === 1 ? save(job) : Promise.reject(new Error('crash before saving progress')));
    await expect(broker.redrive({ dlqTopic: 'jobs.dlq' })).rejects.toThrow('crash before saving progress');
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);
    meta.putRedriveJob = save;
    const resumed = await broker.redrive({ dlqTopic: 'jobs.dlq' });
    expect(resumed.movedCount).toBe(1); // re-sent, recognised as a duplicate by the partition
    expect(broker.describeTopic('jobs').partitions[1]!.logEndOffset).toBe(3);
  });
});
