/**
 * The retry schedule the CLI takes from the client library (src/client/backoff.ts): `consume`
 * reopens a failed partition stream with it, and the Producer and Consumer behind `produce`,
 * `consume --group` and `work` retry with it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, SluiceError, retryDelayMs, retryPolicy } from '../../../src/client/index.js';

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
});

describe('retryPolicy', () => {
  it("fills what `--retries` leaves out from the defaults (10 retries, 100 ms doubling up to 5 s) and refuses nonsense", () => {
    expect(retryPolicy({ retriesMax: 0 }, DEFAULT_RETRY_POLICY)).toEqual({ retriesMax: 0, backoffMs: 100, backoffMsMax: 5_000 });
    expect(retryPolicy(undefined, DEFAULT_RETRY_POLICY)).toEqual({ retriesMax: 10, backoffMs: 100, backoffMsMax: 5_000 });
    expect(() => retryPolicy({ backoffMs: 10, backoffMsMax: 5 }, DEFAULT_RETRY_POLICY)).toThrow(RangeError);
  });
});
