/**
 * Sluice in the comparison as users run it: the built broker (`dist/main.js`, what `npm start`
 * runs) on a temporary data directory, driven through the built client library
 * (`dist/client/index.js`: producer, consumer, admin); `npm run bench:compare` builds both first.
 * Durability is a topic setting, given when the benchmark creates each topic. Keys route with the
 * client's own partitioner (murmur2).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as ClientLibrary from '../../src/client/index.js';
import type { Admin, Consumer, Sluice } from '../../src/client/index.js';
import { startBrokerProcess } from '../grpc-processes.js';
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
  runWindowed,
  timestampedValue,
  waitAtMost,
} from './workload.js';

/** Records per `send` call and calls unanswered at once; the producer regroups them per partition into batches of up to 1000. */
const SEND_CHUNK_RECORDS = 1000;
const SEND_WINDOW = 16;
/**
 * Batches of at most 256 KiB: a request carries one batch per partition, and with the producer's
 * default 1 MiB batches 1 KiB records made 8 MiB requests, twice the broker's 4 MiB HTTP/2 window,
 * and producer and broker each sat idle about half the time. Measured here (dist, one producer
 * process, 200k x 1 KiB, 8 partitions, interval, 4 runs each, twice): 1 MiB batches 102-147k
 * records/s, 256 KiB 146-173k; 100 B batches (1000 records, ~120 KB) are below either limit.
 */
const PRODUCER_OPTIONS = { lingerMs: 2, batchRecordsMax: 1000, batchBytesMax: 256 * 1024, inFlightMax: 16 } as const;
/**
 * For the latency workload: a 1 ms linger. With lingerMs 0 every 1 ms tick of the offered load is a
 * request of its own (about five records); with a 1 ms linger the next tick's records join the open
 * batches (1,898 requests in a 5 s run instead of 3,484), so there are fewer requests, deliveries and
 * acks for both processes to handle. Measured here (dist, 5k records/s, 100 B, interval, 10 s, two
 * runs each): lingerMs 0 p50 0.8 / p99 6.5-9.1 ms (broker 50% of a core), 1 ms p50 1.5 / p99
 * 5.4-6.3 ms (38%), 2 ms p99 7.6-8.7, 3 ms p99 8.0-9.5.
 */
const LATENCY_PRODUCER_OPTIONS = { lingerMs: 1, batchRecordsMax: 1000, inFlightMax: 16 } as const;
const DRAIN_WAIT_MS = 5_000;

const DIST_CLIENT = fileURLToPath(new URL('../../dist/client/index.js', import.meta.url));
const library = (await import(DIST_CLIENT)) as typeof ClientLibrary;

function describeDurability(durability: Durability): DurabilitySetting {
  return durability === 'always'
    ? { label: 'durability=always (fdatasync before ack, group commit)', matched: true }
    : { label: 'durability=interval (fsync every 200 ms)', matched: true };
}

async function start(options: { durability: Durability; dataDir: string }): Promise<ServerHandle> {
  const broker = await startBrokerProcess({ dataDir: path.join(options.dataDir, 'sluice'), build: 'dist' });
  const [host, port] = broker.address.split(':');
  return { endpoint: { host: host!, port: Number(port) }, pid: broker.pid, stop: () => broker.stop() };
}

class SluiceBenchClient implements SystemClient {
  private readonly sluice: Sluice;
  private readonly admin: Admin;

  constructor(endpoint: Endpoint) {
    this.sluice = new library.Sluice({ brokers: [`${endpoint.host}:${endpoint.port}`], clientId: 'bench-compare' });
    this.admin = this.sluice.admin();
  }

  async connect(): Promise<void> {
    await this.admin.connect();
    await this.admin.listTopics();
  }

  async createTopic(spec: TopicSpec): Promise<void> {
    await this.admin.createTopic({ name: spec.name, partitionCount: spec.partitionCount, config: { durability: spec.durability } });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.admin.deleteTopic(name);
  }

