/**
 * The contract every compared system implements (one adapter file per system: sluice.ts, redis.ts,
 * nats.ts), and the records all of them send: keyed over `keyCount` keys, values of `valueBytes`
 * bytes. The runner (runner.ts) drives the workloads through this interface only, so a figure in the
 * table means the same thing for each system.
 */

export type SystemName = 'sluice' | 'redis' | 'nats';
export const SYSTEM_NAMES: readonly SystemName[] = ['sluice', 'redis', 'nats'];

/**
 * The two durability levels compared. `always`: acknowledged after fsync (Sluice `always`, Redis
 * `appendfsync always`). `interval`: acknowledged once written to the OS, fsynced in the background
 * (Sluice `interval`, Redis `everysec`, JetStream's default).
 */
export type Durability = 'always' | 'interval';
export const DURABILITIES: readonly Durability[] = ['always', 'interval'];

export interface Endpoint {
  host: string;
  port: number;
}

/** What a system does at a durability level, printed beside each of its rows. */
export interface DurabilitySetting {
  label: string;
  /** False when the system cannot be configured to match the level; its rows are then not run. */
  matched: boolean;
  /** Why it does not match, when it does not. */
  note?: string;
}

/** A running server started by an adapter (a child process of the benchmark). */
export interface ServerHandle {
  endpoint: Endpoint;
  pid: number;
  /** Stops the server gracefully (a kill after a timeout); resolves once it exited. */
  stop(): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitionCount: number;
  durability: Durability;
}

export interface RecordShape {
  valueBytes: number;
  keyCount: number;
}

export interface ProduceSpec extends RecordShape {
  topic: string;
  partitionCount: number;
  recordCount: number;
  /** Keys start at this index (so concurrent producers spread over all keys). */
  firstKey: number;
}

/** Wall-clock times (ms since the epoch, sub-millisecond) so that producers in several processes can be aggregated. */
export interface ProduceOutcome {
  recordCount: number;
  startedAtMs: number;
  endedAtMs: number;
}

export interface ConsumeSpec {
  topic: string;
  partitionCount: number;
  group: string;
  recordCount: number;
}

export interface ConsumeOutcome {
  recordCount: number;
  elapsedMs: number;
  /** From the start until the first record arrived (joining the group, the first fetch). */
  firstRecordMs: number;
}

export interface LatencySpec extends RecordShape {
  topic: string;
  partitionCount: number;
  group: string;
  ratePerSecond: number;
  durationMs: number;
}

export interface LatencyOutcome {
  offeredCount: number;
  receivedCount: number;
  /** Produce-to-consume latency of each received record, in milliseconds. */
  latenciesMs: Float64Array;
}

export interface SlowConsumeSpec {
  topic: string;
  partitionCount: number;
  group: string;
  ratePerSecond: number;
  durationMs: number;
}

/** A connection to a running system: the workloads' client side. */
export interface SystemClient {
  createTopic(spec: TopicSpec): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  /** Sends `recordCount` records as fast as the client's best batching allows; resolves once all are acknowledged. */
  produce(spec: ProduceSpec): Promise<ProduceOutcome>;
  /** Reads `recordCount` records of a backlog through a new consumer group, acknowledging each. */
  consume(spec: ConsumeSpec): Promise<ConsumeOutcome>;
  /** Produces at a fixed rate with a timestamp in each value, and consumes them through a group at the same time. */
  latency(spec: LatencySpec): Promise<LatencyOutcome>;
  /** A consumer group member reading (and acknowledging) at about `ratePerSecond`. */
  slowConsume(spec: SlowConsumeSpec): Promise<number>;
  close(): Promise<void>;
}

export interface SystemAdapter {
  name: SystemName;
  describeDurability(durability: Durability): DurabilitySetting;
  /** Starts the server on 127.0.0.1 (a free port) with its data under `dataDir`; resolves once it answers. */
  start(options: { durability: Durability; dataDir: string }): Promise<ServerHandle>;
  connect(endpoint: Endpoint): Promise<SystemClient>;
}

// ---- records ----

/** Monotonic milliseconds comparable across processes on this machine (the epoch plus sub-millisecond precision). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function keyName(index: number, keyCount: number): string {
  return `key-${String(index % keyCount).padStart(4, '0')}`;
}

/** FNV-1a of the key, for the peers that route by hand (Redis: one stream per partition; NATS: one subject per partition). */
export function partitionOf(key: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitionCount;
}

