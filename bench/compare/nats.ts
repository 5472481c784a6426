/**
 * NATS JetStream in the comparison: Debian's `nats-server` (installed with apt-get when missing) run
 * directly with `-js` and its file store in the temporary directory, through the `nats` client.
 *
 * Partitions: one stream per topic with a subject per partition (`<topic>.<p>`), the key's hash
 * choosing the subject; the key rides in a header (`k`), as a JetStream user keeps it. Producing uses
 * async publish with a window (chunks of 1000 publishes, 4 chunks unanswered); consuming a pull
 * consumer with explicit per-message acks (the usual choice for work queues: AckAll would acknowledge
 * records a concurrent handler has not finished), `max_ack_pending` raised to 20,000 from the default
 * 1,000 so that acks do not limit the pull window.
 *
 * Durability: nats-server 2.9 has no `sync_interval` setting (it came with 2.10, `sync_interval:
 * always` with it). Its file store writes each message to the OS before the publish is acknowledged
 * and fsyncs in the background on a timer (minutes, not milliseconds). So it has no row at the
 * `always` level, and its `interval` row is weaker than Sluice's (200 ms) and Redis's (1 s).
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  StorageType,
  connect,
  headers,
} from 'nats';
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

const PUBLISH_CHUNK_RECORDS = 1000;
const PUBLISH_WINDOW = 4;
const PULL_BATCH_MESSAGES = 1000;
const ACK_PENDING_MAX = 20_000;
const DRAIN_WAIT_MS = 5_000;

function describeDurability(durability: Durability): DurabilitySetting {
  return durability === 'always'
    ? {
        label: 'no sync-always in nats-server 2.9',
        matched: false,
        note: 'nats-server 2.9.10 rejects sync_interval (added in 2.10); its file store cannot fsync before acknowledging, so JetStream has no row at "always"',
      }
    : { label: 'file store, default background fsync (timer, minutes)', matched: true };
}

async function start(options: { durability: Durability; dataDir: string }): Promise<ServerHandle> {
  const binary = ensureBinary('nats-server', 'nats-server');
  const port = await freePort();
  const child = startChild(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', options.dataDir]);
  await waitUntilReady(child, 'nats-server', async () => {
    const probe = await connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 1000 });
    try {
      await (await probe.jetstreamManager()).getAccountInfo();
    } finally {
      await probe.close();
    }
  });
  return { endpoint: { host: '127.0.0.1', port }, pid: child.pid, stop: () => child.stop() };
}

function subjectsOf(topic: string, partitionCount: number): string[] {
  return Array.from({ length: partitionCount }, (_, p) => `${topic}.${p}`);
}

class NatsBenchClient implements SystemClient {
  private constructor(
    private readonly connection: NatsConnection,
    private readonly manager: JetStreamManager,
    private readonly jetstream: JetStreamClient,
  ) {}

  static async open(endpoint: Endpoint): Promise<NatsBenchClient> {
    const connection = await connect({ servers: `${endpoint.host}:${endpoint.port}` });
    return new NatsBenchClient(connection, await connection.jetstreamManager(), connection.jetstream());
  }

  async createTopic(spec: TopicSpec): Promise<void> {
    await this.manager.streams.add({ name: spec.name, subjects: [`${spec.name}.*`], storage: StorageType.File, num_replicas: 1 });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.manager.streams.delete(name);
  }

  async produce(spec: ProduceSpec): Promise<ProduceOutcome> {
    const value = fillerValue(spec.valueBytes);
    const subjects = subjectsOf(spec.topic, spec.partitionCount);
    const keys = Array.from({ length: spec.keyCount }, (_, i) => keyName(i, spec.keyCount));
    const keySubjects = keys.map((key) => subjects[partitionOf(key, spec.partitionCount)]!);
    const startedAtMs = nowMs();
    await runWindowed({
      total: spec.recordCount,
      chunkRecords: PUBLISH_CHUNK_RECORDS,
      window: PUBLISH_WINDOW,
      sendChunk: (first, count) =>
        Promise.all(
          Array.from({ length: count }, (_, i) => {
            const keyIndex = (spec.firstKey + first + i) % spec.keyCount;
            const header = headers();
            header.set('k', keys[keyIndex]!);
            return this.jetstream.publish(keySubjects[keyIndex]!, value, { headers: header });
          }),
        ),
    });
    return { recordCount: spec.recordCount, startedAtMs, endedAtMs: nowMs() };
  }

  private async pull(topic: string, group: string, options: { maxMessages: number; deliverPolicy: DeliverPolicy }): Promise<ConsumerMessages> {
    await this.manager.consumers.add(topic, {
      durable_name: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: options.deliverPolicy,
      max_ack_pending: ACK_PENDING_MAX,
    });
    const consumer = await this.jetstream.consumers.get(topic, group);
    return consumer.consume({ max_messages: options.maxMessages });
  }

  async consume(spec: ConsumeSpec): Promise<ConsumeOutcome> {
    const startedAt = nowMs();
    const messages = await this.pull(spec.topic, spec.group, { maxMessages: PULL_BATCH_MESSAGES, deliverPolicy: DeliverPolicy.All });
    let received = 0;
    let firstAtMs = 0;
    for await (const message of messages) {
      if (received === 0) firstAtMs = nowMs();
      message.ack();
      if (++received >= spec.recordCount) break;
    }
    await this.connection.flush();
    const elapsedMs = nowMs() - startedAt;
    // stop(), not close(): after the loop broke off, close() never resolves (nats 2.29).
    messages.stop();
    return { recordCount: received, elapsedMs, firstRecordMs: firstAtMs - startedAt };
  }

  async latency(spec: LatencySpec): Promise<LatencyOutcome> {
    const startedAt = nowMs();
    const recorder = new LatencyRecorder(startedAt + Math.min(1000, spec.durationMs / 5));
    const messages = await this.pull(spec.topic, spec.group, { maxMessages: PULL_BATCH_MESSAGES, deliverPolicy: DeliverPolicy.New });
    const readLoop = (async () => {
      for await (const message of messages) {
        recorder.record(message.data);
        message.ack();
      }
    })();
    try {
      const subjects = subjectsOf(spec.topic, spec.partitionCount);
      const filler = fillerValue(spec.valueBytes);
      let keyIndex = 0;
      const offeredCount = await offerAtRate({
        ratePerSecond: spec.ratePerSecond,
        durationMs: spec.durationMs,
        emit: (count) =>
          Promise.all(
            Array.from({ length: count }, () => {
              const key = keyName(keyIndex++, spec.keyCount);
              const header = headers();
              header.set('k', key);
              return this.jetstream.publish(subjects[partitionOf(key, spec.partitionCount)]!, timestampedValue(filler), { headers: header });
            }),
          ),
      });
      recorder.expect(offeredCount);
      await waitAtMost(recorder.done, DRAIN_WAIT_MS);
      return { offeredCount, receivedCount: recorder.receivedCount, latenciesMs: recorder.latencies() };
    } finally {
      // Also when the offer failed (the system fell behind): the consumer must stop before the runner deletes its stream.
      messages.stop();
      await readLoop;
    }
  }

  async slowConsume(spec: SlowConsumeSpec): Promise<number> {
    const perRecordMs = 1000 / spec.ratePerSecond;
    const messages = await this.pull(spec.topic, spec.group, { maxMessages: 100, deliverPolicy: DeliverPolicy.All });
    const deadline = nowMs() + spec.durationMs;
    let received = 0;
    for await (const message of messages) {
      await new Promise((resolve) => setTimeout(resolve, perRecordMs));
      message.ack();
      received++;
      if (nowMs() >= deadline) break;
    }
    messages.stop();
    return received;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

export const natsAdapter: SystemAdapter = {
  name: 'nats',
  describeDurability,
  start,
  connect: (endpoint) => NatsBenchClient.open(endpoint),
};
