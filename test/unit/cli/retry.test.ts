import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../../src/client/index.js';
import { LineSplitter } from '../../../src/cli/produce.js';
import { type RetryPolicy, isRetriable, retryDelayMs } from '../../../src/cli/retry.js';

const policy: RetryPolicy = { retriesMax: 3, backoffMs: 100, backoffMsMax: 1_000 };

function failure(fields: { retriable: boolean; retryAfterMs?: number; code?: 'BROKER_BUSY' | 'TOPIC_NOT_FOUND' }): SluiceError {
  return new SluiceError({ code: fields.code ?? (fields.retriable ? 'BROKER_BUSY' : 'TOPIC_NOT_FOUND'), message: 'm', grpcCode: 8, ...fields });
}

describe('retryDelayMs', () => {
  it('doubles per retry up to the cap, jittered within the upper half', () => {
    const error = failure({ retriable: true });
    expect([1, 2, 3, 4, 5].map((retry) => retryDelayMs(error, retry, policy, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((retry) => retryDelayMs(error, retry, policy, () => 0.999_999))).toEqual([100, 200, 400, 800, 1_000]);
  });

  it("waits at least the broker's retryAfterMs hint", () => {
    expect(retryDelayMs(failure({ retriable: true, retryAfterMs: 2_500 }), 1, policy, () => 0.5)).toBe(2_500);
    expect(retryDelayMs(failure({ retriable: true, retryAfterMs: 10 }), 3, policy, () => 0)).toBe(200);
  });

  it('retries only errors flagged retriable', () => {
    expect(isRetriable(failure({ retriable: true }))).toBe(true);
    expect(isRetriable(failure({ retriable: false }))).toBe(false);
    expect(isRetriable(new Error('BROKER_BUSY'))).toBe(false);
  });
});

describe('LineSplitter', () => {
  it('cuts chunks into numbered lines across chunk boundaries, without \\n or \\r\\n', () => {
    const splitter = new LineSplitter(100);
    const lines = [...splitter.push(Buffer.from('a\r\nb')), ...splitter.push(Buffer.from('c\n\nd')), splitter.end()];
    expect(lines.map((l) => [l?.lineNumber, l?.bytes.toString()])).toEqual([
      [1, 'a'],
      [2, 'bc'],
      [3, ''],
      [4, 'd'],
    ]);
    expect(splitter.end()).toBeUndefined();
  });

  it('refuses a line longer than its limit before buffering it whole', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('1234\n'))).toHaveLength(1);
    expect(() => splitter.push(Buffer.from('12345'))).toThrow('line 2 is longer than 4 bytes');
  });
});
