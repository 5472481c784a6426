/**
 * One consumer group's live state: its members and which member owns which partition.
 *
 * Ownership of a partition moves through a small table of states, asserted on every move:
 *
 * | from      | to        | when                                                                  |
 * | --------- | --------- | --------------------------------------------------------------------- |
 * | (none)    | owned     | a rebalance gives an unowned partition to a member                     |
 * | owned     | revoking  | a rebalance moves it elsewhere: the old owner gets no more records and  |
 * |           |           | has revokeTimeoutMs to finish (ack) what it holds                       |
 * | revoking  | owned     | the old owner holds nothing more (or the timeout passed): the next owner |
 * |           |           | takes it, so two members never work on the same partition at once       |
 * | owned     | (none)    | the owner left or died and no member is subscribed to the topic         |
 * | revoking  | (none)    | the old owner left or died and no member is left to take it             |
 *
 * The generation increases with every rebalance; a member's acks and commits are accepted only for
 * partitions it owns (or is finishing while revoked).
 */
import { assert, decodeRecords, splitBatches } from '../base/index.js';
import type { AssignmentStrategy, TopicPartition } from './assignor.js';
import type { PartitionCursor } from './partition-cursor.js';

/**
 * Records handed to a member: whole record batches in the log's format (src/base/record-batch.ts),
 * back to back, holding the consecutive offsets `firstOffset` to `lastOffset`. Usually a view of the
 * bytes read from the segment file; a batch only partly handed out is sliced.
 */
export interface Delivery {
  topic: string;
  partition: number;
  generation: number;
  firstOffset: number;
  lastOffset: number;
  batches: Buffer;
  /** The delivery attempt of each record in offset order; empty when every one is 1. */
  deliveryAttempts: readonly number[];
}

/** One delivered record, decoded (for transports and tests that want records, not batches). */
export interface DeliveredRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
  deliveryAttempt: number;
}

/** The records of a delivery, decoded. */
export function deliveredRecords(delivery: Delivery): DeliveredRecord[] {
  const records: DeliveredRecord[] = [];
  for (const batch of splitBatches(delivery.batches)) {
    for (const record of decodeRecords(batch)) records.push({ deliveryAttempt: delivery.deliveryAttempts[records.length] ?? 1, ...record });
  }
  return records;
}

/** How the coordinator talks to a member, whatever the transport. Calls never block. */
export interface MemberSink {
  /** The member's complete assignment after a rebalance (records for other partitions will not come). */
  assignment(event: { generation: number; partitions: TopicPartition[] }): void;
  deliver(delivery: Delivery): void;
  /** The coordinator removed the member (session expired, group deleted, broker closing). */
  closed(reason: { code: string; message: string }): void;
}

export interface Member {
  readonly memberId: string;
  readonly instanceId: string | undefined;
  readonly clientId: string;
  readonly topics: readonly string[];
  sink: MemberSink;
  sessionTimeoutMs: number;
  ackTimeoutMs: number;
  retryBackoffMs: number;
  inFlightMax: number;
  inFlightBytesMax: number;
  sessionDeadlineMs: number;
  /** The generation of the last assignment sent to this member. */
  generation: number;
  /** Disconnected static member keeping its partitions until its session ends. */
  disconnected: boolean;
  joinedAtMs: number;
}

export type OwnershipState =
  | { kind: 'owned'; memberId: string }
  | { kind: 'revoking'; memberId: string; nextMemberId: string | undefined; deadlineMs: number };

export interface PartitionSlot {
  readonly topic: string;
  readonly partition: number;
  cursor: PartitionCursor;
  ownership: OwnershipState | undefined;
  /** A failed attempt or a dead letter is being persisted: nothing is delivered meanwhile. */
  blockedBy: 'persisting' | 'dead-lettering' | undefined;
  /** Cancels the outstanding wait for new records in the log, if there is one. */
  waitingForData: (() => void) | undefined;
  /**
   * Records read from the log and not yet handed out: one read serves many deliveries of a small
   * in-flight window instead of re-reading (and re-checking) the same batches each time.
   */
  readAhead: ReadAhead | undefined;
}

export interface ReadAhead {
  /** The log they were read from (a topic re-created under the same name has a new one). */
  readonly log: object;
  /** Whole batches as read, back to back. */
  readonly bytes: Buffer;
  /** Where each batch of `bytes` starts and ends, and its first and last offsets, in offset order. */
  readonly batches: readonly { start: number; end: number; first: number; last: number }[];
  /** The offset after the read's last batch. */
  readonly nextOffset: number;
}

export class GroupState {
  readonly members = new Map<string, Member>();
  readonly slots = new Map<string, PartitionSlot>();
  /** Delivery turns so far: where the next turn starts among the slots (coordinator `pump`). */
  pumpTurns = 0;
  generation: number;
  paused: boolean;

  constructor(
    readonly name: string,
    readonly strategy: AssignmentStrategy,
    options: { generation: number; paused: boolean },
  ) {
    this.generation = options.generation;
    this.paused = options.paused;
  }

  memberByInstance(instanceId: string): Member | undefined {
    for (const member of this.members.values()) if (member.instanceId === instanceId) return member;
    return undefined;
  }

  /** The member that may receive records of the slot now (not while revoking). */
  deliveryOwner(slot: PartitionSlot): Member | undefined {
    if (slot.ownership?.kind !== 'owned') return undefined;
    const member = this.members.get(slot.ownership.memberId);
    return member === undefined || member.disconnected ? undefined : member;
  }

  /** Whether `memberId` may ack and commit the slot's records (its owner, also while revoking). */
  mayAcknowledge(slot: PartitionSlot, memberId: string): boolean {
    return slot.ownership !== undefined && slot.ownership.memberId === memberId;
  }

  /** The partitions a member owns (not those it is finishing after a revoke). */
  partitionsOf(memberId: string): TopicPartition[] {
    const owned: TopicPartition[] = [];
    for (const slot of this.slots.values()) {
      if (slot.ownership?.kind === 'owned' && slot.ownership.memberId === memberId) owned.push({ topic: slot.topic, partition: slot.partition });
    }
    return owned.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  /** Records a member holds across the partitions it owns or is finishing. */
  inFlightOf(memberId: string): number {
    let count = 0;
    for (const slot of this.slots.values()) if (slot.ownership?.memberId === memberId) count += slot.cursor.inFlightCount;
    return count;
  }

  /** Moves a slot's ownership, checking the transition against the table above. */
  transition(slot: PartitionSlot, next: OwnershipState | undefined): void {
    const from = slot.ownership?.kind ?? 'none';
    const to = next?.kind ?? 'none';
    const allowed: Record<string, string[]> = { none: ['owned'], owned: ['revoking', 'none', 'owned'], revoking: ['owned', 'none', 'revoking'] };
    assert(allowed[from]!.includes(to), () => `partition ${slot.topic}/${slot.partition} cannot go from ${from} to ${to}`);
    if (from === 'owned' && to === 'owned') {
      // Re-owning in place happens only for the same member (a static member rejoining).
      assert(slot.ownership!.memberId === (next as { memberId: string }).memberId, 'ownership moves through revoking');
    }
    slot.ownership = next;
  }
}
