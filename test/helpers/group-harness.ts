/**
 * A group coordinator over real partitions (in-memory logs) and a real metadata store, on a manual
 * clock, with recording member sinks: for testing consumer-group behaviour in milliseconds.
 */
import { ManualClock, silentLogger } from '../../src/base/index.js';
import { brokerSettings, topicConfig } from '../../src/config.js';
import { GroupCoordinator, type DeadLetterRequest, type DeliveredRecord, type Delivery, type JoinRequest, type MemberSink, type OffsetRange, type TopicPartition, deliveredRecords } from '../../src/group/index.js';
import type { MetaStore } from '../../src/meta/index.js';
import { TopicRegistry } from '../../src/partition/index.js';
import { MemoryFileIO } from '../../src/storage/index.js';
import { openMetaStore } from './meta-store.js';

export class RecordingMember implements MemberSink {
  memberId = '';
  generation = 0;
  partitions: TopicPartition[] = [];
  received: (DeliveredRecord & { topic: string; partition: number })[] = [];
  closedWith: { code: string; message: string } | undefined;

  assignment(event: { generation: number; partitions: TopicPartition[] }): void {
    this.generation = event.generation;
    this.partitions = event.partitions;
  }

  /** Every delivery as it came (its record batches and offsets). */
  deliveries: Delivery[] = [];

  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
    for (const record of deliveredRecords(delivery)) this.received.push({ ...record, topic: delivery.topic, partition: delivery.partition });
  }

  closed(reason: { code: string; message: string }): void {
    this.closedWith = reason;
  }

  /** Values received for one partition, in delivery order. */
  values(partition?: number): string[] {
    return this.received.filter((r) => partition === undefined || r.partition === partition).map((r) => r.value!.toString());
  }

  take(): (DeliveredRecord & { topic: string; partition: number })[] {
    return this.received.splice(0);
  }
}

export interface GroupHarness {
  clock: ManualClock;
  meta: MetaStore;
  topics: TopicRegistry;
  coordinator: GroupCoordinator;
  deadLetters: DeadLetterRequest[];
  produce(topic: string, partition: number, values: string[]): Promise<void>;
  join(request: Partial<JoinRequest> & { topics: string[] }, member?: RecordingMember): RecordingMember;
  /** Lets scheduled deliveries and metadata writes run. */
  settle(): Promise<void>;
  restartCoordinator(): GroupCoordinator;
}

export async function groupHarness(options: { partitions?: number; settings?: Record<string, unknown>; topicConfig?: Record<string, unknown> } = {}): Promise<GroupHarness> {
  const clock = new ManualClock(1_700_000_000_000);
  const { store: meta } = openMetaStore({ clock });
  const settings = brokerSettings({ groupTickIntervalMs: 100, retryBackoffMs: 100, ...options.settings });
  const topics = TopicRegistry.open({
    dataDir: '/data',
    meta,
    topicDefaults: topicConfig({ durability: 'never', ...options.topicConfig }),
    limits: settings,
    clock,
    logger: silentLogger,
    io: new MemoryFileIO(),
  });
  await topics.create({ name: 'jobs', partitionCount: options.partitions ?? 2 });
  const deadLetters: DeadLetterRequest[] = [];
  const makeCoordinator = () =>
    new GroupCoordinator({
      topics,
      meta,
      settings,
      clock,
      logger: silentLogger,
      deadLetter: (request) => {
        deadLetters.push(request);
        return Promise.resolve();
      },
      maxDeliveryAttempts: (topic) => topics.require(topic).config.maxDeliveryAttempts,
    });
  const harness: GroupHarness = {
    clock,
    meta,
    topics,
    coordinator: makeCoordinator(),
    deadLetters,
    async produce(topic, partition, values) {
      await topics.partition(topic, partition).append({
        records: values.map((value) => ({ key: Buffer.from(value), value: Buffer.from(value), headers: [], timestampMs: clock.nowMs() })),
      });
    },
    join(request, member = new RecordingMember()) {
      const joined = harness.coordinator.join({ group: 'workers', clientId: 'test', ...request }, member);
      member.memberId = joined.memberId;
      return member;
    },
    async settle() {
      // Deliveries run on setImmediate; metadata writes (some flushed to disk) take real milliseconds.
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    restartCoordinator() {
      harness.coordinator = makeCoordinator();
      return harness.coordinator;
    },
  };
  return harness;
}

/** Offsets as the ranges an ack carries (ascending, consecutive offsets joined). */
export function rangesOf(offsets: readonly number[]): OffsetRange[] {
  const ranges: OffsetRange[] = [];
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && offset === last.last + 1) last.last = offset;
    else if (last === undefined || offset > last.last) ranges.push({ first: offset, last: offset });
  }
  return ranges;
}
