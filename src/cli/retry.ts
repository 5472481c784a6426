/**
 * The retry schedule of the commands that retry (produce, consume): exponential backoff with jitter,
 * never sooner than the broker's `retryAfterMs` hint, for a bounded number of retries. Whether to
 * retry reads only the error's `retriable` flag (README "Errors"), never its message. Randomness is
 * a parameter, and the commands take a `sleep`, so the schedule is testable without waiting.
 */
import { isSluiceError } from '../client/index.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0: no retries). */
  retriesMax: number;
  /** Delay before the first retry, doubled for each further one. */
  backoffMs: number;
  /** Longest delay computed from the backoff (a longer `retryAfterMs` hint still wins). */
  backoffMsMax: number;
}

/** About 15 to 25 s of retrying in all: long enough to ride out a broker restart. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retriesMax: 10, backoffMs: 100, backoffMsMax: 5_000 };

/** Returns a float in [0, 1). */
export type RandomSource = () => number;

/** Resolves after `delayMs`, or at once when `signal` aborts. The timer keeps the process alive. */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, delayMs);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether a failure may succeed when retried: only errors that say so. */
export function isRetriable(error: unknown): boolean {
  return isSluiceError(error) && error.retriable;
}

/**
 * The wait before retry number `retry` (1 for the first): "equal jitter", a random point in the upper
 * half of min(backoffMs * 2^(retry-1), backoffMsMax), so concurrent clients spread out but still back
 * off; and at least the broker's `retryAfterMs` hint.
 */
export function retryDelayMs(error: unknown, retry: number, policy: RetryPolicy, random: RandomSource = Math.random): number {
  const exponential = Math.min(policy.backoffMsMax, policy.backoffMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.round(exponential / 2 + random() * (exponential / 2));
  const hint = isSluiceError(error) ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(jittered, hint);
}
