/**
 * Time is injected. Everything that waits (flush intervals, session expiry, visibility timeouts,
 * retention, long polls) asks a `Clock`, so tests advance a `ManualClock` instead of sleeping.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (record timestamps, retention). */
  nowMs(): number;
  /** Calls `fn` once after `delayMs`. Real timers are unref'd: a pending timer never keeps the process up. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, delayMs);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface PendingTimer {
  dueMs: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to; due timers fire in due-time order during `advance`. */
export class ManualClock implements Clock {
  private currentMs: number;
  private timers: PendingTimer[] = [];
  private nextSeq = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.currentMs = startMs;
  }

  nowMs(): number {
    return this.currentMs;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer: PendingTimer = { dueMs: this.currentMs + Math.max(0, delayMs), seq: this.nextSeq++, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((t) => t !== timer)) };
  }

  /** Moves time forward by `deltaMs`, firing each timer that comes due on the way. */
  advance(deltaMs: number): void {
    const targetMs = this.currentMs + deltaMs;
    for (;;) {
      const due = this.timers
        .filter((t) => t.dueMs <= targetMs)
        .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.currentMs = Math.max(this.currentMs, due.dueMs);
      due.fn();
    }
    this.currentMs = targetMs;
  }

  pendingTimerCount(): number {
    return this.timers.length;
  }
}
