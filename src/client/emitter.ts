/**
 * A small typed event emitter for the producer's and consumer's notifications. Unlike Node's
 * EventEmitter it never throws for an unheard event, and a listener that throws is reported on
 * `process.emitWarning` instead of breaking the producer or consumer that emitted the event.
 */
export type Listener<T> = (event: T) => void;

export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        process.emitWarning(`a listener of "${String(event)}" threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
