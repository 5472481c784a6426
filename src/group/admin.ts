/**
 * Read and admin views of consumer groups, combining the coordinator's live state with what the
 * metadata store keeps for groups that have no live member: describe (lag in records and seconds),
 * list, and the offset reset plan.
 */
import { BrokerError } from '../errors.js';
import type { MetaStore } from '../meta/index.js';
import type { TopicRegistry } from '../partition/index.js';
import { decodeRecords, splitBatches } from '../storage/index.js';
import { partitionKey } from './assignor.js';
import type { GroupCoordinator } from './coordinator.js';

export interface GroupPartitionView {
  topic: string;
  partition: number;
  committedOffset: number;
  logStartOffset: number;
  highWatermark: number;
  lagRecords: number;
  /** Age of the oldest unconsumed record, in seconds (0 without lag). */
  lagSeconds: number;
  ownerMemberId: string | undefined;
  inFlight: number;
  /** Bytes of those records as delivered. */
  inFlightBytes: number;
  retrying: { offset: number; failedAttempts: number; retryInMs: number } | undefined;
}

export interface GroupMemberView {
  memberId: string;
  instanceId: string | undefined;
  clientId: string;
  topics: readonly string[];
  partitions: { topic: string; partition: number }[];
  inFlight: number;
  disconnected: boolean;
  sessionExpiresInMs: number;
}

export interface GroupDescription {
  group: string;
  state: 'active' | 'empty';
  paused: boolean;
  generation: number;
  strategy: string;
  members: GroupMemberView[];
  partitions: GroupPartitionView[];
}

export interface GroupSummary {
  group: string;
  state: 'active' | 'empty';
  paused: boolean;
  memberCount: number;
  lagRecords: number;
}

export type ResetTarget = { earliest: true } | { latest: true } | { timestampMs: number } | { offsets: Readonly<Record<number, number>> };

export interface ResetPlanEntry {
  partition: number;
  currentOffset: number | undefined;
  newOffset: number;
  lagRecords: number;
}

export class GroupAdmin {
  constructor(
    private readonly coordinator: GroupCoordinator,
    private readonly topics: TopicRegistry,
    private readonly meta: MetaStore,
    private readonly nowMs: () => number,
  ) {}

  /** Every group known: stored, with committed offsets, or live; sorted. */
  names(): string[] {
    const names = new Set<string>([...this.meta.listGroups().map((g) => g.group), ...this.meta.listGroupsWithOffsets(), ...this.coordinator.liveGroups().map((g) => g.name)]);
    return [...names].sort();
  }

  list(): GroupSummary[] {
    return this.names().map((name) => {
      const description = this.describe(name);
      return {
        group: name,
        state: description.state,
        paused: description.paused,
        memberCount: description.members.length,
        lagRecords: description.partitions.reduce((sum, p) => sum + p.lagRecords, 0),
      };
    });
  }

  describe(name: string): GroupDescription {
    const live = this.coordinator.liveGroup(name);
    const stored = this.meta.getGroup(name);
    const committed = this.meta.listCommittedOffsets(name);
    if (live === undefined && stored === undefined && committed.length === 0) {
      throw new BrokerError('GROUP_NOT_FOUND', `group ${JSON.stringify(name)} does not exist`, { group: name });
    }
    const now = this.nowMs();
    const rows = new Map<string, GroupPartitionView>();
    const addRow = (topic: string, partition: number, committedOffset: number): GroupPartitionView | undefined => {
      const log = this.topics.get(topic)?.partitions[partition];
      if (log === undefined) return undefined;
      const state = log.state();
      const lagRecords = Math.max(0, state.highWatermark - committedOffset);
      const row: GroupPartitionView = {
        topic,
        partition,
        committedOffset,
        logStartOffset: state.logStartOffset,
        highWatermark: state.highWatermark,
        lagRecords,
        lagSeconds: lagRecords > 0 && log.offline === undefined ? this.ageSeconds(topic, partition, committedOffset, now) : 0,
        ownerMemberId: undefined,
        inFlight: 0,
        inFlightBytes: 0,
        retrying: undefined,
      };
      rows.set(partitionKey({ topic, partition }), row);
      return row;
    };
    for (const entry of committed) addRow(entry.topic, entry.partition, entry.offset);
    for (const slot of live?.slots.values() ?? []) {
      const row = addRow(slot.topic, slot.partition, slot.cursor.committedOffset);
      if (row === undefined) continue;
      row.ownerMemberId = slot.ownership?.memberId;
      row.inFlight = slot.cursor.inFlightCount;
      row.inFlightBytes = slot.cursor.inFlightBytes;
      const retry = slot.cursor.retrying;
      if (retry !== undefined) row.retrying = { offset: retry.offset, failedAttempts: slot.cursor.failedAttempts(retry.offset), retryInMs: Math.max(0, retry.notBeforeMs - now) };
    }
    const members: GroupMemberView[] = [...(live?.members.values() ?? [])].map((member) => ({
      memberId: member.memberId,
      instanceId: member.instanceId,
      clientId: member.clientId,
      topics: member.topics,
      partitions: live!.partitionsOf(member.memberId),
      inFlight: live!.inFlightOf(member.memberId),
      disconnected: member.disconnected,
      sessionExpiresInMs: Math.max(0, member.sessionDeadlineMs - now),
    }));
    return {
      group: name,
      state: members.length > 0 ? 'active' : 'empty',
      paused: live?.paused ?? stored?.paused ?? false,
      generation: live?.generation ?? stored?.generation ?? 0,
      strategy: live?.strategy ?? stored?.protocol ?? 'sticky',
      members,
      partitions: [...rows.values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition),
    };
  }

