/**
 * Admin: the operations of the HTTP admin API (README "HTTP admin API"), typed, over gRPC: topics,
 * offsets, consumer groups (described with their lag), offset resets (replay), pausing, dead letters
 * and redrive. Shapes follow the HTTP API's JSON, except that keys and values are Buffers. Every
 * failure is a SluiceError with the broker's code (e.g. GROUP_NOT_EMPTY, OFFSET_OUT_OF_RANGE).
 *
 * Lifecycle: the connection opens on the first call (or `connect()`); `disconnect()` closes it.
 */
import type { Connection } from './connection.js';
import type { TopicPartition } from './consumer-session.js';
import type { CreateTopicRequest, ListOffsetsRequest, PartitionOffset, RecordHeader, RedriveRequest, TopicDescription } from './types.js';
import type * as wire from '../wire/index.js';

export interface GroupSummary {
  group: string;
  /** `active` while it has live members, else `empty`. */
  state: string;
  paused: boolean;
  memberCount: number;
  /** Sum of lagRecords over its partitions. */
  lagRecords: number;
}

export interface GroupMember {
  memberId: string;
  /** Set for a static member. */
  instanceId?: string;
  clientId: string;
  topics: string[];
  partitions: TopicPartition[];
  /** Records delivered to it and not yet acknowledged. */
  inFlight: number;
  /** A static member whose stream broke, keeping its partitions until its session expires. */
  disconnected: boolean;
  sessionExpiresInMs: number;
}

export interface GroupPartition {
  topic: string;
  partition: number;
  /** The next offset the group will consume. */
  committedOffset: number;
  logStartOffset: number;
  highWatermark: number;
  /** highWatermark - committedOffset. */
  lagRecords: number;
  /** Age of the oldest unconsumed record; 0 without lag. */
  lagSeconds: number;
  /** The member it is assigned to; absent when unassigned. */
  ownerMemberId?: string;
  inFlight: number;
  /** Present while a failed record waits for its retry (the partition is held up behind it). */
  retrying?: { offset: number; failedAttempts: number; retryInMs: number };
}

export interface GroupDescription {
  group: string;
  state: string;
  paused: boolean;
  /** Increases with every rebalance (and reset). */
  generation: number;
  strategy: string;
  members: GroupMember[];
  partitions: GroupPartition[];
}

export type ResetTarget = 'earliest' | 'latest' | { timestampMs: number } | { offsets: Readonly<Record<number, number>> };

export interface ResetGroupRequest {
  group: string;
  topic: string;
  to: ResetTarget;
  /** Reset even while the group has live members (they get a new generation). */
  force?: boolean;
  /** Only compute the plan. */
  dryRun?: boolean;
}

export interface ResetGroupResult {
  group: string;
  topic: string;
  dryRun: boolean;
  executed: boolean;
  plan: { partition: number; currentOffset?: number; newOffset: number; lagRecords: number }[];
}

export interface ListDeadLettersRequest {
  /** The source topic (its DLQ topic is read). */
  topic: string;
  partition?: number;
  fromOffset?: number;
  errorContains?: string;
  /** 1 to 1000; default 100. */
  limit?: number;
}

export interface DeadLetterProvenance {
  topic: string;
  partition: number;
  offset: number;
  group: string;
  attempts: number;
  /** nack, timeout, member-died or reject. */
  cause: string;
  error: string;
  errorClass: string;
  firstFailureMs: number;
  lastFailureMs: number;
  redriveCount: number;
}

export interface DeadLetter {
  /** Partition and offset in the DLQ topic. */
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Every header as stored: the original ones and the `sluice.dlq.*` provenance. */
  headers: RecordHeader[];
  /** null for a record of the DLQ topic that is not a dead letter. */
  provenance: DeadLetterProvenance | null;
}

export interface ListDeadLettersResult {
  topic: string;
  dlqTopic: string;
  deadLetters: DeadLetter[];
}

export interface RedriveResult {
  dlqTopic: string;
  /** Same selection, same job: a re-run continues where the last one stopped. */
  jobId: string;
  dryRun: boolean;
  movedCount: number;
  skippedByLoopGuardCount: number;
  skippedByFilterCount: number;
  totalMovedCount: number;
  preview: { dlqPartition: number; dlqOffset: number; toTopic: string; toPartition: number; originalOffset: number; error: string }[];
}

export class Admin {
  /** Use `Sluice.admin()`. */
  constructor(private readonly connection: Connection) {}

  async connect(): Promise<void> {
    await this.connection.get();
  }

  disconnect(): Promise<void> {
    this.connection.close();
    return Promise.resolve();
  }

  // ---- topics ----

  async createTopic(request: CreateTopicRequest): Promise<TopicDescription> {
    return (await this.connection.get()).createTopic(request);
  }

  async deleteTopic(name: string): Promise<void> {
    await (await this.connection.get()).deleteTopic(name);
  }

  async listTopics(): Promise<TopicDescription[]> {
    return (await this.connection.get()).listTopics();
  }

