/**
 * The `sluice` CLI end to end: a real broker in this process, the CLI as child processes
 * (`node --import tsx src/cli/main.ts`). Each child costs most of a second to start, so children are
 * few and run in parallel where their order does not matter; data is set up and checked with the
 * in-process client.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceClient, type ConsumedRecord } from '../../src/client/index.js';
import { type TestBroker, startTestBroker, text, waitUntil } from '../helpers/broker.js';
import { runCli, spawnCli } from '../helpers/cli-process.js';
import { tempDir } from '../helpers/temp-dir.js';

interface JsonRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: { key: string; value: string | null }[];
}

function jsonLines(stdout: string): JsonRecord[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as JsonRecord);
}

/** Every record of every partition of `topic`, as the CLI's JSON lines should show them. */
async function allRecords(client: SluiceClient, topic: string): Promise<JsonRecord[]> {
  const { partitionCount } = await client.describeTopic(topic);
  const records: JsonRecord[] = [];
  for (let partition = 0; partition < partitionCount; partition++) {
    const { records: fetched } = await client.fetch({ topic, partition, offset: 0 });
    records.push(...fetched.map((r: ConsumedRecord) => ({
      topic,
      partition,
      offset: r.offset,
      timestamp: r.timestampMs,
      key: text(r.key),
      value: text(r.value),
      headers: r.headers.map((h) => ({ key: h.key, value: text(h.value) })),
    })));
  }
  return records;
}

const byPosition = (a: JsonRecord, b: JsonRecord): number => a.partition - b.partition || a.offset - b.offset;

