/**
 * The CLI's consumer-group commands against a real broker: consume --group, work, group, dlq.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceClient } from '../../src/client/index.js';
import { type TestBroker, startTestBroker, waitUntil } from '../helpers/broker.js';
import { runCli, spawnCli } from '../helpers/cli-process.js';

let env: TestBroker;
let client: SluiceClient;
beforeAll(async () => {
  env = await startTestBroker({ settings: { retryBackoffMs: 0 }, topicDefaults: { maxDeliveryAttempts: 2 } });
  client = await env.client();
});
afterAll(async () => {
  await env.stop();
});

describe('sluice CLI, consumer groups', () => {
  it('consume --group prints records with their delivery attempt and acknowledges them; group describe/reset show it', async () => {
    await client.createTopic({ name: 'events', partitionCount: 1 });
    await client.produce({ topic: 'events', records: ['a', 'b', 'c', 'd'].map((value) => ({ key: 'k', value })) });
    const consumed = await runCli(['consume', 'events', '--group', 'printers', '--format', 'json', '--max', '3'], { broker: env.address });
    expect(consumed.code).toBe(0);
    const lines = consumed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { value: string; offset: number; deliveryAttempt: number });
    expect(lines.map((l) => [l.value, l.offset, l.deliveryAttempt])).toEqual([
      ['a', 0, 1],
      ['b', 1, 1],
      ['c', 2, 1],
    ]);
    await waitUntil(async () => (await client.describeGroup('printers')).partitions[0]?.committedOffset === 3);

    const described = await runCli(['group', 'describe', 'printers'], { broker: env.address });
    expect(described.stdout).toContain('group printers: empty');
    expect(described.stdout).toMatch(/events\/0\s+3\s+4\s+1/);
    const listed = await runCli(['group', 'list'], { broker: env.address });
    expect(listed.stdout).toMatch(/printers\s+empty\s+no\s+0\s+1/);

    const plan = await runCli(['group', 'reset', 'printers', '--topic', 'events', '--to-earliest'], { broker: env.address });
    expect(plan.stdout).toContain('nothing changed');
    expect(plan.stdout).toMatch(/0\s+3\s+0\s+4/);
    expect((await client.describeGroup('printers')).partitions[0]?.committedOffset).toBe(3);
    const executed = await runCli(['group', 'reset', 'printers', '--topic', 'events', '--to-earliest', '--execute'], { broker: env.address });
    expect(executed.code).toBe(0);
    expect((await client.describeGroup('printers')).partitions[0]?.committedOffset).toBe(0);
  });

  it('work runs a command per record: exit 0 acks, a failing record goes to the DLQ, redrive brings it back', async () => {
    await client.createTopic({ name: 'jobs', partitionCount: 2 });
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-work-'));
    const done = path.join(outDir, 'done.txt');
    // The "bug": values starting with "bad" fail until the fix file exists.
    const fixed = path.join(outDir, 'fixed');
    const command = `v=$(cat); case "$v" in bad*) [ -f ${fixed} ] || { echo "cannot handle $v" >&2; exit 3; };; esac; echo "$SLUICE_PARTITION $SLUICE_OFFSET $SLUICE_ATTEMPT $v" >> ${done}`;
    await client.produce({ topic: 'jobs', records: ['one', 'bad-1', 'two', 'three'].map((value, i) => ({ key: `k${i % 2}`, value })) });
    const worker = spawnCli(['work', 'jobs', '--group', 'workers', '--exec', command, '--concurrency', '2'], { broker: env.address, timeoutMs: 40_000 });
    await waitUntil(() => fs.existsSync(done) && fs.readFileSync(done, 'utf8').trim().split('\n').length === 3, 20_000, 'three good records');
    await waitUntil(async () => (await client.listDeadLetters({ topic: 'jobs' })).deadLetters.length === 1, 10_000, 'the dead letter');

    const listed = await runCli(['dlq', 'list', 'jobs'], { broker: env.address });
    expect(listed.stdout).toMatch(/jobs\/\d@\d+\s+workers\s+2\s+nack/);
    expect(listed.stdout).toContain('cannot handle bad-1');
    const dry = await runCli(['dlq', 'redrive', 'jobs', '--dry-run'], { broker: env.address });
    expect(dry.stdout).toContain('dry run: 1 would move');
    fs.writeFileSync(fixed, '');
    const redriven = await runCli(['dlq', 'redrive', 'jobs'], { broker: env.address });
    expect(redriven.stdout).toContain('moved 1');
    await waitUntil(() => fs.readFileSync(done, 'utf8').includes('bad-1'), 20_000, 'the redriven record');

    worker.child.kill('SIGTERM');
    const exit = await worker.done;
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('failed jobs/');
    await waitUntil(async () => (await client.describeGroup('workers')).members.length === 0, 5_000, 'the worker to leave');
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('work on SIGTERM kills a command still running after --shutdown-grace-ms and gives its record back uncounted', async () => {
    await client.createTopic({ name: 'slow-jobs', partitionCount: 1 });
    await client.produce({ topic: 'slow-jobs', records: [{ value: 'long' }] });
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-work-'));
    const started = path.join(outDir, 'started');
    const worker = spawnCli(['work', 'slow-jobs', '--group', 'sleepers', '--exec', `touch ${started}; exec sleep 30`, '--shutdown-grace-ms', '200'], {
      broker: env.address,
      timeoutMs: 40_000,
    });
    await waitUntil(() => fs.existsSync(started), 20_000, 'the command to start');
    worker.child.kill('SIGTERM');
    const exit = await worker.done;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('stopping: letting running commands finish, then leaving the group');
    expect(exit.stdout).toBe('');
    await waitUntil(async () => (await client.describeGroup('sleepers')).members.length === 0, 5_000, 'the worker to leave');
    // Neither acknowledged nor failed: the next member gets it as a first delivery.
    const again = await runCli(['consume', 'slow-jobs', '--group', 'sleepers', '--format', 'json', '--max', '1'], { broker: env.address });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ offset: 0, value: 'long', deliveryAttempt: 1 });
    fs.rmSync(outDir, { recursive: true, force: true });
  });
});
