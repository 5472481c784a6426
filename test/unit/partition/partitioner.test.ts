import { describe, expect, it } from 'vitest';
import { StickyPartitioner, murmur2, partitionForKey } from '../../../src/partition/index.js';

describe("Kafka's default partitioner", () => {
  it("matches the murmur2 test vectors of Kafka's UtilsTest", () => {
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [input, expected] of vectors) expect(murmur2(Buffer.from(input)), input).toBe(expected);
  });

  it('masks the sign bit (not abs) before the modulo, as the Java client does', () => {
    // murmur2("21") is negative: (-973932308 & 0x7fffffff) = 1173551340.
    expect(partitionForKey(Buffer.from('21'), 7)).toBe(1173551340 % 7);
    expect(partitionForKey(Buffer.from('abc'), 8)).toBe(479470107 % 8);
  });

  it('sends the same key to the same partition and spreads many keys over all partitions', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) {
      const key = Buffer.from(`user-${i}`);
      const partition = partitionForKey(key, 8);
      expect(partitionForKey(key, 8)).toBe(partition);
      counts[partition]!++;
    }
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });

  it('keeps keyless records of one call together and moves on for the next', () => {
    const sticky = new StickyPartitioner();
    expect([0, 1, 2, 3, 4].map(() => sticky.nextPartition(3))).toEqual([0, 1, 2, 0, 1]);
  });
});