/** A value of `valueBytes` filled with pseudo-random bytes (shared by every record of a throughput run). */
export function fillerValue(valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes);
  let state = 0x2545f491;
  for (let i = 0; i < valueBytes; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    value[i] = state >>> 24;
  }
  return value;
}

export const TIMESTAMP_BYTES = 8;

/** A value whose first 8 bytes carry the send time (nowMs, float64 LE), for the latency workload. */
export function timestampedValue(filler: Buffer): Buffer {
  const value = Buffer.from(filler);
  value.writeDoubleLE(nowMs(), 0);
  return value;
}

export function readTimestamp(value: Buffer | Uint8Array): number {
  const buffer = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return buffer.readDoubleLE(0);
}

/**
 * Runs `total` records through `sendChunk` in chunks of `chunkRecords`, with at most `window` chunks
 * unanswered: the batching-and-pipelining pattern every throughput producer here uses.
 */
export async function runWindowed(options: {
  total: number;
  chunkRecords: number;
  window: number;
  sendChunk: (first: number, count: number) => Promise<unknown>;
}): Promise<void> {
  const { total, chunkRecords, window, sendChunk } = options;
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (next < total && failure === undefined) {
      const first = next;
      const count = Math.min(chunkRecords, total - first);
      next += count;
      try {
        await sendChunk(first, count);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error('a chunk failed', { cause: failure });
}

/** A system this many seconds of records behind the offered rate fails the figure (its unanswered sends would only pile up in memory). */
const BEHIND_SECONDS_MAX = 5;

/**
 * Calls `emit(count)` every millisecond tick with the records due at `ratePerSecond` since the start,
 * for `durationMs`; `emit` sends them and returns the promise of their acknowledgment. Resolves with
 * the number offered once every send is answered (rejects with the first send that failed). Rejects
 * once the records sent and not yet acknowledged exceed BEHIND_SECONDS_MAX seconds' worth: the
 * system cannot take the rate. Sends are counted, not kept: holding every send's promise (and the
 * answer it resolved with) for the whole run made each young-generation collection of the bench
 * process copy them, and those pauses landed in every system's latency figures.
 */
export async function offerAtRate(options: { ratePerSecond: number; durationMs: number; emit: (count: number) => Promise<unknown> }): Promise<number> {
  const { ratePerSecond, durationMs, emit } = options;
  const outstandingMax = ratePerSecond * BEHIND_SECONDS_MAX;
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const startedAt = performance.now();
  let offered = 0;
  let outstanding = 0;
  let unansweredSends = 0;
  let failed: { error: unknown } | undefined;
  let allAnswered: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        const elapsed = performance.now() - startedAt;
        if (outstanding > outstandingMax) {
          throw new Error(`fell behind the offered ${ratePerSecond} records/s: more than ${outstandingMax} records unacknowledged after ${Math.round(elapsed)} ms`);
        }
        const due = Math.min(total, Math.floor((ratePerSecond * elapsed) / 1000)) - offered;
        if (due > 0) {
          offered += due;
          outstanding += due;
          unansweredSends++;
          const answered = (): void => {
            outstanding -= due;
            if (--unansweredSends === 0) allAnswered?.();
          };
          emit(due).then(answered, (error: unknown) => {
            failed ??= { error };
            answered();
          });
        }
        if (offered >= total) {
          clearInterval(timer);
          resolve();
        }
      } catch (error) {
        clearInterval(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    }, 1);
  });
  if (unansweredSends > 0) await new Promise<void>((resolve) => (allAnswered = resolve));
  if (failed !== undefined) throw failed.error instanceof Error ? failed.error : new Error(String(failed.error));
  return offered;
}

/** Collects latencies of records stamped after the warm-up, and resolves `done` once `expected` records arrived. */
export class LatencyRecorder {
  private readonly samples: number[] = [];
  private received = 0;
  private expected = Number.POSITIVE_INFINITY;
  private resolveDone: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(private readonly measureFromMs: number) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  record(value: Buffer | Uint8Array | null | undefined): void {
    const now = nowMs();
    this.received++;
    if (value !== null && value !== undefined && value.byteLength >= TIMESTAMP_BYTES) {
      const sentAt = readTimestamp(value);
      if (sentAt >= this.measureFromMs) this.samples.push(now - sentAt);
    }
    if (this.received >= this.expected) this.resolveDone?.();
  }

  expect(count: number): void {
    this.expected = count;
    if (this.received >= count) this.resolveDone?.();
  }

  get receivedCount(): number {
    return this.received;
  }

  latencies(): Float64Array {
    return Float64Array.from(this.samples);
  }
}

/** Waits for `promise` at most `ms`, resolving either way (false on timeout). */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
