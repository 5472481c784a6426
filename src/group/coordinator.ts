/**
 * The group coordinator: membership and sessions, assignment, delivery with flow control,
 * acknowledgments, retries, visibility timeouts, dead-lettering and committed offsets.
 *
 * Lifecycle. A member joins over a long-lived stream (the transport calls `join` with a sink, then
 * `leave` on a clean goodbye or `disconnect` when the stream dies). Any message from a member
 * refreshes its session; a member silent for its session timeout is removed as if it died.
 *
 * What "acknowledged" means. An ack is applied in memory at once: the committed offset (end of the
 * contiguous acknowledged prefix) is written to the metadata store within offsetCommitIntervalMs
 * (one write per group per interval, not one per ack), committed but not flushed, so a broker crash
 * redelivers the records acknowledged since the last write (at-least-once). A clean shutdown writes
 * them all. An explicit `commit` resolves only once flushed. Failed attempts are persisted durably before the
 * record is delivered again, and a dead letter is durable in the DLQ topic before the committed
 * offset moves past it: a crash may duplicate a dead letter, never lose one.
 *
 * Interleaving. Everything is synchronous except metadata writes, dead-letter appends and waits for
 * new records. While a failed attempt or a dead letter is being persisted, its partition is blocked
 * (nothing delivered). Delivery runs in `pump`, scheduled after anything that may make work
 * possible; it reads the log synchronously and never awaits.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, type Logger, type Timer, asGeneration, assert } from '../base/index.js';
import type { BrokerSettings } from '../config.js';
import { BrokerError } from '../errors.js';
import type { DeliveryAttempts, MetaStore } from '../meta/index.js';
import type { Partition, TopicRegistry } from '../partition/index.js';
import { type LogRecord, decodeRecords, readBatchHeader, sliceBatch, splitBatches } from '../storage/index.js';
import { type AssignmentStrategy, type TopicPartition, assign, partitionKey } from './assignor.js';
import { GroupState, type Member, type MemberSink, type PartitionSlot, type ReadAhead } from './group-state.js';
import { type FailureCause, type OffsetRange, PartitionCursor, firstEndingAtOrAfter } from './partition-cursor.js';

export type GroupSettings = Pick<
  BrokerSettings,
  | 'sessionTimeoutMs'
  | 'sessionTimeoutMsMax'
  | 'ackTimeoutMs'
  | 'retryBackoffMs'
  | 'retryBackoffMsMax'
  | 'revokeTimeoutMs'
  | 'memberInFlightMax'
  | 'memberInFlightBytesMax'
  | 'groupMembersMax'
  | 'groupsMax'
  | 'groupTickIntervalMs'
  | 'offsetCommitIntervalMs'
  | 'deliveryBytesMax'
  | 'topicNameBytesMax'
>;

export interface JoinRequest {
  group: string;
  topics: readonly string[];
  clientId: string;
  /** Static membership: rejoining with the same id within the session timeout keeps the partitions. */
  instanceId?: string;
  sessionTimeoutMs?: number;
  ackTimeoutMs?: number;
  retryBackoffMs?: number;
  inFlightMax?: number;
  inFlightBytesMax?: number;
  strategy?: AssignmentStrategy;
  /** Where a partition with no committed offset starts. Default `earliest`: a new group gets all the work. */
  startFrom?: 'earliest' | 'latest';
}

export interface DeadLetterRequest {
  group: string;
  topic: string;
  partition: number;
  record: LogRecord;
  attempts: DeliveryAttempts;
  cause: FailureCause;
}

export interface CoordinatorOptions {
  topics: TopicRegistry;
  meta: MetaStore;
  settings: GroupSettings;
  clock: Clock;
  logger: Logger;
  /** Appends a record to its DLQ topic; resolves when durable. Provided by the broker. */
  deadLetter: (request: DeadLetterRequest) => Promise<void>;
  /** The topic's maxDeliveryAttempts. */
  maxDeliveryAttempts: (topic: string) => number;
  /** Told how many records of one delivery had failed before (deliveryAttempt > 1), for metrics. */
  onRedelivery?: (topic: string, group: string, count: number) => void;
  /** Told how many records (and record bytes: key + value + headers) each delivery carried, for metrics. */
  onDelivery?: (topic: string, group: string, records: number, bytes: number) => void;
}

export interface FailureReport {
  error: string;
  errorClass: string;
}

/** Error text kept per failure (a stack trace or stderr tail is cut to this). */
const ERROR_TEXT_MAX = 4096;
/** Wait before retrying a dead letter whose append failed. */
const DEAD_LETTER_RETRY_MS = 1000;
/** Longest wait for new records before the wait is renewed. */
const DATA_WAIT_MS = 30_000;
/**
 * Bytes one read-ahead takes from a partition's log (at least one whole batch): enough that a small
 * in-flight window is refilled many times per read, small enough that every partition a group
 * consumes may hold one.
 */
const READ_AHEAD_BYTES_MAX = 256 * 1024;

interface MemberRef {
  group: string;
  memberId: string;
}

export class GroupCoordinator {
  private readonly groups = new Map<string, GroupState>();
  private readonly startFrom = new Map<string, 'earliest' | 'latest'>();
  private readonly pumpScheduled = new Set<string>();
  /** Slots whose committed offset moved since it was last written, per group. */
  private readonly dirty = new Map<string, Set<PartitionSlot>>();
  /** Groups whose committed offsets are being written right now. */
  private readonly committing = new Set<string>();
  private readonly timers = new Set<Timer>();
  private tickTimer: Timer | undefined;
  private closed = false;

  constructor(private readonly options: CoordinatorOptions) {
    this.scheduleTick();
  }

  private get now(): number {
    return this.options.clock.nowMs();
  }

