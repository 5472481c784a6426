/**
 * Assignment strategies: which member of a group consumes which partition. Pure functions of the
 * members (with the topics each subscribes to), the partition counts and the previous assignment.
 * The coordinator computes assignments on the broker; no member needs to be elected to do it.
 *
 * - `range`: per topic, partitions split into contiguous ranges over the members sorted by id.
 * - `round-robin`: all partitions of all topics dealt in turn over the members sorted by id.
 * - `sticky` (default): partitions keep their owner when it is still a member subscribed to the
 *   topic and the result stays balanced (owners differ by at most one partition); only the excess
 *   and the orphaned partitions move, to the least loaded members.
 */
import { assert } from '../base/index.js';

export const ASSIGNMENT_STRATEGIES = ['sticky', 'range', 'round-robin'] as const;
export type AssignmentStrategy = (typeof ASSIGNMENT_STRATEGIES)[number];

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface AssignmentInput {
  /** Member id -> the topics it subscribes to. */
  members: ReadonlyMap<string, readonly string[]>;
  /** Topic -> partition count (topics that do not exist are absent). */
  partitionCounts: ReadonlyMap<string, number>;
  /** The current owner of each partition, keyed by `partitionKey`. */
  previous: ReadonlyMap<string, string>;
}

/** Member id -> the partitions it owns. Every member appears, possibly with none. */
export type Assignment = Map<string, TopicPartition[]>;

export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

function subscribedPartitions(input: AssignmentInput): TopicPartition[] {
  const topics = new Set<string>();
  for (const subscribed of input.members.values()) for (const topic of subscribed) topics.add(topic);
  const partitions: TopicPartition[] = [];
  for (const topic of [...topics].sort()) {
    const count = input.partitionCounts.get(topic) ?? 0;
    for (let partition = 0; partition < count; partition++) partitions.push({ topic, partition });
  }
  return partitions;
}

function emptyAssignment(input: AssignmentInput): Assignment {
  return new Map([...input.members.keys()].sort().map((member) => [member, []]));
}

function rangeAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  const members = [...input.members.keys()].sort();
  for (const topic of [...new Set([...input.members.values()].flat())].sort()) {
    const consumers = members.filter((m) => input.members.get(m)!.includes(topic));
    const count = input.partitionCounts.get(topic) ?? 0;
    const each = Math.floor(count / Math.max(1, consumers.length));
    const extra = count % Math.max(1, consumers.length);
    let next = 0;
    consumers.forEach((member, i) => {
      const take = each + (i < extra ? 1 : 0);
      for (let k = 0; k < take; k++) result.get(member)!.push({ topic, partition: next++ });
    });
  }
  return result;
}

function roundRobinAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  const members = [...input.members.keys()].sort();
  let turn = 0;
  for (const tp of subscribedPartitions(input)) {
    // Deal to the next member (in turn) that subscribes to this topic.
    for (let tries = 0; tries < members.length; tries++) {
      const member = members[(turn + tries) % members.length]!;
      if (input.members.get(member)!.includes(tp.topic)) {
        result.get(member)!.push(tp);
        turn = (turn + tries + 1) % members.length;
        break;
      }
    }
  }
  return result;
}

function stickyAssign(input: AssignmentInput): Assignment {
  const result = emptyAssignment(input);
  const members = [...input.members.keys()].sort();
  const partitions = subscribedPartitions(input);
  const eligible = (member: string, tp: TopicPartition): boolean => input.members.get(member)!.includes(tp.topic);
  // Balanced target: each member may own at most ceil(total / members) partitions.
  const quota = Math.ceil(partitions.length / Math.max(1, members.length));
  const unassigned: TopicPartition[] = [];
  for (const tp of partitions) {
    const owner = input.previous.get(partitionKey(tp));
    const owned = owner === undefined ? undefined : result.get(owner);
    if (owner !== undefined && owned !== undefined && eligible(owner, tp) && owned.length < quota) owned.push(tp);
    else unassigned.push(tp);
  }
  // Members far below the average take partitions from the most loaded ones, so a join rebalances.
  const floor = Math.floor(partitions.length / Math.max(1, members.length));
  for (const member of members) {
    while (result.get(member)!.length < floor) {
      const donor = members
        .filter((m) => m !== member && result.get(m)!.length > floor)
        .sort((a, b) => result.get(b)!.length - result.get(a)!.length)
        .find((m) => result.get(m)!.some((tp) => eligible(member, tp)));
      if (donor === undefined) break;
      const donated = result.get(donor)!;
      const index = donated.findLastIndex((tp) => eligible(member, tp));
      unassigned.push(...donated.splice(index, 1));
      const tp = unassigned.pop()!;
      result.get(member)!.push(tp);
    }
  }
  for (const tp of unassigned) {
    // The least loaded eligible member; among equals, the previous owner keeps it.
    const previousOwner = input.previous.get(partitionKey(tp));
    const rank = (m: string): number => result.get(m)!.length * 2 + (m === previousOwner ? 0 : 1);
    const target = members.filter((m) => eligible(m, tp)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))[0];
    if (target !== undefined) result.get(target)!.push(tp);
  }
  return result;
}

export function assign(strategy: AssignmentStrategy, input: AssignmentInput): Assignment {
  const result = strategy === 'range' ? rangeAssign(input) : strategy === 'round-robin' ? roundRobinAssign(input) : stickyAssign(input);
  const seen = new Set<string>();
  for (const owned of result.values()) {
    for (const tp of owned) {
      assert(!seen.has(partitionKey(tp)), () => `partition ${tp.topic}/${tp.partition} assigned twice`);
      seen.add(partitionKey(tp));
    }
  }
  return result;
}
