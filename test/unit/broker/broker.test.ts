/**
 * The broker facade in-process (no transport): routing, limits, quotas, backpressure, fullPolicy,
 * idempotence across restarts, long polls.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../../src/base/index.js';
import { Broker, type ProduceRecord } from '../../../src/broker.js';
import { brokerSettings, topicConfig } from '../../../src/config.js';
import { BrokerError } from '../../../src/errors.js';
import { partitionForKey } from '../../../src/partition/index.js';
import { nodeFileIO } from '../../../src/storage/index.js';
import { FaultyFileIO } from '../../helpers/faulty-file-io.js';
import { tempDir } from '../../helpers/temp-dir.js';

const open: Broker[] = [];
afterEach(async () => {
  for (const broker of open.splice(0)) await broker.close();
});

function startBroker(
  options: { dataDir?: string; settings?: Record<string, unknown>; topicDefaults?: Record<string, unknown>; clock?: ManualClock; io?: FaultyFileIO } = {},
): Broker {
  const dataDir = options.dataDir ?? path.join(tempDir(), 'data');
  const broker = Broker.open({
    settings: brokerSettings({ dataDir, ...options.settings }),
    topicDefaults: topicConfig(options.topicDefaults ?? {}),
    logger: silentLogger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.io ? { io: options.io } : {}),
  });
  open.push(broker);
  return broker;
}

const context = { connectionId: 'test', clientId: 'test-client' };
const rec = (key: string | null, value: string, timestampMs?: number): ProduceRecord => ({
  key: key === null ? null : Buffer.from(key),
  value: Buffer.from(value),
  headers: [],
  ...(timestampMs === undefined ? {} : { timestampMs }),
});

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<BrokerError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    return error as BrokerError;
  }
  throw new Error('expected a BrokerError');
}

describe('Broker', () => {
  it('routes keyed records with the Kafka partitioner, keeps per-key order, and reads them back', async () => {
    const broker = startBroker();
    await broker.createTopic({ name: 'orders', partitionCount: 4 });
    for (let i = 0; i < 50; i++) await broker.produce({ topic: 'orders', records: [rec(`k${i % 10}`, `v${i}`)] }, context);
    for (let p = 0; p < 4; p++) {
      const { records } = await broker.fetch({ topic: 'orders', partition: p, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 });
      for (const record of records) expect(partitionForKey(record.key!, 4)).toBe(p);
      const perKey = new Map<string, number[]>();
      for (const record of records) {
        const list = perKey.get(record.key!.toString()) ?? [];
        list.push(Number(record.value!.toString().slice(1)));
        perKey.set(record.key!.toString(), list);
      }
      for (const values of perKey.values()) expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('keeps the keyless records of one request together on one partition', async () => {
    const broker = startBroker();
    await broker.createTopic({ name: 'events', partitionCount: 3 });
    const result = await broker.produce({ topic: 'events', records: [rec(null, 'a'), rec(null, 'b'), rec(null, 'c')] }, context);
    expect(result.appends).toHaveLength(1);
    expect(result.appends[0]).toMatchObject({ recordCount: 3, baseOffset: 0, lastOffset: 2, duplicate: false });
    expect(result.durability).toBe('fsynced');
  });

  it('refuses unknown topics, bad partitions, oversize records and too many records, writing nothing', async () => {
    const broker = startBroker({ settings: { keyBytesMax: 8, recordBytesMax: 100, requestRecordsMax: 3 } });
    await broker.createTopic({ name: 't', partitionCount: 2 });
    expect((await codeOf(broker.produce({ topic: 'nope', records: [rec('k', 'v')] }, context))).code).toBe('TOPIC_NOT_FOUND');
    expect((await codeOf(broker.produce({ topic: 't', partition: 2, records: [rec('k', 'v')] }, context))).code).toBe('PARTITION_NOT_FOUND');
    expect((await codeOf(broker.produce({ topic: 't', records: [rec('a-long-key', 'v')] }, context))).code).toBe('RECORD_TOO_LARGE');
    expect((await codeOf(broker.produce({ topic: 't', records: [rec('k', 'x'.repeat(200))] }, context))).code).toBe('RECORD_TOO_LARGE');
    expect((await codeOf(broker.produce({ topic: 't', records: [rec('a', '1'), rec('b', '2'), rec('c', '3'), rec('d', '4')] }, context))).code).toBe(
      'REQUEST_TOO_LARGE',
    );
    expect((await codeOf(broker.produce({ topic: 't', records: [] }, context))).code).toBe('INVALID_ARGUMENT');
    expect(broker.describeTopic('t').partitions.map((p) => p.logEndOffset)).toEqual([0, 0]);
  });

  it('validates topic names, partition counts and settings on create', async () => {
    const broker = startBroker();
    expect((await codeOf(broker.createTopic({ name: 'bad name', partitionCount: 1 }))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(broker.createTopic({ name: '..', partitionCount: 1 }))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(broker.createTopic({ name: 'x'.repeat(250), partitionCount: 1 }))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(broker.createTopic({ name: 'ok', partitionCount: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await codeOf(broker.createTopic({ name: 'ok', partitionCount: 1, config: { retentionMs: 'soon' } }))).code).toBe('INVALID_CONFIG');
    await broker.createTopic({ name: 'ok', partitionCount: 1, config: { durability: 'interval' } });
    expect(broker.describeTopic('ok').config.durability).toBe('interval');
    expect((await codeOf(broker.createTopic({ name: 'ok', partitionCount: 1 }))).code).toBe('TOPIC_EXISTS');
  });

  it('auto-creates a topic on first produce only when enabled', async () => {
    const off = startBroker();
    expect((await codeOf(off.produce({ topic: 'auto', records: [rec('k', 'v')] }, context))).code).toBe('TOPIC_NOT_FOUND');
    const on = startBroker({ settings: { autoCreateTopics: true, defaultPartitionCount: 3 } });
    await on.produce({ topic: 'auto', records: [rec('k', 'v')] }, context);
    expect(on.describeTopic('auto').partitionCount).toBe(3);
  });

  it('deduplicates an idempotent producer retry, also after a restart', async () => {
    const dataDir = path.join(tempDir(), 'data');
    let broker = startBroker({ dataDir });
    await broker.createTopic({ name: 'pay', partitionCount: 2 });
    const producer = await broker.initProducer();
    const batch = (baseSequence: number, values: string[]) => ({
      topic: 'pay',
      producer,
      partitions: [{ partition: 1, baseSequence, records: values.map((v) => rec('k', v)) }],
    });
    const first = await broker.produce(batch(0, ['a', 'b']), context);
    const retry = await broker.produce(batch(0, ['a', 'b']), context);
    expect(retry.appends[0]).toMatchObject({ baseOffset: first.appends[0]!.baseOffset, duplicate: true });
    expect((await codeOf(broker.produce(batch(5, ['x']), context))).code).toBe('OUT_OF_ORDER_SEQUENCE');
    await broker.produce(batch(2, ['c']), context);
    await broker.close();

    broker = startBroker({ dataDir });
    expect((await broker.produce(batch(2, ['c']), context)).appends[0]).toMatchObject({ baseOffset: 2, duplicate: true });
    expect(broker.describeTopic('pay').partitions[1]!.logEndOffset).toBe(3);
    // New ids never repeat across restarts.
    expect((await broker.initProducer()).producerId).toBeGreaterThan(producer.producerId);
  });

  it('long-polls a fetch until a record arrives, and returns empty when the wait ends', async () => {
    const broker = startBroker();
    await broker.createTopic({ name: 'tail', partitionCount: 1 });
    const started = Date.now();
    const empty = await broker.fetch({ topic: 'tail', partition: 0, offset: 0, maxBytes: 1024, maxWaitMs: 100 });
    expect(empty.records).toHaveLength(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    const waiting = broker.fetch({ topic: 'tail', partition: 0, offset: 0, maxBytes: 1024, maxWaitMs: 10_000 });
    await broker.produce({ topic: 'tail', records: [rec('k', 'hello')] }, context);
    const result = await waiting;
    expect(result.records.map((r) => r.value!.toString())).toEqual(['hello']);
    expect((await codeOf(broker.fetch({ topic: 'tail', partition: 0, offset: 5, maxBytes: 1024, maxWaitMs: 0 }))).details).toMatchObject({
      logStartOffset: 0,
      highWatermark: 1,
    });
  });

  it('throttles a client over its records/s quota with a retry hint, and lets it through after', async () => {
    const clock = new ManualClock(Date.now());
    const broker = startBroker({ settings: { producerRecordsPerSecondMax: 10 }, clock });
    await broker.createTopic({ name: 'q', partitionCount: 1 });
    await broker.produce({ topic: 'q', records: Array.from({ length: 10 }, (_, i) => rec('k', `v${i}`)) }, context);
    const throttled = await codeOf(broker.produce({ topic: 'q', records: [rec('k', 'more')] }, context));
    expect(throttled.code).toBe('THROTTLED');
    expect(throttled.retriable).toBe(true);
    expect(throttled.details.retryAfterMs).toBeGreaterThan(0);
    // Another client id has its own bucket.
    await broker.produce({ topic: 'q', records: [rec('k', 'other')] }, { ...context, clientId: 'other' });
    clock.advance(200);
    await broker.produce({ topic: 'q', records: [rec('k', 'later')] }, context);
  });

  it('answers BROKER_BUSY when produce bytes in flight exceed the connection budget', async () => {
    const broker = startBroker({ settings: { connectionInFlightProduceBytesMax: 64 * 1024, inFlightProduceBytesMax: 1024 * 1024 } });
    await broker.createTopic({ name: 'busy', partitionCount: 1 });
    const big = () => ({ topic: 'busy', records: [rec('k', 'x'.repeat(40 * 1024))] });
    const first = broker.produce(big(), context);
    const second = await codeOf(broker.produce(big(), context));
    expect(second.code).toBe('BROKER_BUSY');
    expect(second.details.retryAfterMs).toBeGreaterThan(0);
    await first;
    await broker.produce(big(), context);
  });

  it('with fullPolicy reject refuses records once a partition is full; drop-oldest deletes old segments instead', async () => {
    const limits = { segmentBytesMax: 64 * 1024, retentionBytes: 128 * 1024, batchBytesMax: 32 * 1024 };
    const broker = startBroker();
    await broker.createTopic({ name: 'full', partitionCount: 1, config: { ...limits, fullPolicy: 'reject' } });
    await broker.createTopic({ name: 'ring', partitionCount: 1, config: { ...limits, fullPolicy: 'drop-oldest' } });
    const value = 'x'.repeat(4000);
    let refused: BrokerError | undefined;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        await broker.produce({ topic: 'full', records: [rec('k', value)] }, context);
      } catch (error) {
        refused = error as BrokerError;
      }
    }
    expect(refused?.code).toBe('TOPIC_FULL');
    expect(refused?.retriable).toBe(true);
    for (let i = 0; i < 100; i++) await broker.produce({ topic: 'ring', records: [rec('k', value)] }, context);
    const ring = broker.describeTopic('ring').partitions[0]!;
    expect(ring.logStartOffset).toBeGreaterThan(0);
    expect(ring.sizeBytes).toBeLessThanOrEqual(128 * 1024 + 64 * 1024);
  });

  it('lists offsets: earliest, latest and by timestamp', async () => {
    const broker = startBroker();
    await broker.createTopic({ name: 'time', partitionCount: 1 });
    await broker.produce({ topic: 'time', records: [rec('k', 'a', 1000), rec('k', 'b', 2000), rec('k', 'c', 3000)] }, context);
    expect(broker.listOffsets({ topic: 'time', spec: { earliest: true } })[0]!.offset).toBe(0);
    expect(broker.listOffsets({ topic: 'time', spec: { latest: true } })[0]!.offset).toBe(3);
    expect(broker.listOffsets({ topic: 'time', spec: { timestampMs: 1500 } })[0]!.offset).toBe(1);
    expect(broker.listOffsets({ topic: 'time', spec: { timestampMs: 9999 } })[0]!.offset).toBe(3);
  });

  it('keeps topics and records across a restart, and a deleted topic stays deleted', async () => {
    const dataDir = path.join(tempDir(), 'data');
    let broker = startBroker({ dataDir });
    await broker.createTopic({ name: 'keep', partitionCount: 2 });
    await broker.createTopic({ name: 'drop', partitionCount: 1 });
    await broker.produce({ topic: 'keep', records: [rec('a', '1'), rec('b', '2')] }, context);
    await broker.deleteTopic('drop');
    await broker.close();
    broker = startBroker({ dataDir });
    expect(broker.listTopics().map((t) => t.name)).toEqual(['keep']);
    const total = broker.describeTopic('keep').partitions.reduce((n, p) => n + p.logEndOffset, 0);
    expect(total).toBe(2);
    await broker.createTopic({ name: 'drop', partitionCount: 1 });
    expect(broker.describeTopic('drop').partitions[0]!.logEndOffset).toBe(0);
  });

  it('lets appends under way finish before it closes the logs', async () => {
    const dataDir = path.join(tempDir(), 'data');
    let broker = startBroker({ dataDir });
    await broker.createTopic({ name: 'busy', partitionCount: 4 });
    const events: string[] = [];
    const produced = ['a', 'b', 'c', 'd'].map((key) => broker.produce({ topic: 'busy', records: [rec(key, key)] }, context).then(() => events.push(`acknowledged ${key}`)));
    await broker.close();
    events.push('closed');
    await Promise.all(produced);
    expect(events.at(-1)).toBe('closed');
    expect(events.slice(0, -1).sort()).toEqual(['acknowledged a', 'acknowledged b', 'acknowledged c', 'acknowledged d']);
    broker = startBroker({ dataDir });
    expect(broker.describeTopic('busy').partitions.reduce((n, p) => n + p.logEndOffset, 0)).toBe(4);
  });

  it('acknowledges small always appends to many partitions with one journal sync, large ones with their own segment syncs', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const io = new FaultyFileIO(nodeFileIO);
    const broker = startBroker({ dataDir, io, settings: { journalAppendBytesMax: 32 * 1024 } });
    await broker.createTopic({ name: 'wide', partitionCount: 8 });
    const keys = Array.from({ length: 64 }, (_, i) => `key-${i}`);
    expect(new Set(keys.map((key) => partitionForKey(Buffer.from(key), 8))).size).toBe(8);
    const journalBytes = (): number => fs.readdirSync(path.join(dataDir, 'journal')).reduce((sum, name) => sum + fs.statSync(path.join(dataDir, 'journal', name)).size, 0);

    let syncs = io.calls.fdatasync;
    await broker.produce({ topic: 'wide', records: keys.map((key) => rec(key, 'small')) }, context);
    expect(io.calls.fdatasync - syncs).toBe(1);
    const afterSmall = journalBytes();
    expect(afterSmall).toBeGreaterThan(64 * 'small'.length);

    syncs = io.calls.fdatasync;
    await broker.produce({ topic: 'wide', records: keys.map((key) => rec(key, 'x'.repeat(40 * 1024))) }, context);
    expect(io.calls.fdatasync - syncs).toBe(8);
    expect(journalBytes()).toBe(afterSmall);

    // The metrics say the same; the longest sync is reported once per scrape.
    const scrape = async (): Promise<Map<string, number>> => {
      const lines = (await broker.metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('sluice_journal_'));
      return new Map(lines.map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]));
    };
    const first = await scrape();
    expect(first.get('sluice_journal_syncs_total')).toBe(1);
    expect(first.get('sluice_journal_written_bytes_total')).toBe(afterSmall);
    expect(first.get('sluice_journal_skipped_appends_total{reason="size"}')).toBe(8);
    expect(first.get('sluice_journal_skipped_appends_total{reason="rate"}')).toBe(0);
    expect(first.get('sluice_journal_sync_seconds_max')).toBeGreaterThan(0);
    expect(first.get('sluice_journal_sync_seconds_total')).toBeGreaterThanOrEqual(first.get('sluice_journal_sync_seconds_max')!);
    expect(first.get('sluice_journal_files')).toBe(1);
    expect((await scrape()).get('sluice_journal_sync_seconds_max')).toBe(0);

    // One journal file while running, none after a clean shutdown.
    expect(fs.readdirSync(path.join(dataDir, 'journal'))).toHaveLength(1);
    await broker.close();
    expect(fs.readdirSync(path.join(dataDir, 'journal'))).toEqual([]);
  });

  it('refuses requests with SHUTTING_DOWN once closing', async () => {
    const broker = startBroker();
    await broker.createTopic({ name: 's', partitionCount: 1 });
    await broker.close();
    expect((await codeOf(broker.produce({ topic: 's', records: [rec('k', 'v')] }, context))).code).toBe('SHUTTING_DOWN');
  });
});