  // ---- membership ----

  join(request: JoinRequest, sink: MemberSink): { memberId: string; generation: number } {
    this.checkOpen();
    const { settings } = this.options;
    validateGroupName(request.group, settings.topicNameBytesMax);
    if (request.topics.length === 0) throw new BrokerError('INVALID_ARGUMENT', 'a member subscribes to at least one topic', { field: 'topics' });
    for (const topic of request.topics) this.options.topics.require(topic);
    const sessionTimeoutMs = bounded('sessionTimeoutMs', request.sessionTimeoutMs ?? settings.sessionTimeoutMs, 100, settings.sessionTimeoutMsMax);
    const ackTimeoutMs = bounded('ackTimeoutMs', request.ackTimeoutMs ?? settings.ackTimeoutMs, 10, 12 * 3_600_000);
    const inFlightMax = bounded('inFlightMax', request.inFlightMax ?? settings.memberInFlightMax, 1, settings.memberInFlightMax);
    const inFlightBytesMax = bounded('inFlightBytesMax', request.inFlightBytesMax ?? settings.memberInFlightBytesMax, 1, settings.memberInFlightBytesMax);
    const retryBackoffMs = bounded('retryBackoffMs', request.retryBackoffMs ?? settings.retryBackoffMs, 0, settings.retryBackoffMsMax);

    let group = this.groups.get(request.group);
    if (group === undefined) {
      if (this.groups.size >= settings.groupsMax) {
        throw new BrokerError('BROKER_BUSY', `groupsMax ${settings.groupsMax} groups are live`, { retryAfterMs: 1000 });
      }
      const stored = this.options.meta.getGroup(request.group);
      group = new GroupState(request.group, request.strategy ?? (stored?.protocol as AssignmentStrategy | undefined) ?? 'sticky', {
        generation: stored?.generation ?? 0,
        paused: stored?.paused ?? false,
      });
      this.groups.set(request.group, group);
    }
    if (request.startFrom !== undefined) this.startFrom.set(request.group, request.startFrom);

    const existing = request.instanceId === undefined ? undefined : group.memberByInstance(request.instanceId);
    if (existing !== undefined && sameTopics(existing.topics, request.topics)) {
      // A static member back within its session: same partitions, no rebalance. A live duplicate is fenced.
      if (!existing.disconnected) existing.sink.closed({ code: 'MEMBER_FENCED', message: `instance ${request.instanceId} joined again` });
      this.releaseAll(group, existing, 'member-died');
      Object.assign(existing, { sink, sessionTimeoutMs, ackTimeoutMs, retryBackoffMs, inFlightMax, inFlightBytesMax, disconnected: false });
      existing.sessionDeadlineMs = this.now + sessionTimeoutMs;
      existing.generation = group.generation;
      sink.assignment({ generation: group.generation, partitions: group.partitionsOf(existing.memberId) });
      this.schedulePump(group);
      return { memberId: existing.memberId, generation: group.generation };
    }
    if (existing !== undefined) this.removeMember(group, existing, 'member-died', { notify: true });
    if (group.members.size >= settings.groupMembersMax) {
      throw new BrokerError('BROKER_BUSY', `group ${request.group} has groupMembersMax ${settings.groupMembersMax} members`, { retryAfterMs: 1000 });
    }
    const member: Member = {
      memberId: `${request.clientId || 'member'}-${randomUUID()}`,
      instanceId: request.instanceId,
      clientId: request.clientId,
      topics: [...request.topics],
      sink,
      sessionTimeoutMs,
      ackTimeoutMs,
      retryBackoffMs,
      inFlightMax,
      inFlightBytesMax,
      sessionDeadlineMs: this.now + sessionTimeoutMs,
      generation: 0,
      disconnected: false,
      joinedAtMs: this.now,
    };
    group.members.set(member.memberId, member);
    this.options.logger.info({ group: group.name, memberId: member.memberId, topics: member.topics }, 'member joined');
    this.rebalance(group);
    return { memberId: member.memberId, generation: group.generation };
  }

  /** Any sign of life from a member. */
  heartbeat(ref: MemberRef): void {
    this.memberOf(ref).member.sessionDeadlineMs = this.now + this.memberOf(ref).member.sessionTimeoutMs;
  }

  /** A clean goodbye: what the member still holds goes back without counting as a failure. */
  leave(ref: MemberRef): void {
    const group = this.groups.get(ref.group);
    const member = group?.members.get(ref.memberId);
    if (group === undefined || member === undefined) return;
    this.removeMember(group, member, undefined, { notify: false });
    this.options.logger.info({ group: ref.group, memberId: ref.memberId }, 'member left');
  }

  /**
   * The member's stream ended without a goodbye: it is treated as dead. The record it was working
   * on in each partition counts as a failed attempt. A static member keeps its partitions until its
   * session times out, in case it comes back.
   */
  disconnect(ref: MemberRef): void {
    const group = this.groups.get(ref.group);
    const member = group?.members.get(ref.memberId);
    if (group === undefined || member === undefined) return;
    if (member.instanceId !== undefined) {
      member.disconnected = true;
      this.releaseAll(group, member, 'member-died');
      this.options.logger.warn({ group: ref.group, memberId: ref.memberId }, 'static member disconnected; keeping its partitions for its session');
      return;
    }
    this.removeMember(group, member, 'member-died', { notify: false });
    this.options.logger.warn({ group: ref.group, memberId: ref.memberId }, 'member disconnected without leaving');
  }

  private removeMember(group: GroupState, member: Member, cause: FailureCause | undefined, options: { notify: boolean }): void {
    this.releaseAll(group, member, cause);
    group.members.delete(member.memberId);
    if (options.notify) member.sink.closed({ code: 'UNKNOWN_MEMBER', message: `member ${member.memberId} was removed from group ${group.name}` });
    this.rebalance(group);
  }

