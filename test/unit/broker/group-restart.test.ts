import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/index.js';
import { Broker } from '../../../src/broker.js';
import { brokerSettings, topicConfig } from '../../../src/config.js';
import { RecordingMember } from '../../helpers/group-harness.js';
import { tempDir } from '../../helpers/temp-dir.js';

const open: Broker[] = [];
afterEach(async () => {
  for (const broker of open.splice(0)) await broker.close();
});

function start(dataDir: string): Broker {
  const broker = Broker.open({ settings: brokerSettings({ dataDir, retryBackoffMs: 0 }), topicDefaults: topicConfig(), logger: silentLogger });
  open.push(broker);
  return broker;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

describe('consumer groups across a broker restart', () => {
  it('keep committed offsets and failed-attempt counts', async () => {
    const dataDir = path.join(tempDir(), 'data');
    let broker = start(dataDir);
    await broker.createTopic({ name: 'jobs', partitionCount: 1 });
    await broker.produce({ topic: 'jobs', records: ['a', 'b', 'c'].map((v) => ({ key: null, value: Buffer.from(v), headers: [] })) }, { connectionId: 't', clientId: 't' });
    let member = new RecordingMember();
    member.memberId = broker.groups.join({ group: 'g', topics: ['jobs'], clientId: 'w' }, member).memberId;
    await until(() => member.received.length === 3);
    const ref = { group: 'g', memberId: member.memberId, generation: member.generation, topic: 'jobs', partition: 0 };
    broker.groups.ack({ ...ref, ranges: [{ first: 0, last: 0 }] });
    broker.groups.nack({ ...ref, offset: 1, error: 'flaky', errorClass: 'E', delayMs: 60_000 });
    await until(() => broker.describeGroup('g').partitions[0]?.committedOffset === 1 && broker.describeGroup('g').partitions[0]?.retrying !== undefined);
    await broker.close();

    broker = start(dataDir);
    expect(broker.describeGroup('g').partitions[0]).toMatchObject({ committedOffset: 1, lagRecords: 2 });
    member = new RecordingMember();
    member.memberId = broker.groups.join({ group: 'g', topics: ['jobs'], clientId: 'w' }, member).memberId;
    await until(() => member.received.length === 2);
    expect(member.received.map((r) => [r.value!.toString(), r.deliveryAttempt])).toEqual([
      ['b', 2],
      ['c', 1],
    ]);
  });
});
