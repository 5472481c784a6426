/**
 * A bounded budget of bytes in use (e.g. produce bytes being written). `tryReserve` takes bytes if
 * they fit and returns a release function, so every reservation is released exactly once.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** Reserves `bytes` if they fit (a reservation larger than the whole limit fits only when idle). */
  tryReserve(bytes: number): (() => void) | undefined {
    if (this.used + bytes > this.limitBytes && this.used > 0) return undefined;
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}