  /** Settings in effect and, per partition, logStartOffset, logEndOffset, highWatermark, size. */
  async describeTopic(name: string): Promise<TopicDescription> {
    return (await this.connection.get()).describeTopic(name);
  }

  /** Per partition the offset for `spec` ('earliest', 'latest' or the first at or after `{ timestampMs }`). */
  async listOffsets(request: ListOffsetsRequest): Promise<PartitionOffset[]> {
    return (await this.connection.get()).listOffsets(request);
  }

  // ---- groups ----

  async listGroups(): Promise<GroupSummary[]> {
    return (await (await this.connection.get()).listGroups()).map((g) => ({ ...g }));
  }

  /** Members, and per partition the committed offset and the lag in records and seconds. */
  async describeGroup(group: string): Promise<GroupDescription> {
    return decodeGroupDescription(await (await this.connection.get()).describeGroup(group));
  }

  /** Moves the group's committed offsets on a topic (replay or skip); `dryRun` only returns the plan. */
  async resetGroup(request: ResetGroupRequest): Promise<ResetGroupResult> {
    const response = await (await this.connection.get()).resetGroup(request);
    return {
      group: request.group,
      topic: request.topic,
      dryRun: request.dryRun ?? false,
      executed: response.executed,
      plan: response.plan.map((p) => ({ partition: p.partition, ...(p.currentOffset === undefined ? {} : { currentOffset: p.currentOffset }), newOffset: p.newOffset, lagRecords: p.lagRecords })),
    };
  }

  /** Stops deliveries to the group's members (they stay joined). */
  async pauseGroup(group: string): Promise<void> {
    await (await this.connection.get()).setGroupPaused(group, true);
  }

  async resumeGroup(group: string): Promise<void> {
    await (await this.connection.get()).setGroupPaused(group, false);
  }

  /** Forgets a group without live members (its committed offsets and failed-attempt counts). */
  async deleteGroup(group: string): Promise<void> {
    await (await this.connection.get()).deleteGroup(group);
  }

  // ---- dead letters ----

  async listDeadLetters(request: ListDeadLettersRequest): Promise<ListDeadLettersResult> {
    const response = await (await this.connection.get()).listDeadLetters(request);
    return { topic: request.topic, dlqTopic: response.dlqTopic, deadLetters: response.deadLetters.map(decodeDeadLetter) };
  }

  /** Republishes dead letters (resumable; idempotent: a re-run does not duplicate). Lasts until the run ends. */
  async redrive(request: RedriveRequest): Promise<RedriveResult> {
    const client = await this.connection.get();
    const response = await client.redrive(request);
    const dlqTopic = (await client.describeTopic(request.topic)).config['dlqTopic'] || `${request.topic}.dlq`;
    return { dlqTopic, ...response, preview: response.preview.map((p) => ({ ...p })) };
  }
}

function decodeGroupDescription(group: wire.GroupDescription): GroupDescription {
  return {
    group: group.group,
    state: group.state,
    paused: group.paused,
    generation: group.generation,
    strategy: group.strategy,
    members: group.members.map((m) => ({
      memberId: m.memberId,
      ...(m.instanceId === '' ? {} : { instanceId: m.instanceId }),
      clientId: m.clientId,
      topics: [...m.topics],
      partitions: m.partitions.map((p) => ({ topic: p.topic, partition: p.partition })),
      inFlight: m.inFlight,
      disconnected: m.disconnected,
      sessionExpiresInMs: m.sessionExpiresInMs,
    })),
    partitions: group.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      committedOffset: p.committedOffset,
      logStartOffset: p.logStartOffset,
      highWatermark: p.highWatermark,
      lagRecords: p.lagRecords,
      lagSeconds: p.lagSeconds,
      ...(p.ownerMemberId === '' ? {} : { ownerMemberId: p.ownerMemberId }),
      inFlight: p.inFlight,
      ...(p.retryingOffset === undefined ? {} : { retrying: { offset: p.retryingOffset, failedAttempts: p.retryingFailedAttempts, retryInMs: p.retryInMs } }),
    })),
  };
}

function decodeDeadLetter(letter: wire.DeadLetter): DeadLetter {
  return {
    partition: letter.partition,
    offset: letter.offset,
    timestampMs: letter.timestampMs,
    key: letter.key ?? null,
    value: letter.value ?? null,
    headers: letter.headers.map((h) => ({ key: h.key, value: h.value ?? null })),
    provenance:
      letter.originTopic === ''
        ? null
        : {
            topic: letter.originTopic,
            partition: letter.originPartition,
            offset: letter.originOffset,
            group: letter.group,
            attempts: letter.attempts,
            cause: letter.cause,
            error: letter.error,
            errorClass: letter.errorClass,
            firstFailureMs: letter.firstFailureMs,
            lastFailureMs: letter.lastFailureMs,
            redriveCount: letter.redriveCount,
          },
  };
}