  /** Takes back everything `member` holds; with a cause, its head record in each partition counts as failed. */
  private releaseAll(group: GroupState, member: Member, cause: FailureCause | undefined): void {
    for (const slot of group.slots.values()) {
      if (slot.ownership?.memberId !== member.memberId) continue;
      const head = slot.cursor.firstHeldBy(member.memberId);
      if (head === undefined) continue;
      if (cause === undefined) slot.cursor.releaseMember(member.memberId, this.now, { countHeadAsFailure: false });
      else this.fail(group, slot, head, cause, member, { error: `member ${member.memberId} ${cause === 'timeout' ? 'timed out' : 'died'} holding it`, errorClass: cause });
    }
  }

  private memberOf(ref: MemberRef): { group: GroupState; member: Member } {
    const group = this.groups.get(ref.group);
    const member = group?.members.get(ref.memberId);
    if (group === undefined || member === undefined) {
      throw new BrokerError('UNKNOWN_MEMBER', `group ${JSON.stringify(ref.group)} has no member ${ref.memberId}; join again`, { group: ref.group, memberId: ref.memberId });
    }
    member.sessionDeadlineMs = this.now + member.sessionTimeoutMs;
    return { group, member };
  }

  // ---- assignment ----

  /** Recomputes the assignment, starts revocations, and tells every member its partitions. */
  private rebalance(group: GroupState): void {
    const subscriptions = new Map<string, readonly string[]>();
    for (const member of group.members.values()) subscriptions.set(member.memberId, member.topics);
    const partitionCounts = new Map<string, number>();
    for (const topics of subscriptions.values()) {
      for (const topic of topics) {
        const found = this.options.topics.get(topic);
        if (found !== undefined) partitionCounts.set(topic, found.partitions.length);
      }
    }
    const previous = new Map<string, string>();
    for (const [key, slot] of group.slots) {
      const owner = slot.ownership?.kind === 'revoking' ? (slot.ownership.nextMemberId ?? slot.ownership.memberId) : slot.ownership?.memberId;
      if (owner !== undefined && group.members.has(owner)) previous.set(key, owner);
    }
    const assignment = assign(group.strategy, { members: subscriptions, partitionCounts, previous });
    group.generation++;
    const target = new Map<string, string>();
    for (const [memberId, partitions] of assignment) for (const tp of partitions) target.set(partitionKey(tp), memberId);
    for (const [key, memberId] of target) {
      const [topic, partition] = splitKey(key);
      this.moveSlot(group, this.slotFor(group, topic, partition), memberId);
    }
    for (const [key, slot] of group.slots) if (!target.has(key)) this.moveSlot(group, slot, undefined);
    for (const member of group.members.values()) {
      member.generation = group.generation;
      if (!member.disconnected) member.sink.assignment({ generation: group.generation, partitions: group.partitionsOf(member.memberId) });
    }
    this.persistGroup(group);
    this.schedulePump(group);
    this.forgetIfIdle(group);
  }

  /**
   * A group with no members and nothing left to finish lives on only in the metadata store, once its
   * committed offsets are written there (a member joining later reads them back).
   */
  private forgetIfIdle(group: GroupState): void {
    if (group.members.size > 0 || group.slots.size > 0 || this.dirty.has(group.name) || this.committing.has(group.name)) return;
    if (this.groups.get(group.name) === group) this.groups.delete(group.name);
  }

  /** Hands a slot to `memberId` (undefined: nobody), through revoking when another member holds records of it. */
  private moveSlot(group: GroupState, slot: PartitionSlot, memberId: string | undefined): void {
    const current = slot.ownership;
    if (current === undefined) {
      if (memberId !== undefined) group.transition(slot, { kind: 'owned', memberId });
      return;
    }
    if (current.memberId === memberId) {
      if (current.kind === 'revoking') group.transition(slot, { kind: 'owned', memberId });
      return;
    }
    const deadlineMs = current.kind === 'revoking' ? current.deadlineMs : this.now + this.options.settings.revokeTimeoutMs;
    group.transition(slot, { kind: 'revoking', memberId: current.memberId, nextMemberId: memberId, deadlineMs });
    this.finishRevocation(group, slot);
  }

  /** Completes a revocation once the old owner holds nothing of the partition (or its time is up). */
  private finishRevocation(group: GroupState, slot: PartitionSlot): void {
    const ownership = slot.ownership;
    if (ownership?.kind !== 'revoking') return;
    const oldOwnerHolds = slot.cursor.firstHeldBy(ownership.memberId) !== undefined;
    if (oldOwnerHolds && this.now < ownership.deadlineMs && group.members.has(ownership.memberId)) return;
    slot.cursor.releaseMember(ownership.memberId, this.now, { countHeadAsFailure: false });
    const next = ownership.nextMemberId === undefined ? undefined : group.members.get(ownership.nextMemberId);
    group.transition(slot, next === undefined ? undefined : { kind: 'owned', memberId: next.memberId });
    if (next !== undefined && !next.disconnected) next.sink.assignment({ generation: group.generation, partitions: group.partitionsOf(next.memberId) });
    if (next === undefined) this.dropSlotIfIdle(group, slot);
    this.schedulePump(group);
  }

  /** Forgets a slot nobody owns, once its committed offset is written (a later owner reads it back). */
  private dropSlotIfIdle(group: GroupState, slot: PartitionSlot): void {
    if (slot.ownership !== undefined || slot.blockedBy !== undefined) return;
    if (this.dirty.get(group.name)?.has(slot) === true || this.committing.has(group.name)) return;
    stopWaiting(slot);
    group.slots.delete(partitionKey(slot));
  }

