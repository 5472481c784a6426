/**
 * Redis Streams in the comparison: Debian's `redis-server` (installed with apt-get when missing) run
 * directly on a free port with AOF on and RDB snapshots off, through ioredis.
 *
 * Partitions: one stream per partition (`<topic>:<p>`), the key's hash choosing the stream, which is
 * what a Redis user does for per-key order with parallel consumers: a consumer group on a single
 * stream hands consecutive entries of one key to different consumers. Each entry is `k <key> v <value>`.
 *
 * Automatic AOF rewrites are off (`auto-aof-rewrite-percentage 0`): a rewrite forks the server, which
 * would double its memory in the RSS workload and leave a child behind when the benchmark is stopped.
 */
import { Redis } from 'ioredis';
import {
  type ConsumeOutcome,
  type ConsumeSpec,
  type Durability,
  type DurabilitySetting,
  type Endpoint,
  LatencyRecorder,
  type LatencyOutcome,
  type LatencySpec,
  type ProduceOutcome,
  type ProduceSpec,
  type ServerHandle,
  type SlowConsumeSpec,
  type SystemAdapter,
  type SystemClient,
  type TopicSpec,
  fillerValue,
  keyName,
  nowMs,
  offerAtRate,
  partitionOf,
  runWindowed,
  timestampedValue,
  waitAtMost,
} from './workload.js';
import { ensureBinary, freePort, startChild, waitUntilReady } from './processes.js';

/** Pipelines of 1000 XADDs, 4 unanswered at once (the reference setting). */
const PIPELINE_RECORDS = 1000;
const PIPELINE_WINDOW = 4;
const READ_COUNT = 1000;
const LATENCY_BLOCK_MS = 100;
const DRAIN_WAIT_MS = 5_000;

function describeDurability(durability: Durability): DurabilitySetting {
  return durability === 'always'
    ? { label: 'appendonly yes, appendfsync always', matched: true }
    : { label: 'appendonly yes, appendfsync everysec', matched: true };
}

async function start(options: { durability: Durability; dataDir: string }): Promise<ServerHandle> {
  const binary = ensureBinary('redis-server', 'redis-server');
  const port = await freePort();
  const child = startChild(binary, [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', options.dataDir,
    '--appendonly', 'yes',
    '--appendfsync', options.durability === 'always' ? 'always' : 'everysec',
    '--auto-aof-rewrite-percentage', '0',
    '--save', '',
    '--daemonize', 'no',
    '--logfile', '',
  ]);
  await waitUntilReady(child, 'redis-server', async () => {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens: the probe's rejection says so
    try {
      await probe.connect();
      await probe.ping();
    } finally {
      probe.disconnect();
    }
  });
  return { endpoint: { host: '127.0.0.1', port }, pid: child.pid, stop: () => child.stop() };
}

function streamNames(topic: string, partitionCount: number): string[] {
  return Array.from({ length: partitionCount }, (_, p) => `${topic}:${p}`);
}

/** XREADGROUP's reply in RESP2: [[stream, [[id, [field, value, ...]], ...]], ...], or null when nothing came. */
type ReadReply = [Buffer, [Buffer, Buffer[]][]][] | null;

class RedisBenchClient implements SystemClient {
  private readonly connections: Redis[] = [];

  constructor(private readonly endpoint: Endpoint) {}

  /** A new connection (RESP2, as ioredis speaks to most deployed servers); closed by `close`. */
  open(): Redis {
    const redis = new Redis({ host: this.endpoint.host, port: this.endpoint.port, protocol: 2, maxRetriesPerRequest: 0, enableOfflineQueue: true });
    this.connections.push(redis);
    return redis;
  }

  /** Closes a connection `open` made for one workload. */
  release(redis: Redis): void {
    redis.disconnect();
    const index = this.connections.indexOf(redis);
    if (index >= 0) this.connections.splice(index, 1);
  }

  private get main(): Redis {
    return this.connections[0] ?? this.open();
  }

  async createTopic(spec: TopicSpec): Promise<void> {
    // Streams come into being with their first XADD; a group can also make one (MKSTREAM).
    await this.main.del(...streamNames(spec.name, spec.partitionCount));
  }

  async deleteTopic(name: string): Promise<void> {
    const streams = await this.main.keys(`${name}:*`);
    if (streams.length > 0) await this.main.del(...streams);
  }

  async produce(spec: ProduceSpec): Promise<ProduceOutcome> {
    const redis = this.open();
    const value = fillerValue(spec.valueBytes);
    const streams = streamNames(spec.topic, spec.partitionCount);
    const keys = Array.from({ length: spec.keyCount }, (_, i) => keyName(i, spec.keyCount));
    const keyStreams = keys.map((key) => streams[partitionOf(key, spec.partitionCount)]!);
    const startedAtMs = nowMs();
    await runWindowed({
      total: spec.recordCount,
      chunkRecords: PIPELINE_RECORDS,
      window: PIPELINE_WINDOW,
      sendChunk: async (first, count) => {
        const pipeline = redis.pipeline();
        for (let i = 0; i < count; i++) {
          const keyIndex = (spec.firstKey + first + i) % spec.keyCount;
          pipeline.xadd(keyStreams[keyIndex]!, '*', 'k', keys[keyIndex]!, 'v', value);
        }
        const replies = await pipeline.exec();
        const failed = replies?.find(([error]) => error !== null);
        if (failed) throw failed[0]!;
      },
    });
    return { recordCount: spec.recordCount, startedAtMs, endedAtMs: nowMs() };
  }

