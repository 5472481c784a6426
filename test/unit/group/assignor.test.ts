import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_STRATEGIES, assign, partitionKey, type Assignment } from '../../../src/group/assignor.js';

function owners(assignment: Assignment): Map<string, string> {
  const result = new Map<string, string>();
  for (const [member, partitions] of assignment) for (const tp of partitions) result.set(partitionKey(tp), member);
  return result;
}

const loads = (assignment: Assignment) => [...assignment.values()].map((p) => p.length);

describe('assignment strategies', () => {
  it.each(ASSIGNMENT_STRATEGIES)('%s assigns every partition exactly once, to a subscribed member, balanced', (strategy) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), (memberCount, p1, p2) => {
        const members = new Map(Array.from({ length: memberCount }, (_, i) => [`m${i}`, ['a', 'b']] as const));
        const result = assign(strategy, { members, partitionCounts: new Map([['a', p1], ['b', p2]]), previous: new Map() });
        expect(owners(result).size).toBe(p1 + p2);
        if (strategy !== 'range') expect(Math.max(...loads(result)) - Math.min(...loads(result))).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('range gives each member contiguous ranges per topic', () => {
    const members = new Map([['m1', ['t']], ['m0', ['t']]]);
    const result = assign('range', { members, partitionCounts: new Map([['t', 5]]), previous: new Map() });
    expect(result.get('m0')!.map((tp) => tp.partition)).toEqual([0, 1, 2]);
    expect(result.get('m1')!.map((tp) => tp.partition)).toEqual([3, 4]);
  });

  it('only assigns a topic to members that subscribe to it', () => {
    const members = new Map([['m0', ['a']], ['m1', ['b']]]);
    for (const strategy of ASSIGNMENT_STRATEGIES) {
      const result = assign(strategy, { members, partitionCounts: new Map([['a', 3], ['b', 2]]), previous: new Map() });
      expect(result.get('m0')!.every((tp) => tp.topic === 'a')).toBe(true);
      expect(result.get('m1')!.every((tp) => tp.topic === 'b')).toBe(true);
    }
  });

  it('sticky moves only what it must when a member joins or leaves', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 64 }), (memberCount, partitions) => {
        const subscribe = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`m${i}`, ['t']] as const));
        const counts = new Map([['t', partitions]]);
        const before = owners(assign('sticky', { members: subscribe(memberCount), partitionCounts: counts, previous: new Map() }));
        // A member joins: the partitions that move all go to it.
        const joined = owners(assign('sticky', { members: subscribe(memberCount + 1), partitionCounts: counts, previous: before }));
        for (const [key, owner] of joined) if (owner !== before.get(key)) expect(owner).toBe(`m${memberCount}`);
        // The last member leaves: only its partitions move.
        const left = owners(assign('sticky', { members: subscribe(memberCount - 1), partitionCounts: counts, previous: before }));
        for (const [key, owner] of before) if (owner !== `m${memberCount - 1}`) expect(left.get(key)).toBe(owner);
      }),
      { numRuns: 200 },
    );
  });
});