  private slotFor(group: GroupState, topic: string, partition: number): PartitionSlot {
    const key = partitionKey({ topic, partition });
    let slot = group.slots.get(key);
    if (slot === undefined) {
      slot = { topic, partition, cursor: this.loadCursor(group.name, topic, partition), ownership: undefined, blockedBy: undefined, waitingForData: undefined, readAhead: undefined };
      group.slots.set(key, slot);
    }
    return slot;
  }

  /**
   * Loads a partition's committed offset, checking `logStartOffset <= committedOffset <= highWatermark`:
   * an offset past the end of a recovered log is clamped and logged loudly, never trusted; one below
   * the log start (retention deleted those records) moves up to it.
   */
  private loadCursor(group: string, topic: string, partition: number): PartitionCursor {
    const log = this.options.topics.partition(topic, partition);
    const failedAttempts = new Map(
      this.options.meta.listDeliveryAttempts(group, { topic, partition }).map((entry) => [entry.offset as number, entry.attempts]),
    );
    if (log.offline !== undefined) return new PartitionCursor({ committedOffset: 0, failedAttempts });
    const state = log.state();
    const stored = this.options.meta.getCommittedOffset(group, topic, partition)?.offset;
    const fresh = (this.startFrom.get(group) ?? 'earliest') === 'earliest' ? state.logStartOffset : state.highWatermark;
    let committed: number = stored ?? fresh;
    if (committed > state.highWatermark) {
      this.options.logger.error(
        { group, topic, partition, committedOffset: committed, highWatermark: state.highWatermark },
        'committed offset is past the end of the recovered log; clamping it to the log end',
      );
      committed = state.highWatermark;
    } else if (committed < state.logStartOffset) {
      this.options.logger.warn({ group, topic, partition, committedOffset: committed, logStartOffset: state.logStartOffset }, 'committed offset was deleted by retention; moving to the log start');
      committed = state.logStartOffset;
    }
    return new PartitionCursor({ committedOffset: committed, failedAttempts });
  }

  // ---- acknowledgments ----

  private ownedSlot(group: GroupState, member: Member, topic: string, partition: number, generation: number): PartitionSlot {
    const slot = group.slots.get(partitionKey({ topic, partition }));
    if (slot === undefined || !group.mayAcknowledge(slot, member.memberId) || generation > group.generation) {
      throw new BrokerError('MEMBER_FENCED', `member ${member.memberId} does not own ${topic}/${partition} in group ${group.name} (generation ${group.generation})`, {
        group: group.name,
        topic,
        partition,
        generation: group.generation,
      });
    }
    return slot;
  }

  /** Acknowledges processed records by offset ranges; offsets the member does not hold (already redelivered) are ignored. */
  ack(ref: MemberRef & { generation: number; topic: string; partition: number; ranges: readonly OffsetRange[] }): void {
    const { group, member } = this.memberOf(ref);
    const slot = this.ownedSlot(group, member, ref.topic, ref.partition, ref.generation);
    if (slot.cursor.ack(ref.ranges, member.memberId).committedMoved) this.markDirty(group, slot);
    this.finishRevocation(group, slot);
    this.schedulePump(group);
  }

  /** The member failed a record: it is retried after `delayMs` (default: exponential backoff) or dead-lettered. */
  nack(ref: MemberRef & { generation: number; topic: string; partition: number; offset: number; delayMs?: number } & FailureReport): void {
    const { group, member } = this.memberOf(ref);
    const slot = this.ownedSlot(group, member, ref.topic, ref.partition, ref.generation);
    if (slot.cursor.holderOf(ref.offset) !== member.memberId) return;
    this.fail(group, slot, ref.offset, 'nack', member, ref, ref.delayMs);
  }

  /** The member says the record can never succeed: it goes to the DLQ now. */
  reject(ref: MemberRef & { generation: number; topic: string; partition: number; offset: number } & FailureReport): void {
    const { group, member } = this.memberOf(ref);
    const slot = this.ownedSlot(group, member, ref.topic, ref.partition, ref.generation);
    if (slot.cursor.holderOf(ref.offset) !== member.memberId) return;
    this.fail(group, slot, ref.offset, 'reject', member, ref);
  }

  /** Extends the visibility deadline of records the member is still working on. */
  extend(ref: MemberRef & { topic: string; partition: number; offsets: readonly number[]; extendMs: number }): number {
    const { group, member } = this.memberOf(ref);
    const slot = group.slots.get(partitionKey(ref));
    if (slot === undefined) return 0;
    const deadline = this.now + bounded('extendMs', ref.extendMs, 1, 12 * 3_600_000);
    return ref.offsets.filter((offset) => slot.cursor.extend(offset, member.memberId, deadline)).length;
  }

  /** Kafka-style explicit commit of `offset` (the next to consume); resolves once flushed to disk. */
  async commit(ref: MemberRef & { generation: number; topic: string; partition: number; offset: number; metadata?: string }): Promise<void> {
    const { group, member } = this.memberOf(ref);
    const slot = this.ownedSlot(group, member, ref.topic, ref.partition, ref.generation);
    const state = this.options.topics.partition(ref.topic, ref.partition).state();
    if (!Number.isSafeInteger(ref.offset) || ref.offset < state.logStartOffset || ref.offset > state.highWatermark) {
      throw new BrokerError('OFFSET_OUT_OF_RANGE', `commit offset ${ref.offset} is outside [${state.logStartOffset}, ${state.highWatermark}]`, {
        offset: ref.offset,
        logStartOffset: state.logStartOffset,
        highWatermark: state.highWatermark,
      });
    }
    slot.cursor.commitAt(ref.offset);
    await this.options.meta.commitOffsets(group.name, [{ topic: ref.topic, partition: ref.partition, offset: slot.cursor.committedOffset, ...(ref.metadata ? { metadata: ref.metadata } : {}) }], {
      durable: true,
    });
    this.schedulePump(group);
  }