  private async createGroup(redis: Redis, streams: readonly string[], group: string, from: '0' | '$'): Promise<void> {
    for (const stream of streams) await redis.call('XGROUP', 'CREATE', stream, group, from, 'MKSTREAM');
  }

  /** One XREADGROUP over all the streams, then one XACK per stream that returned entries (not awaited: it rides before the next read). */
  private async readAndAck(options: { redis: Redis; streams: readonly string[]; group: string; blockMs?: number; onEntry: (fields: Buffer[]) => void }): Promise<number> {
    const { redis, streams, group } = options;
    const block = options.blockMs === undefined ? [] : ['BLOCK', options.blockMs];
    const reply = (await redis.callBuffer('XREADGROUP', 'GROUP', group, 'bench', 'COUNT', READ_COUNT, ...block, 'STREAMS', ...streams, ...streams.map(() => '>'))) as ReadReply;
    if (reply === null) return 0;
    let count = 0;
    for (const [stream, entries] of reply) {
      if (entries.length === 0) continue;
      for (const [, fields] of entries) options.onEntry(fields);
      count += entries.length;
      void redis.callBuffer('XACK', stream, group, ...entries.map(([id]) => id)).catch(() => undefined);
    }
    return count;
  }

  async consume(spec: ConsumeSpec): Promise<ConsumeOutcome> {
    const redis = this.open();
    const streams = streamNames(spec.topic, spec.partitionCount);
    await this.createGroup(redis, streams, spec.group, '0');
    let received = 0;
    let firstAtMs = 0;
    const startedAt = nowMs();
    while (received < spec.recordCount) {
      const count = await this.readAndAck({ redis, streams, group: spec.group, blockMs: 1000, onEntry: () => undefined });
      if (received === 0 && count > 0) firstAtMs = nowMs();
      received += count;
    }
    await redis.ping(); // every XACK sent before it has been answered
    return { recordCount: received, elapsedMs: nowMs() - startedAt, firstRecordMs: firstAtMs - startedAt };
  }

  async latency(spec: LatencySpec): Promise<LatencyOutcome> {
    const producer = this.open();
    const reader = this.open();
    const streams = streamNames(spec.topic, spec.partitionCount);
    await this.createGroup(reader, streams, spec.group, '$');
    const startedAt = nowMs();
    const recorder = new LatencyRecorder(startedAt + Math.min(1000, spec.durationMs / 5));
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        await this.readAndAck({ redis: reader, streams, group: spec.group, blockMs: LATENCY_BLOCK_MS, onEntry: (fields) => recorder.record(fields[3]) });
      }
    })();
    try {
      const filler = fillerValue(spec.valueBytes);
      let keyIndex = 0;
      const offeredCount = await offerAtRate({
        ratePerSecond: spec.ratePerSecond,
        durationMs: spec.durationMs,
        emit: (count) => {
          const pipeline = producer.pipeline();
          for (let i = 0; i < count; i++) {
            const key = keyName(keyIndex++, spec.keyCount);
            pipeline.xadd(streams[partitionOf(key, spec.partitionCount)]!, '*', 'k', key, 'v', timestampedValue(filler));
          }
          return pipeline.exec();
        },
      });
      recorder.expect(offeredCount);
      await waitAtMost(recorder.done, DRAIN_WAIT_MS);
      return { offeredCount, receivedCount: recorder.receivedCount, latenciesMs: recorder.latencies() };
    } finally {
      // Also when the offer failed (the system fell behind): the loop must end before the runner deletes its streams.
      reading = false;
      await readLoop;
    }
  }

  async slowConsume(spec: SlowConsumeSpec): Promise<number> {
    const redis = this.open();
    const streams = streamNames(spec.topic, spec.partitionCount);
    await this.createGroup(redis, streams, spec.group, '0');
    const perRecordMs = 1000 / spec.ratePerSecond;
    const deadline = nowMs() + spec.durationMs;
    let received = 0;
    while (nowMs() < deadline) {
      const reply = (await redis.callBuffer('XREADGROUP', 'GROUP', spec.group, 'slow', 'COUNT', 1, 'STREAMS', ...streams, ...streams.map(() => '>'))) as ReadReply;
      for (const [stream, entries] of reply ?? []) {
        for (const [id] of entries) {
          await new Promise((resolve) => setTimeout(resolve, perRecordMs));
          await redis.callBuffer('XACK', stream, spec.group, id);
          received++;
        }
      }
    }
    return received;
  }

  async close(): Promise<void> {
    for (const redis of this.connections.splice(0)) redis.disconnect();
    await Promise.resolve();
  }
}

export const redisAdapter: SystemAdapter = {
  name: 'redis',
  describeDurability,
  start,
  async connect(endpoint) {
    const client = new RedisBenchClient(endpoint);
    await client.open().ping();
    return client;
  },
};
