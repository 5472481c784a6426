/**
 * Competing worker processes: a real broker, workers as child processes, SIGKILL in the middle.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestBroker, startTestBroker, waitUntil } from '../helpers/broker.js';

interface Done {
  partition: number;
  offset: number;
  attempt: number;
  value: string;
  worker: number;
}

let env: TestBroker;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await env.stop();
});

function startWorker(id: number, group: string, topic: string, done: Done[], workMs = 0): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/consume-worker.ts', env.address, group, topic, String(workMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, partition, offset, attempt, ...value] = line.split(' ');
    if (kind === 'ready') markReady();
    if (kind === 'done') done.push({ partition: Number(partition), offset: Number(offset), attempt: Number(attempt), value: value.join(' '), worker: id });
  });
  return { child, ready };
}

describe('competing worker processes', () => {
  it('4 workers, 8 partitions, 20k keyed records: a SIGKILLed worker loses nothing, per-key order holds', async () => {
    env = await startTestBroker();
    const client = await env.client();
    await client.createTopic({ name: 'work', partitionCount: 8 });
    const total = 20_000;
    for (let start = 0; start < total; start += 1000) {
      await client.produce({ topic: 'work', records: Array.from({ length: 1000 }, (_, i) => ({ key: `k${(start + i) % 1000}`, value: `${(start + i) % 1000}:${start + i}` })) });
    }
    const done: Done[] = [];
    const workers = [0, 1, 2, 3].map((id) => startWorker(id, 'workers', 'work', done));
    await Promise.all(workers.map((w) => w.ready));
    await waitUntil(() => done.length >= total / 4, 30_000, 'a quarter processed');
    const victim = workers[0]!.child;
    const victimGone = new Promise((resolve) => victim.once('close', resolve));
    victim.kill('SIGKILL');
    await victimGone;
    // The victim was killed in the middle of its work.
    expect(done.some((d) => d.worker === 0)).toBe(true);
    const distinct = () => new Set(done.map((d) => `${d.partition}/${d.offset}`)).size;
    expect(distinct()).toBeLessThan(total);
    await waitUntil(() => distinct() === total, 60_000, 'every record processed');
    // Every record processed at least once; per key, first processings come in production order.
    const firstSeen = new Map<string, number[]>();
    const seen = new Set<string>();
    for (const d of done) {
      const id = `${d.partition}/${d.offset}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const [key, n] = d.value.split(':');
      firstSeen.set(key!, [...(firstSeen.get(key!) ?? []), Number(n)]);
    }
    expect(firstSeen.size).toBe(1000);
    for (const [key, values] of firstSeen) expect(values, key).toEqual([...values].sort((a, b) => a - b));
    const redelivered = done.filter((d) => d.attempt > 1);
    expect(redelivered.length).toBeLessThanOrEqual(8); // at most the one record per partition the victim was on
  });

  it('a record that crashes its worker every time reaches the DLQ after maxDeliveryAttempts; the rest is processed', async () => {
    env = await startTestBroker({ settings: { retryBackoffMs: 0 }, topicDefaults: { maxDeliveryAttempts: 3 } });
    const client = await env.client();
    await client.createTopic({ name: 'jobs', partitionCount: 1 });
    await client.produce({ topic: 'jobs', records: ['first', 'crash', 'after-1', 'after-2'].map((value) => ({ key: 'video-1', value })) });
    const done: Done[] = [];
    let started = 0;
    // A supervisor: restart the worker whenever it dies, as a process manager would.
    let stopping = false;
    const supervise = (): void => {
      if (stopping) return;
      const { child } = startWorker(started++, 'transcoders', 'jobs', done);
      child.on('exit', () => supervise());
    };
    supervise();
    await waitUntil(() => done.some((d) => d.value === 'after-2'), 60_000, 'the records after the poison');
    stopping = true;
    const dead = (await client.listDeadLetters({ topic: 'jobs' })).deadLetters;
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ originOffset: 1, attempts: 3, cause: 'member-died' });
    expect(dead[0]!.value!.toString()).toBe('crash');
    expect(started).toBe(4); // three crashes, then a worker that finishes
    expect(done.map((d) => d.value)).toEqual(['first', 'after-1', 'after-2']);
  });
});