  // ---- failures and dead letters ----

  /**
   * Counts a failed attempt of `offset` (persisted durably before anything more of the partition is
   * delivered), then retries it after the backoff, or dead-letters it at maxDeliveryAttempts.
   */
  private fail(group: GroupState, slot: PartitionSlot, offset: number, cause: FailureCause, member: Member, report: FailureReport, delayMs?: number): void {
    const attemptsSoFar = slot.cursor.failedAttempts(offset) + 1;
    const backoff = Math.min(this.options.settings.retryBackoffMsMax, member.retryBackoffMs * 2 ** (attemptsSoFar - 1));
    const delay = bounded('delayMs', delayMs ?? backoff, 0, this.options.settings.retryBackoffMsMax);
    slot.cursor.fail(offset, this.now, delay);
    slot.blockedBy = 'persisting';
    const error = report.error.slice(-ERROR_TEXT_MAX);
    this.options.meta
      .recordFailedAttempt({ group: group.name, topic: slot.topic, partition: slot.partition, offset, error, errorClass: report.errorClass.slice(0, 256), memberId: member.memberId })
      .then((attempts) => {
        slot.blockedBy = undefined;
        if (cause === 'reject' || attempts.attempts >= this.options.maxDeliveryAttempts(slot.topic)) this.deadLetter(group, slot, offset, attempts, cause);
        else this.schedulePump(group);
      })
      .catch((failure: unknown) => {
        slot.blockedBy = undefined;
        this.options.logger.error({ group: group.name, topic: slot.topic, partition: slot.partition, offset, err: failure }, 'could not persist a failed attempt');
        this.schedulePump(group);
      });
  }

  private deadLetter(group: GroupState, slot: PartitionSlot, offset: number, attempts: DeliveryAttempts, cause: FailureCause): void {
    slot.blockedBy = 'dead-lettering';
    const record = this.recordAt(slot, offset);
    const append = record === undefined ? Promise.resolve() : this.options.deadLetter({ group: group.name, topic: slot.topic, partition: slot.partition, record, attempts, cause });
    append.then(
      () => {
        slot.blockedBy = undefined;
        if (record === undefined) this.options.logger.warn({ group: group.name, topic: slot.topic, partition: slot.partition, offset }, 'record to dead-letter is gone (retention); skipping it');
        if (slot.cursor.completeDeadLettered(offset)) this.markDirty(group, slot);
        this.options.logger.warn({ group: group.name, topic: slot.topic, partition: slot.partition, offset, attempts: attempts.attempts, cause }, 'record dead-lettered');
        this.finishRevocation(group, slot);
        this.dropSlotIfIdle(group, slot);
        this.forgetIfIdle(group);
        this.schedulePump(group);
      },
      (failure: unknown) => {
        this.options.logger.error({ group: group.name, topic: slot.topic, partition: slot.partition, offset, err: failure }, 'dead-letter append failed; retrying');
        this.after(DEAD_LETTER_RETRY_MS, () => this.deadLetter(group, slot, offset, attempts, cause));
      },
    );
  }

  private recordAt(slot: PartitionSlot, offset: number): LogRecord | undefined {
    const log = this.options.topics.partition(slot.topic, slot.partition);
    const state = log.state();
    if (offset < state.logStartOffset || offset >= state.highWatermark) return undefined;
    const { bytes } = log.read({ fromOffset: offset, maxBytes: 1 });
    for (const batch of splitBatches(bytes)) for (const record of decodeRecords(batch)) if (record.offset === offset) return record;
    return undefined;
  }

  // ---- delivery ----

  private schedulePump(group: GroupState): void {
    if (this.pumpScheduled.has(group.name) || this.closed) return;
    this.pumpScheduled.add(group.name);
    setImmediate(() => {
      this.pumpScheduled.delete(group.name);
      if (this.groups.get(group.name) === group) this.pump(group);
    });
  }

