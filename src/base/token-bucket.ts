import type { Clock } from './clock.js';

/**
 * A token bucket for rate limits: `ratePerSecond` tokens flow in per second, up to one second's
 * worth of burst. `take` either takes all it asks for or nothing, and says how long until it could.
 */
export class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = ratePerSecond;
    this.updatedMs = clock.nowMs();
  }

  private refill(): void {
    const now = this.clock.nowMs();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.updatedMs) / 1000) * this.ratePerSecond);
    this.updatedMs = now;
  }

  /** Milliseconds until `amount` tokens are available (0 if they are now). */
  waitMsFor(amount: number): number {
    this.refill();
    // A request larger than the whole bucket is let through once the bucket is full.
    const needed = Math.min(amount, this.ratePerSecond);
    return this.tokens >= needed ? 0 : Math.ceil(((needed - this.tokens) / this.ratePerSecond) * 1000);
  }

  /** Takes `amount` tokens (the caller checked `waitMsFor` first); the balance may go negative. */
  take(amount: number): void {
    this.refill();
    this.tokens -= amount;
  }
}
