import { describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../../src/base/index.js';

describe('ManualClock', () => {
  it('fires due timers in due order while advancing, and not before', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimer(50, () => fired.push(`b@${clock.nowMs()}`));
    clock.setTimer(10, () => fired.push(`a@${clock.nowMs()}`));
    const cancelled = clock.setTimer(20, () => fired.push('cancelled'));
    cancelled.cancel();
    clock.advance(49);
    expect(fired).toEqual(['a@1010']);
    clock.advance(1);
    expect(fired).toEqual(['a@1010', 'b@1050']);
    expect(clock.nowMs()).toBe(1050);
  });

  it('fires timers scheduled by timers within the same advance', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const tick = () => {
      fired.push(clock.nowMs());
      clock.setTimer(100, tick);
    };
    clock.setTimer(100, tick);
    clock.advance(350);
    expect(fired).toEqual([100, 200, 300]);
    expect(clock.pendingTimerCount()).toBe(1);
  });
});

describe('seededRandom', () => {
  it('replays the same sequence from the same seed and stays in range', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 1000 }, () => a.int(5, 10));
    expect(values).toEqual(Array.from({ length: 1000 }, () => b.int(5, 10)));
    expect(Math.min(...values)).toBe(5);
    expect(Math.max(...values)).toBe(9);
  });
});