  /** Seconds since the oldest unconsumed record (the one at the committed offset) was produced. */
  private ageSeconds(topic: string, partition: number, offset: number, now: number): number {
    try {
      const { bytes } = this.topics.partition(topic, partition).read({ fromOffset: offset, maxBytes: 1 });
      for (const batch of splitBatches(bytes)) {
        for (const record of decodeRecords(batch)) if (record.offset >= offset) return Math.max(0, (now - record.timestampMs) / 1000);
      }
    } catch {
      // Deleted by retention or offline: no age to report.
    }
    return 0;
  }

  /** Where a reset of `group` on `topic` to `target` would move each partition, with the lag after it. */
  planReset(group: string, topic: string, target: ResetTarget): ResetPlanEntry[] {
    const found = this.topics.require(topic);
    const ids = 'offsets' in target ? Object.keys(target.offsets).map(Number) : found.partitions.map((p) => p.id);
    return ids.map((id) => {
      const partition = this.topics.partition(topic, id);
      if (partition.offline !== undefined) throw partition.offline;
      const state = partition.state();
      let newOffset: number;
      if ('earliest' in target) newOffset = state.logStartOffset;
      else if ('latest' in target) newOffset = state.highWatermark;
      else if ('timestampMs' in target) newOffset = partition.offsetForTimestamp(target.timestampMs) ?? state.highWatermark;
      else {
        newOffset = target.offsets[id]!;
        if (!Number.isSafeInteger(newOffset) || newOffset < state.logStartOffset || newOffset > state.highWatermark) {
          throw new BrokerError('OFFSET_OUT_OF_RANGE', `offset ${newOffset} is outside [${state.logStartOffset}, ${state.highWatermark}] of ${topic}/${id}`, {
            partition: id,
            offset: newOffset,
            logStartOffset: state.logStartOffset,
            highWatermark: state.highWatermark,
          });
        }
      }
      const current = this.coordinator.liveGroup(group)?.slots.get(partitionKey({ topic, partition: id }))?.cursor.committedOffset ?? this.meta.getCommittedOffset(group, topic, id)?.offset;
      return { partition: id, currentOffset: current, newOffset, lagRecords: state.highWatermark - newOffset };
    });
  }

  /**
   * Resets the group's offsets on `topic`. Without `force` the group must have no live members;
   * with it, live members are fenced (a new generation) and read from the new offsets.
   */
  async reset(group: string, topic: string, target: ResetTarget, options: { force: boolean }): Promise<ResetPlanEntry[]> {
    const plan = this.planReset(group, topic, target);
    const live = this.coordinator.liveGroup(group);
    if (live !== undefined && live.members.size > 0 && !options.force) {
      throw new BrokerError('GROUP_NOT_EMPTY', `group ${group} has ${live.members.size} live members; stop them or reset with force`, {
        group,
        memberCount: live.members.size,
      });
    }
    await this.coordinator.resetOffsets(group, topic, new Map(plan.map((entry) => [entry.partition, entry.newOffset])));
    return plan;
  }
}