  async produce(spec: ProduceSpec): Promise<ProduceOutcome> {
    const producer = this.sluice.producer(PRODUCER_OPTIONS);
    await producer.connect();
    const value = fillerValue(spec.valueBytes);
    const keys = Array.from({ length: spec.keyCount }, (_, i) => Buffer.from(keyName(i, spec.keyCount)));
    const startedAtMs = nowMs();
    try {
      await runWindowed({
        total: spec.recordCount,
        chunkRecords: SEND_CHUNK_RECORDS,
        window: SEND_WINDOW,
        sendChunk: (first, count) =>
          producer.send({
            topic: spec.topic,
            messages: Array.from({ length: count }, (_, i) => ({ key: keys[(spec.firstKey + first + i) % spec.keyCount]!, value })),
          }),
      });
      await producer.flush();
      return { recordCount: spec.recordCount, startedAtMs, endedAtMs: nowMs() };
    } finally {
      await producer.disconnect();
    }
  }

  async consume(spec: ConsumeSpec): Promise<ConsumeOutcome> {
    // The broker's default window (memberInFlightMax 5,000 records, memberInFlightBytesMax 8 MiB), as users get it.
    const consumer = this.sluice.consumer({ groupId: spec.group, topics: [spec.topic], startFrom: 'earliest' });
    let received = 0;
    let firstAtMs = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const startedAt = nowMs();
    try {
      await consumer.run({
        partitionsConsumedConcurrently: spec.partitionCount,
        eachBatch: ({ batch }) => {
          if (received === 0) firstAtMs = nowMs();
          received += batch.messages.length;
          if (received >= spec.recordCount) resolveDone();
        },
      });
      await done;
      const endedAt = nowMs();
      return { recordCount: received, elapsedMs: endedAt - startedAt, firstRecordMs: firstAtMs - startedAt };
    } finally {
      await consumer.disconnect();
    }
  }

  async latency(spec: LatencySpec): Promise<LatencyOutcome> {
    const startedAt = nowMs();
    const recorder = new LatencyRecorder(startedAt + Math.min(1000, spec.durationMs / 5));
    const consumer = this.sluice.consumer({ groupId: spec.group, topics: [spec.topic], startFrom: 'earliest' });
    const producer = this.sluice.producer(LATENCY_PRODUCER_OPTIONS);
    try {
      await consumer.run({
        partitionsConsumedConcurrently: spec.partitionCount,
        eachBatch: ({ batch }) => {
          for (const message of batch.messages) recorder.record(message.value);
        },
      });
      await producer.connect();
      const filler = fillerValue(spec.valueBytes);
      let keyIndex = 0;
      const offeredCount = await offerAtRate({
        ratePerSecond: spec.ratePerSecond,
        durationMs: spec.durationMs,
        emit: (count) => {
          const messages = Array.from({ length: count }, () => ({ key: keyName(keyIndex++, spec.keyCount), value: timestampedValue(filler) }));
          return producer.send({ topic: spec.topic, messages });
        },
      });
      recorder.expect(offeredCount);
      await waitAtMost(recorder.done, DRAIN_WAIT_MS);
      return { offeredCount, receivedCount: recorder.receivedCount, latenciesMs: recorder.latencies() };
    } finally {
      await producer.disconnect();
      await consumer.disconnect();
    }
  }

  async slowConsume(spec: SlowConsumeSpec): Promise<number> {
    const perRecordMs = 1000 / spec.ratePerSecond;
    let received = 0;
    const consumer: Consumer = this.sluice.consumer({ groupId: spec.group, topics: [spec.topic], startFrom: 'earliest', inFlightMax: 100 });
    try {
      await consumer.run({
        eachMessage: async () => {
          received++;
          await new Promise((resolve) => setTimeout(resolve, perRecordMs));
        },
      });
      await new Promise((resolve) => setTimeout(resolve, spec.durationMs));
      return received;
    } finally {
      await consumer.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

export const sluiceAdapter: SystemAdapter = {
  name: 'sluice',
  describeDurability,
  start,
  async connect(endpoint) {
    const client = new SluiceBenchClient(endpoint);
    await client.connect();
    return client;
  },
};
