import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { offerAtRate } from '../../../bench/compare/workload.js';

describe('offerAtRate (bench:compare latency workload)', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  it('offers the rate for the duration and resolves once every send is answered', async () => {
    const emitted: number[] = [];
    const answers: (() => void)[] = [];
    let resolved = false;
    const offer = offerAtRate({
      ratePerSecond: 10_000,
      durationMs: 100,
      emit: (count) => {
        emitted.push(count);
        return new Promise<void>((resolve) => answers.push(resolve));
      },
    }).then((offered) => {
      resolved = true;
      return offered;
    });
    await vi.advanceTimersByTimeAsync(150);
    expect(emitted.reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(resolved).toBe(false);
    for (const answer of answers) answer();
    expect(await offer).toBe(1_000);
  });

  it('fails once more than five seconds of records are unanswered', async () => {
    const offer = offerAtRate({ ratePerSecond: 1_000, durationMs: 10_000, emit: () => new Promise(() => {}) });
    const failure = expect(offer).rejects.toThrow(/fell behind the offered 1000 records\/s: more than 5000 records unacknowledged/);
    await vi.advanceTimersByTimeAsync(5_100);
    await failure;
  });

  it('rejects with the error of a send that failed, once every send is answered', async () => {
    const answers: (() => void)[] = [];
    let calls = 0;
    let settled = false;
    const offer = offerAtRate({
      ratePerSecond: 1_000,
      durationMs: 20,
      emit: () => (++calls === 3 ? Promise.reject(new Error('broker said no')) : new Promise<void>((resolve) => answers.push(resolve))),
    });
    offer.catch(() => undefined).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(50);
    expect(settled).toBe(false);
    for (const answer of answers) answer();
    await expect(offer).rejects.toThrow('broker said no');
  });

  it('keeps going while the system answers in time', async () => {
    const offer = offerAtRate({ ratePerSecond: 1_000, durationMs: 8_000, emit: () => Promise.resolve() });
    await vi.advanceTimersByTimeAsync(8_100);
    expect(await offer).toBe(8_000);
  });
});
