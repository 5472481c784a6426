/**
 * The retry schedule the producer (failed batches) and the consumer (rejoining after a lost
 * session) share: exponential backoff with "equal jitter", never sooner than the broker's
 * `retryAfterMs` hint. Whether to retry reads only the error's `code` and `retriable` flag (README
 * "Errors"), never its message. Randomness is a parameter so the schedule is testable.
 */
import { isSluiceError } from './errors.js';

export interface RetryOptions {
  /** Retries after the first attempt; 0 disables retrying. */
  retriesMax?: number;
  /** Delay before the first retry, doubled for each further one. */
  backoffMs?: number;
  /** Longest delay the backoff computes (a longer `retryAfterMs` hint from the broker still wins). */
  backoffMsMax?: number;
}

export type RetryPolicy = Required<RetryOptions>;

/** About 15 to 25 s of retrying in all: long enough to ride out a broker restart (the producer's default, and the CLI's). */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({ retriesMax: 10, backoffMs: 100, backoffMsMax: 5_000 });

/** Returns a float in [0, 1). */
export type RandomSource = () => number;

export function retryPolicy(options: RetryOptions | undefined, defaults: RetryPolicy): RetryPolicy {
  const policy = { ...defaults, ...stripUndefined(options ?? {}) };
  if (!(policy.retriesMax >= 0)) throw new RangeError(`retriesMax must be >= 0, got ${policy.retriesMax}`);
  if (!(policy.backoffMs >= 0)) throw new RangeError(`backoffMs must be >= 0, got ${policy.backoffMs}`);
  if (!(policy.backoffMsMax >= policy.backoffMs)) throw new RangeError(`backoffMsMax must be >= backoffMs, got ${policy.backoffMsMax}`);
  return policy;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The wait before retry number `retry` (1 for the first): a random point in the upper half of
 * min(backoffMs * 2^(retry-1), backoffMsMax), so clients that failed together spread out but
 * still back off; and at least the error's `retryAfterMs`.
 */
export function retryDelayMs(error: unknown, retry: number, policy: RetryPolicy, random: RandomSource = Math.random): number {
  const exponential = Math.min(policy.backoffMsMax, policy.backoffMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.round(exponential / 2 + random() * (exponential / 2));
  const hint = isSluiceError(error) ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(jittered, hint);
}

/** Resolves after `delayMs`, or at once when `signal` aborts. */
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