  /** Hands readable records to owners with room in their in-flight window; one read per partition per turn. */
  private pump(group: GroupState): void {
    if (group.paused || this.closed) return;
    let more = false;
    // Each turn starts one partition further on: a window smaller than the number of partitions
    // (inFlightMax 1, say) then goes round them instead of draining the first one with records.
    const slots = [...group.slots.values()];
    const start = slots.length === 0 ? 0 : group.pumpTurns++ % slots.length;
    // Per member, counted once per turn: partitions owned (not finishing a revoke), records and bytes held.
    const owned = new Map<string, number>();
    const held = new Map<string, number>();
    const heldBytes = new Map<string, number>();
    for (const slot of slots) {
      if (slot.ownership === undefined) continue;
      const { memberId } = slot.ownership;
      held.set(memberId, (held.get(memberId) ?? 0) + slot.cursor.inFlightCount);
      heldBytes.set(memberId, (heldBytes.get(memberId) ?? 0) + slot.cursor.inFlightBytes);
      if (slot.ownership.kind === 'owned') owned.set(memberId, (owned.get(memberId) ?? 0) + 1);
    }
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(start + i) % slots.length]!;
      const member = group.deliveryOwner(slot);
      if (member === undefined || slot.blockedBy !== undefined) continue;
      // Each owned partition gets a fair share of the member's window, so one deep backlog cannot
      // starve the member's other partitions.
      const share = Math.max(1, Math.ceil(member.inFlightMax / Math.max(1, owned.get(member.memberId) ?? 0)));
      const inFlight = slot.cursor.inFlightCount;
      const credit = Math.min(member.inFlightMax - (held.get(member.memberId) ?? 0), share - inFlight);
      // Refill a partition that still has records in flight only once half its share is free, so
      // deliveries stay large when acks trickle back a few at a time.
      if (credit <= 0 || (inFlight > 0 && credit < share / 2)) continue;
      // The byte budget, shared the same way. A member holding nothing gets at least one batch,
      // whatever its size, so a record larger than the budget still goes out.
      const memberBytes = heldBytes.get(member.memberId) ?? 0;
      const bytesInFlight = slot.cursor.inFlightBytes;
      const byteShare = Math.ceil(member.inFlightBytesMax / Math.max(1, owned.get(member.memberId) ?? 0));
      const byteCredit = Math.min(member.inFlightBytesMax - memberBytes, byteShare - bytesInFlight);
      if (memberBytes > 0 && (byteCredit <= 0 || (bytesInFlight > 0 && byteCredit < byteShare / 2))) continue;
      const from = slot.cursor.deliverableFrom(this.now);
      if (from === undefined) continue;
      try {
        more = this.deliver(group, slot, member, from, credit, byteCredit) || more;
      } catch (error) {
        this.options.logger.error({ group: group.name, topic: slot.topic, partition: slot.partition, err: error }, 'delivery failed');
      }
      held.set(member.memberId, (held.get(member.memberId) ?? 0) + slot.cursor.inFlightCount - inFlight);
      heldBytes.set(member.memberId, memberBytes + slot.cursor.inFlightBytes - bytesInFlight);
    }
    if (more) this.schedulePump(group);
  }

  /**
   * Delivers one read's worth of records of a slot, at most `credit` records and, past the first
   * batch, `byteCredit` bytes; returns whether more may be ready at once.
   */
  private deliver(group: GroupState, slot: PartitionSlot, member: Member, from: number, credit: number, byteCredit: number): boolean {
    const log = this.options.topics.partition(slot.topic, slot.partition);
    if (log.offline !== undefined) return false;
    const { logStartOffset } = log.state();
    if (from < logStartOffset) {
      // Retention deleted records this group had not consumed: they are gone, move past them.
      this.options.logger.warn({ group: group.name, topic: slot.topic, partition: slot.partition, from, logStartOffset }, 'records deleted by retention before the group consumed them');
      slot.cursor.commitAt(logStartOffset);
      this.markDirty(group, slot);
      return true;
    }
    if (from >= log.highWatermark) {
      this.waitForData(group, slot, log, from);
      return false;
    }
    const window = this.readAhead(slot, log, from);
    // Up to `credit` records from `from` in runs of consecutive offsets, stepping over records
    // acknowledged out of order (only after a rewind). The read-ahead is at most deliveryBytesMax.
    const runs: OffsetRange[] = [];
    let count = 0;
    let through = from - 1;
    const windowLast = window.nextOffset - 1;
    const budgetLast = lastWithinBytes(window, from, byteCredit);
    while (through < budgetLast && count < credit) {
      const next = through + 1;
      const acked = slot.cursor.ackedFrom(next);
      if (acked !== undefined && acked.first <= next) {
        through = Math.min(acked.last, budgetLast);
        continue;
      }
      const limit = Math.min(budgetLast, next + (credit - count) - 1, acked === undefined ? Infinity : acked.first - 1);
      const last = endOnBatch(window, next, limit);
      runs.push({ first: next, last });
      count += last - next + 1;
      through = last;
      // Stopped short at a batch boundary: the rest of the credit waits for a later turn.
      if (last < limit) break;
    }
    // Everything read was handed out: let the buffer go.
    if (through >= windowLast) slot.readAhead = undefined;
    if (through < from) return false;
    const batches = runs.map((run) => batchesOf(window, run));
    const attempts = runs.map((run) => (slot.cursor.hasFailures ? attemptsOf(slot.cursor, run) : []));
    slot.cursor.markDelivered(
      runs,
      through,
      member.memberId,
      this.now + member.ackTimeoutMs,
      batches.map((bytes) => bytes.length),
    );
    const redelivered = attempts.reduce((sum, list) => sum + list.filter((attempt) => attempt > 1).length, 0);
    if (redelivered > 0) this.options.onRedelivery?.(slot.topic, group.name, redelivered);
    let bytes = 0;
    runs.forEach((run, i) => {
      bytes += batches[i]!.length;
      member.sink.deliver({ topic: slot.topic, partition: slot.partition, generation: member.generation, firstOffset: run.first, lastOffset: run.last, batches: batches[i]!, deliveryAttempts: attempts[i]! });
    });
    if (count > 0) this.options.onDelivery?.(slot.topic, group.name, count, bytes);
    return through >= windowLast && window.nextOffset < log.highWatermark;
  }

  /** The slot's read-ahead if it covers `from`, else a new read of up to READ_AHEAD_BYTES_MAX from it. */
  private readAhead(slot: PartitionSlot, log: Partition, from: number): ReadAhead {
    const cached = slot.readAhead;
    if (cached !== undefined && cached.log === log && cached.batches.length > 0 && cached.batches[0]!.first <= from && from < cached.nextOffset) return cached;
    const { bytes, nextOffset } = log.read({ fromOffset: from, maxBytes: Math.min(READ_AHEAD_BYTES_MAX, this.options.settings.deliveryBytesMax) });
    const batches: { start: number; end: number; first: number; last: number }[] = [];
    for (let start = 0; start < bytes.length; ) {
      const header = readBatchHeader(bytes, start);
      batches.push({ start, end: start + header.batchBytes, first: header.baseOffset, last: header.baseOffset + header.lastOffsetDelta });
      start += header.batchBytes;
    }
    slot.readAhead = { log, bytes, batches, nextOffset };
    return slot.readAhead;
  }

  private waitForData(group: GroupState, slot: PartitionSlot, log: Partition, from: number): void {
    if (slot.waitingForData !== undefined) return;
    const cancel = log.whenReadable(from, DATA_WAIT_MS, () => {
      if (slot.waitingForData === cancel) slot.waitingForData = undefined;
      this.schedulePump(group);
    });
    slot.waitingForData = cancel;
  }

  // ---- committed offsets ----

  private markDirty(group: GroupState, slot: PartitionSlot): void {
    let slots = this.dirty.get(group.name);
    if (slots === undefined) {
      slots = new Set();
      this.dirty.set(group.name, slots);
      const interval = this.options.settings.offsetCommitIntervalMs;
      if (interval === 0) setImmediate(() => void this.flushCommits(group.name));
      else this.after(interval, () => void this.flushCommits(group.name));
    }
    slots.add(slot);
  }

  /** Writes the committed offsets that moved (committed, not flushed) and clears attempts below them. */
  private async flushCommits(groupName: string): Promise<void> {
    const slots = this.dirty.get(groupName);
    this.dirty.delete(groupName);
    if (slots === undefined || slots.size === 0) return;
    const entries = [...slots].map((slot) => ({ topic: slot.topic, partition: slot.partition, offset: slot.cursor.committedOffset }));
    this.committing.add(groupName);
    try {
      await this.options.meta.commitOffsets(groupName, entries);
      await Promise.all(entries.map((e) => this.options.meta.clearDeliveryAttemptsBelow(groupName, e.topic, e.partition, e.offset)));
    } catch (error) {
      this.options.logger.error({ group: groupName, err: error }, 'writing committed offsets failed');
    } finally {
      this.committing.delete(groupName);
      const group = this.groups.get(groupName);
      if (group !== undefined) {
        for (const slot of slots) if (group.slots.get(partitionKey(slot)) === slot) this.dropSlotIfIdle(group, slot);
        this.forgetIfIdle(group);
      }
    }
  }

  private persistGroup(group: GroupState): void {
    this.options.meta
      .putGroup({ group: group.name, generation: asGeneration(group.generation), protocol: group.strategy, state: group.members.size > 0 ? 'active' : 'empty', updatedAtMs: this.now, paused: group.paused })
      .catch((error: unknown) => this.options.logger.error({ group: group.name, err: error }, 'saving the group failed'));
  }

  // ---- timers ----

  private scheduleTick(): void {
    this.tickTimer = this.options.clock.setTimer(this.options.settings.groupTickIntervalMs, () => {
      if (this.closed) return;
      this.tick();
      this.scheduleTick();
    });
  }

  private after(delayMs: number, task: () => void): void {
    const timer = this.options.clock.setTimer(delayMs, () => {
      this.timers.delete(timer);
      if (!this.closed) task();
    });
    this.timers.add(timer);
  }

  /** Session expiry, visibility timeouts, revocation deadlines and retry delays. */
  tick(): void {
    const now = this.now;
    for (const group of this.groups.values()) {
      for (const member of [...group.members.values()]) {
        if (member.sessionDeadlineMs > now) continue;
        this.options.logger.warn({ group: group.name, memberId: member.memberId }, 'member session expired');
        member.sink.closed({ code: 'UNKNOWN_MEMBER', message: `session of ${member.memberId} expired after ${member.sessionTimeoutMs} ms` });
        this.removeMember(group, member, 'timeout', { notify: false });
      }
      for (const slot of group.slots.values()) {
        if (slot.blockedBy !== undefined) continue;
        const expired = slot.cursor.firstExpired(now);
        const holder = expired === undefined ? undefined : group.members.get(expired.memberId);
        if (expired !== undefined && holder !== undefined) {
          this.fail(group, slot, expired.offset, 'timeout', holder, { error: `not acknowledged within ${holder.ackTimeoutMs} ms`, errorClass: 'visibility-timeout' });
        }
        this.finishRevocation(group, slot);
      }
      this.schedulePump(group);
    }
  }

  // ---- admin ----

  /** Pauses or resumes deliveries to a group; a group with no live member stays paused when members come. */
  setPaused(groupName: string, paused: boolean): void {
    const group = this.groups.get(groupName);
    if (group !== undefined) {
      group.paused = paused;
      this.persistGroup(group);
      this.schedulePump(group);
      return;
    }
    const stored = this.options.meta.getGroup(groupName);
    if (stored === undefined && this.options.meta.listCommittedOffsets(groupName, { limit: 1 }).length === 0) {
      throw new BrokerError('GROUP_NOT_FOUND', `group ${JSON.stringify(groupName)} does not exist`, { group: groupName });
    }
    this.options.meta
      .putGroup({ group: groupName, generation: stored?.generation ?? asGeneration(0), protocol: stored?.protocol ?? 'sticky', state: 'empty', updatedAtMs: this.now, paused })
      .catch((error: unknown) => this.options.logger.error({ group: groupName, err: error }, 'saving the group failed'));
  }

  liveGroup(name: string): GroupState | undefined {
    return this.groups.get(name);
  }

  liveGroups(): GroupState[] {
    return [...this.groups.values()];
  }

  /**
   * Moves a group's committed offsets for `topic` to `offsets` (partition -> offset). With live
   * members, in-flight records are forgotten and members get a new generation (their acks for
   * older deliveries are ignored) and records from the new offsets.
   */
  async resetOffsets(groupName: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    const group = this.groups.get(groupName);
    if (group !== undefined) {
      for (const [partition, offset] of offsets) {
        const slot = group.slots.get(partitionKey({ topic, partition }));
        slot?.cursor.resetTo(offset);
      }
      this.rebalance(group);
    }
    const entries = [...offsets].map(([partition, offset]) => ({ topic, partition, offset }));
    await this.options.meta.commitOffsets(groupName, entries, { durable: true });
    await Promise.all(entries.map((e) => this.options.meta.clearDeliveryAttemptsBelow(groupName, topic, e.partition, Number.MAX_SAFE_INTEGER, { durable: true })));
  }

  /** Forgets a group with no live members. */
  async deleteGroup(groupName: string): Promise<void> {
    const group = this.groups.get(groupName);
    if (group !== undefined && group.members.size > 0) {
      throw new BrokerError('GROUP_NOT_EMPTY', `group ${groupName} has ${group.members.size} live members`, { group: groupName, memberCount: group.members.size });
    }
    if (group !== undefined) {
      for (const slot of group.slots.values()) stopWaiting(slot);
      this.groups.delete(groupName);
    }
    // Offsets acknowledged just before would otherwise be written after the delete and revive it.
    this.dirty.delete(groupName);
    for (const entry of this.options.meta.listDeliveryAttempts(groupName)) {
      await this.options.meta.clearDeliveryAttemptsBelow(groupName, entry.topic, entry.partition, Number.MAX_SAFE_INTEGER);
    }
    await this.options.meta.deleteGroupOffsets(groupName, { durable: true });
    await this.options.meta.deleteGroup(groupName, { durable: true });
  }

  /** A topic was created or deleted: groups subscribed to it rebalance. */
  topicsChanged(topic: string): void {
    for (const group of this.groups.values()) {
      if (![...group.members.values()].some((m) => m.topics.includes(topic))) continue;
      for (const [key, slot] of group.slots) {
        if (slot.topic === topic && this.options.topics.get(topic) === undefined) {
          stopWaiting(slot);
          group.slots.delete(key);
        }
      }
      this.rebalance(group);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new BrokerError('SHUTTING_DOWN', 'the broker is shutting down');
  }

  /** Closes every member's session (they reconnect elsewhere or later) and writes pending offsets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tickTimer?.cancel();
    for (const timer of this.timers) timer.cancel();
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) member.sink.closed({ code: 'SHUTTING_DOWN', message: 'the broker is shutting down' });
      for (const slot of group.slots.values()) stopWaiting(slot);
    }
    await Promise.all([...this.dirty.keys()].map((name) => this.flushCommits(name)));
  }
}

/**
 * The last offset of the read-ahead's batches from the one holding `from` whose bytes add up to at
 * most `byteBudget`; always at least that first batch.
 */
function lastWithinBytes(window: ReadAhead, from: number, byteBudget: number): number {
  let last = window.nextOffset - 1;
  let start = -1;
  for (const batch of window.batches) {
    if (batch.last < from) continue;
    if (start < 0) start = batch.start;
    else if (batch.end - start > byteBudget) return last;
    last = batch.last;
  }
  return last;
}

/**
 * `last`, or the end of the batch before the one it falls inside when that still leaves the run
 * [`first`, ...] something: a run ending mid-batch costs re-encoding (and checksumming) that batch's
 * head now and its tail in the next delivery, so a window's credit is spent in whole batches when it can be.
 */
function endOnBatch(window: ReadAhead, first: number, last: number): number {
  const batch = window.batches[firstEndingAtOrAfter(window.batches, last)];
  if (batch === undefined || batch.last === last || batch.first <= first) return last;
  return batch.first - 1;
}

/**
 * The record batches holding exactly the offsets of `run` (inside the read-ahead): a view of the
 * bytes read when the run covers whole batches, with a batch cut only at the ends of the run sliced.
 */
function batchesOf(window: ReadAhead, run: OffsetRange): Buffer {
  const pieces: Buffer[] = [];
  let wholeStart = -1;
  let wholeEnd = -1;
  for (const batch of window.batches) {
    if (batch.last < run.first) continue;
    if (batch.first > run.last) break;
    if (batch.first >= run.first && batch.last <= run.last) {
      if (wholeStart < 0) wholeStart = batch.start;
      wholeEnd = batch.end;
      continue;
    }
    if (wholeStart >= 0) pieces.push(window.bytes.subarray(wholeStart, wholeEnd));
    wholeStart = -1;
    pieces.push(sliceBatch(window.bytes.subarray(batch.start, batch.end), Math.max(run.first, batch.first), Math.min(run.last, batch.last)));
  }
  if (wholeStart >= 0) pieces.push(window.bytes.subarray(wholeStart, wholeEnd));
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/** Cancels the slot's wait for new records (the slot goes away or the coordinator closes). */
function stopWaiting(slot: PartitionSlot): void {
  slot.waitingForData?.();
  slot.waitingForData = undefined;
}

/** The delivery attempt of each record of `run`; empty when every one is a first attempt. */
function attemptsOf(cursor: PartitionCursor, run: OffsetRange): number[] {
  const attempts = Array.from({ length: run.last - run.first + 1 }, (_, i) => cursor.deliveryAttempt(run.first + i));
  return attempts.some((attempt) => attempt > 1) ? attempts : [];
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('\u0000');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000');
}

function bounded(field: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new BrokerError('INVALID_ARGUMENT', `${field} must be an integer from ${min} to ${max}, got ${value}`, { field, value, min, max });
  }
  return value;
}

/** Group names follow the topic-name rules. */
function validateGroupName(name: string, max: number): void {
  assert(typeof name === 'string', 'group name is a string');
  if (name.length === 0 || Buffer.byteLength(name) > max || !/^(?!\.{1,2}$)[A-Za-z0-9._-]+$/.test(name)) {
    throw new BrokerError('INVALID_ARGUMENT', `invalid group name ${JSON.stringify(name)}: 1 to ${max} characters from A-Z a-z 0-9 . _ -`, { field: 'group', value: name });
  }
}

export type { TopicPartition };