describe('the sluice CLI', () => {
  let env: TestBroker;
  let client: SluiceClient;

  beforeAll(async () => {
    env = await startTestBroker();
    client = await env.client();
  });
  afterAll(() => env.stop());

  it('creates, lists, describes and deletes topics', async () => {
    const created = await runCli(['topic', 'create', 'orders', '--partitions', '3', '--config', 'retentionMs=86400000', '--config', 'maxDeliveryAttempts=7', '--broker', env.address]);
    expect(created).toMatchObject({ code: 0, stdout: 'created topic orders with 3 partitions\n', stderr: '' });
    await client.createTopic({ name: 'audit', partitionCount: 1 });

    const [list, describedJson, described, again] = await Promise.all([
      runCli(['topic', 'list'], { broker: env.address }),
      runCli(['topic', 'describe', 'orders', '--format', 'json'], { broker: env.address }),
      runCli(['topic', 'describe', 'orders'], { broker: env.address }),
      runCli(['topic', 'create', 'orders', '--partitions', '1'], { broker: env.address }),
    ]);
    expect(list).toMatchObject({ code: 0, stdout: 'audit\norders\n' });
    const description = JSON.parse(describedJson.stdout) as Record<string, unknown>;
    expect(description).toEqual(await client.describeTopic('orders'));
    expect(description).toMatchObject({ name: 'orders', partitionCount: 3, overrides: { retentionMs: '86400000', maxDeliveryAttempts: '7' } });
    expect(described.code).toBe(0);
    expect(described.stdout).toContain('topic orders: 3 partitions, created ');
    expect(described.stdout).toMatch(/^\* +retentionMs +86400000$/m);
    expect(described.stdout).toMatch(/^ +durability +always$/m);
    expect(described.stdout).toMatch(/^PARTITION +LOG-START +LOG-END +HIGH-WATERMARK +SIZE-BYTES +SEGMENTS +STATUS$/m);
    expect(described.stdout).toMatch(/^2 +0 +0 +0 +0 +1 +online$/m);
    expect(again).toMatchObject({ code: 1, stdout: '', stderr: 'error: TOPIC_EXISTS: topic "orders" already exists\n' });

    const deleted = await runCli(['topic', 'delete', 'orders'], { broker: env.address });
    expect(deleted).toMatchObject({ code: 0, stdout: 'deleted topic orders\n' });
    expect((await client.listTopics()).map((t) => t.name)).toEqual(['audit']);
  });

  it('produces stdin lines with keys and consumes them from the beginning as JSON with every field', async () => {
    await client.createTopic({ name: 'events', partitionCount: 2 });
    const before = Date.now();
    // CRLF line endings, a value holding the separator, an empty value, UTF-8, no newline at the end.
    const input = 'user-1:signed up\nuser-2:päid €5\r\nuser-1:a:b\nuser-3:\nuser-2:left';
    const produced = await runCli(['produce', 'events', '--key-separator', ':', '--header', 'source=cli', '--header', 'source=test'], { broker: env.address, input });
    expect(produced).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const after = Date.now();
    // A record the CLI cannot make: no key, a header without a value.
    await client.produce({ topic: 'events', partition: 0, records: [{ value: 'from the client', headers: [{ key: 'empty' }] }] });

    const consumed = await runCli(['consume', 'events', '--from-beginning', '--format', 'json', '--max', '6'], { broker: env.address });
    expect(consumed).toMatchObject({ code: 0, stderr: '' });
    const lines = jsonLines(consumed.stdout);
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(Object.keys(line)).toEqual(['topic', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers']);
    expect([...lines].sort(byPosition)).toEqual(await allRecords(client, 'events'));

    const fromCli = lines.filter((l) => l.key !== null);
    expect(fromCli.map((l) => [l.key, l.value])).toEqual(
      expect.arrayContaining([
        ['user-1', 'signed up'],
        ['user-2', 'päid €5'],
        ['user-1', 'a:b'],
        ['user-3', ''],
        ['user-2', 'left'],
      ]),
    );
    for (const line of fromCli) {
      expect(line.topic).toBe('events');
      expect(line.timestamp).toBeGreaterThanOrEqual(before);
      expect(line.timestamp).toBeLessThanOrEqual(after);
      expect(line.headers).toEqual([
        { key: 'source', value: 'cli' },
        { key: 'source', value: 'test' },
      ]);
    }
    // Same key, same partition, input order.
    const user1 = fromCli.filter((l) => l.key === 'user-1');
    expect(user1[0]!.partition).toBe(user1[1]!.partition);
    expect(user1.map((l) => l.value)).toEqual(['signed up', 'a:b']);
    expect(lines.find((l) => l.key === null)).toMatchObject({ partition: 0, value: 'from the client', headers: [{ key: 'empty', value: null }] });
  });

  it('consumes from a time: only records at or after it, in text format', async () => {
    await client.createTopic({ name: 'timed', partitionCount: 1 });
    const t0 = Date.now() - 60_000;
    await client.produce({ topic: 'timed', records: [0, 1, 2, 3].map((i) => ({ value: `v${i}`, timestampMs: t0 + i * 1_000 })) });

    const consumed = await runCli(['consume', 'timed', '--partition', '0', '--from-time', new Date(t0 + 1_500).toISOString(), '--idle-timeout-ms', '500'], {
      broker: env.address,
    });
    expect(consumed).toMatchObject({ code: 0, stdout: 'v2\nv3\n', stderr: '' });
  });

  it('prints records produced while it waits, and exits after --idle-timeout-ms without new data', async () => {
    await client.createTopic({ name: 'live', partitionCount: 2 });
    await client.produce({ topic: 'live', partition: 1, records: [{ key: 'k', value: 'old' }] });

    const tailing = spawnCli(['consume', 'live', '--from-beginning', '--key-separator', '=', '--max', '2'], { broker: env.address });
    // Partition 1 from its latest offset gets nothing new (the record below goes to partition 0): no output, exit 0 once idle.
    const idleStart = Date.now();
    const idle = runCli(['consume', 'live', '--partition', '1', '--idle-timeout-ms', '700'], { broker: env.address });

    await tailing.waitForOutput((stdout) => stdout === 'k=old\n');
    await client.produce({ topic: 'live', partition: 0, records: [{ key: 'k2', value: 'new' }] });
    expect(await tailing.done).toMatchObject({ code: 0, stdout: 'k=old\nk2=new\n', stderr: '' });

    expect(await idle).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(Date.now() - idleStart).toBeGreaterThanOrEqual(700);
  });

  it('exits 1 naming the lines not acknowledged when producing to a missing topic', async () => {
    const produced = await runCli(['produce', 'missing', '--key', 'k'], { broker: env.address, input: 'a\nb\n' });
    expect(produced.code).toBe(1);
    expect(produced.stderr).toBe(
      'error: TOPIC_NOT_FOUND: topic "missing" does not exist (lines 1-2 not acknowledged)\n' + 'error: NOT_ACKNOWLEDGED: 2 of 2 records sent were not acknowledged\n',
    );
  });

  it('retries throttled requests after the hinted delay, in input order', async () => {
    const throttled = await startTestBroker({ settings: { topicRecordsPerSecondMax: 20 } });
    try {
      const admin = await throttled.client();
      await admin.createTopic({ name: 'slow', partitionCount: 1 });
      const values = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
      // Batches of 10 against 20 records/s: the first two pass, the later ones are THROTTLED and sent
      // again one at a time in order, each after the broker's retryAfterMs (about 500 ms).
      const produced = await runCli(['produce', 'slow', '--batch-records-max', '10'], { broker: throttled.address, input: values.join('\n') });
      expect(produced).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect((await allRecords(admin, 'slow')).map((r) => r.value)).toEqual(values);
    } finally {
      await throttled.stop();
    }
  });

  it('refuses bad command lines with exit code 2 and a bad input line with exit code 1', async () => {
    await client.createTopic({ name: 'strict', partitionCount: 1 });
    const [conflicting, offsetWithoutPartition, missingPartitions, noSeparator] = await Promise.all([
      runCli(['produce', 'strict', '--key', 'k', '--key-separator', ':'], { broker: env.address }),
      runCli(['consume', 'strict', '--offset', '3'], { broker: env.address }),
      runCli(['topic', 'create', 'x', '--partitions', 'many'], { broker: env.address }),
      runCli(['produce', 'strict', '--key-separator', ':'], { broker: env.address, input: 'a:1\nno separator\nc:3\n' }),
    ]);
    expect(conflicting).toMatchObject({ code: 2, stdout: '' });
    expect(conflicting.stderr).toMatch(/^error: USAGE: option '--key <key>' cannot be used with option '--key-separator <sep>'\n/);
    expect(offsetWithoutPartition).toMatchObject({ code: 2, stdout: '' });
    expect(offsetWithoutPartition.stderr).toMatch(/^error: USAGE: --offset needs --partition/);
    expect(missingPartitions).toMatchObject({ code: 2, stdout: '' });
    expect(missingPartitions.stderr).toMatch(/^error: USAGE: option '--partitions <count>' argument 'many' is invalid/);
    // The line before the bad one is sent; nothing after it is.
    expect(noSeparator).toMatchObject({ code: 1, stderr: 'error: INVALID_INPUT: line 2 has no key separator ":"\n' });
    expect((await allRecords(client, 'strict')).map((r) => [r.key, r.value])).toEqual([['a', '1']]);
  });

  it('serves a broker with `sluice serve` until SIGTERM', async () => {
    const root = tempDir('sluice-cli-serve-');
    const portFile = path.join(root, 'ports.json');
    const serving = spawnCli(['serve', '--data-dir', path.join(root, 'data'), '--grpc-port', '0', '--http-port', '0', '--port-file', portFile, '--log-level', 'warn']);
    await waitUntil(() => fs.existsSync(portFile), 15_000, 'the port file');
    const { grpcPort } = JSON.parse(fs.readFileSync(portFile, 'utf8')) as { grpcPort: number };
    const remote = await SluiceClient.connect({ broker: `127.0.0.1:${grpcPort}` });
    try {
      await remote.createTopic({ name: 'served', partitionCount: 2 });
      expect((await remote.listTopics()).map((t) => t.name)).toEqual(['served']);
    } finally {
      remote.close();
    }
    serving.child.kill('SIGTERM');
    expect(await serving.done).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(fs.existsSync(portFile)).toBe(false);
  });
});
