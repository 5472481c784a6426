/**
 * The consumer's work scheduler: records delivered by the group session wait in one queue per
 * partition; at most `concurrency` partitions are being handled at once, and a partition's records
 * are handled one after another in offset order (one batch after another with `eachBatch`).
 *
 * Outcomes go back on the session that delivered the record: acknowledgments are coalesced into
 * offset ranges and sent once per event-loop turn; a failure flushes the partition's pending acks
 * and then nacks (retry after a delay) or rejects (dead letter) the record.
 *
 * Keeping the order through failures: when a record fails, the broker takes back every later
 * record of its partition and redelivers from the failed one after its retry delay (or from the next
 * one, once the failed record is dead-lettered). So the queue drops the partition's later records,
 * and a "fence" holds back deliveries the broker sent before it saw the failure (they start past
 * everything received so far) until the redelivery arrives, which proves them stale. A fence that
 * sees no redelivery within its expected delay releases what it held (nothing is ever lost to it;
 * at worst a record is handled twice). Likewise a delivery that starts at or before an offset
 * already received means the broker rewound (a visibility timeout, a reset): queued records from
 * there on are dropped in favour of the new delivery.
 *
 * Revoked partitions: their queued records are still handled (the broker accepts their acks while it
 * waits for the old owner to finish, and hands the partition on as soon as they are acknowledged);
 * a MEMBER_FENCED refusal for such a partition drops its queue.
 *
 * Visibility deadlines run from delivery, so records waiting in a queue (behind a long job, or in a
 * paused partition) get their deadlines extended while they wait; the record being handled does not
 * (a handler that hangs should time out): long jobs call `extendDeadline`.
 */
import type { ConsumerSession, DeliveredRecord, SessionEvent } from './consumer-session.js';
import type { SluiceError } from './errors.js';

/** A record and the session that delivered it (acks must go back on that one). */
export interface QueuedRecord {
  record: DeliveredRecord;
  session: ConsumerSession;
  /** When it arrived (its visibility deadline started about then). */
  receivedAtMs: number;
}

export interface Failure {
  error: string;
  errorClass: string;
  delayMs?: number;
}

/** What a piece of work (one record, or a batch of one partition) did with its records. */
export interface WorkResult {
  /** Records to acknowledge (with autoCommit; ignored without). */
  acknowledged: QueuedRecord[];
  /** The first record that failed, and how; later records of the work are dropped (they come again). */
  failed?: { item: QueuedRecord; failure: Failure; deadLetter: boolean };
}

export interface Work {
  topic: string;
  partition: number;
  items: QueuedRecord[];
  /** Whether the records are no longer this consumer's to finish (seeked, lost with the session). */
  isStale(): boolean;
}

export interface DispatchSettings {
  concurrency: number;
  /** eachMessage takes one record per work; eachBatch everything queued for the partition. */
  batch: boolean;
  autoCommit: boolean;
  ackTimeoutMs: number;
  /** The nack backoff the member joined with (the broker doubles it per attempt). */
  retryBackoffMs: number;
  /** A topic's maxDeliveryAttempts, when known (undefined: assume the record will be retried). */
  maxDeliveryAttempts(topic: string): number | undefined;
}

/** The broker's default ceiling on a retry delay (retryBackoffMsMax); a fence waits at most about this long. */
const RETRY_DELAY_ESTIMATE_MAX_MS = 60_000;
/** What a fence waits beyond the expected retry delay before releasing what it held. */
const FENCE_MARGIN_MS = 5_000;

interface Fence {
  /** Deliveries starting at or before this offset are the broker's answer to the failure. */
  maxStart: number;
  held: QueuedRecord[][];
  timer: NodeJS.Timeout;
}

class PartitionQueue {
  records: QueuedRecord[] = [];
  busy = false;
  paused = false;
  highestReceived = -1;
  /** Deliveries of an older generation are dropped (set by a seek). */
  generationFloor = 0;
  fence: Fence | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}
}

interface PendingAck {
  session: ConsumerSession;
  topic: string;
  partition: number;
  generation: number;
  offsets: number[];
}

export class Dispatcher {
  private readonly queues = new Map<string, PartitionQueue>();
  private readonly pendingAcks = new Map<string, PendingAck>();
  private ackFlush: NodeJS.Immediate | undefined;
  private readonly active = new Map<Promise<void>, ConsumerSession>();
  private activeCount = 0;
  private cursor = 0;
  private running = true;
  private readonly extender: NodeJS.Timeout;
  private readonly sessionIds = new WeakMap<ConsumerSession, number>();
  private nextSessionId = 1;

  constructor(
    private readonly settings: DispatchSettings,
    private readonly handle: (work: Work) => Promise<WorkResult>,
    private readonly onWarning: (error: SluiceError) => void,
  ) {
    const everyMs = Math.max(100, Math.floor(settings.ackTimeoutMs / 3));
    this.extender = setInterval(() => this.extendWaiting(everyMs), everyMs);
    this.extender.unref();
  }

  // ---- input ----

  /** Handles one event of `session`. */
  accept(session: ConsumerSession, event: SessionEvent): void {
    if (event.type === 'records') this.onRecords(session, event.topic, event.partition, event.generation, event.records);
    else if (event.type === 'error') this.onRefusal(session, event.error);
  }

  private onRecords(session: ConsumerSession, topic: string, partition: number, generation: number, records: DeliveredRecord[]): void {
    const first = records[0];
    if (!this.running || first === undefined) return;
    const queue = this.queue(topic, partition);
    if (generation < queue.generationFloor) return;
    const receivedAtMs = Date.now();
    const items = records.map((record) => ({ record, session, receivedAtMs }));
    if (queue.fence !== undefined) {
      if (first.offset > queue.fence.maxStart) {
        queue.fence.held.push(items);
        return;
      }
      this.liftFence(queue, { release: false });
    }
    this.enqueue(queue, items);
  }

  private enqueue(queue: PartitionQueue, items: QueuedRecord[]): void {
    const first = items[0]!.record.offset;
    if (first <= queue.highestReceived) queue.records = queue.records.filter((q) => q.record.offset < first);
    queue.records.push(...items);
    queue.highestReceived = Math.max(queue.highestReceived, items[items.length - 1]!.record.offset);
    this.schedule();
  }

  /** A request the broker refused without ending the session. */
  private onRefusal(session: ConsumerSession, error: SluiceError): void {
    if (error.code === 'MEMBER_FENCED') {
      // The partition is no longer ours: what we hold of it was handed on.
      const { topic, partition } = error.details;
      const owned = session.partitions.some((p) => p.topic === topic && p.partition === partition);
      if (typeof topic === 'string' && typeof partition === 'number' && !owned) this.dropPartition(topic, partition);
    }
    this.onWarning(error);
  }

  private queue(topic: string, partition: number): PartitionQueue {
    const key = `${topic}\u0000${partition}`;
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = new PartitionQueue(topic, partition);
      this.queues.set(key, queue);
    }
    return queue;
  }

  // ---- scheduling ----

  private schedule(): void {
    while (this.running && this.activeCount < this.settings.concurrency) {
      const queue = this.nextReady();
      if (queue === undefined) return;
      const items = this.settings.batch ? queue.records.splice(0) : queue.records.splice(0, 1);
      const session = items[0]!.session;
      queue.busy = true;
      this.activeCount++;
      const work: Work = {
        topic: queue.topic,
        partition: queue.partition,
        items,
        isStale: () => !this.running || !session.isOpen || items[0]!.record.generation < queue.generationFloor,
      };
      const done = this.run(queue, work).finally(() => {
        queue.busy = false;
        this.activeCount--;
        this.active.delete(done);
        this.schedule();
      });
      this.active.set(done, session);
    }
  }

  /** The next partition with records that is neither busy nor paused, round robin. */
  private nextReady(): PartitionQueue | undefined {
    const queues = [...this.queues.values()];
    for (let i = 0; i < queues.length; i++) {
      const queue = queues[(this.cursor + i) % queues.length]!;
      if (queue.records.length > 0 && !queue.busy && !queue.paused) {
        this.cursor = (this.cursor + i + 1) % queues.length;
        return queue;
      }
    }
    return undefined;
  }

  private async run(queue: PartitionQueue, work: Work): Promise<void> {
    let result: WorkResult;
    try {
      result = await this.handle(work);
    } catch {
      // The handler adapters catch everything; should one not, the records are left to time out.
      return;
    }
    if (this.settings.autoCommit) for (const item of result.acknowledged) this.addAck(item);
    if (result.failed !== undefined) this.fail(queue, result.failed.item, result.failed.failure, result.failed.deadLetter);
  }

  // ---- outcomes ----

  private addAck(item: QueuedRecord): void {
    const { record, session } = item;
    const key = `${this.sessionId(session)}\u0000${record.topic}\u0000${record.partition}\u0000${record.generation}`;
    let pending = this.pendingAcks.get(key);
    if (pending === undefined) {
      pending = { session, topic: record.topic, partition: record.partition, generation: record.generation, offsets: [] };
      this.pendingAcks.set(key, pending);
    }
    pending.offsets.push(record.offset);
    this.ackFlush ??= setImmediate(() => this.flushAcks());
  }

  /** Sends the coalesced acknowledgments now. */
  flushAcks(): void {
    if (this.ackFlush !== undefined) clearImmediate(this.ackFlush);
    this.ackFlush = undefined;
    for (const pending of this.pendingAcks.values()) pending.session.ack(pending, pending.offsets);
    this.pendingAcks.clear();
  }

  private sessionId(session: ConsumerSession): number {
    let id = this.sessionIds.get(session);
    if (id === undefined) {
      id = this.nextSessionId++;
      this.sessionIds.set(session, id);
    }
    return id;
  }

  /** Nacks or rejects a record, after the acks before it; sets up the fence (see the file comment). */
  private fail(queue: PartitionQueue, item: QueuedRecord, failure: Failure, deadLetter: boolean): void {
    const { record, session } = item;
    this.flushAcks();
    if (deadLetter) session.reject(record, { error: failure.error, errorClass: failure.errorClass });
    else session.nack(record, failure);
    if (!session.isOpen) return;
    queue.records = queue.records.filter((q) => q.session !== session || q.record.offset < record.offset);
    const max = this.settings.maxDeliveryAttempts(record.topic);
    const willDeadLetter = deadLetter || (max !== undefined && record.deliveryAttempt >= max);
    const highest = queue.highestReceived;
    const maxStart = highest > record.offset ? highest : willDeadLetter ? undefined : record.offset;
    if (queue.fence !== undefined) this.liftFence(queue, { release: false });
    if (maxStart === undefined) return;
    const retryDelayMs =
      failure.delayMs ?? Math.min(RETRY_DELAY_ESTIMATE_MAX_MS, this.settings.retryBackoffMs * 2 ** Math.max(0, record.deliveryAttempt - 1));
    const waitMs = (willDeadLetter ? 0 : 2 * retryDelayMs) + FENCE_MARGIN_MS;
    const fence: Fence = { maxStart, held: [], timer: setTimeout(() => queue.fence === fence && this.liftFence(queue, { release: true }), waitMs) };
    fence.timer.unref();
    queue.fence = fence;
  }

  private liftFence(queue: PartitionQueue, options: { release: boolean }): void {
    const fence = queue.fence;
    if (fence === undefined) return;
    clearTimeout(fence.timer);
    queue.fence = undefined;
    if (options.release) for (const items of fence.held) if (items[0]!.session.isOpen) this.enqueue(queue, items);
  }

  // ---- control ----

  pause(topic: string, partition: number): void {
    this.queue(topic, partition).paused = true;
  }

  resume(topic: string, partition: number): void {
    this.queue(topic, partition).paused = false;
    this.schedule();
  }

  isPaused(topic: string, partition: number): boolean {
    return this.queues.get(`${topic}\u0000${partition}`)?.paused ?? false;
  }

  /** After a seek (a reset that starts generation `generation` or later): drop what was delivered before. */
  seeked(topic: string, partition: number, generation: number): void {
    const queue = this.queue(topic, partition);
    queue.generationFloor = Math.max(queue.generationFloor, generation);
    queue.records = queue.records.filter((q) => q.record.generation >= generation);
    if (queue.fence !== undefined) this.liftFence(queue, { release: false });
    queue.highestReceived = queue.records.length === 0 ? -1 : queue.records[queue.records.length - 1]!.record.offset;
  }

  private dropPartition(topic: string, partition: number): void {
    const queue = this.queues.get(`${topic}\u0000${partition}`);
    if (queue === undefined) return;
    queue.records = [];
    if (queue.fence !== undefined) this.liftFence(queue, { release: false });
  }

  /**
   * The session ended: forget its records and, unless the consumer is stopping (`stop` already
   * waited as long as it may), wait for the work on them to finish.
   */
  async detach(session: ConsumerSession): Promise<void> {
    for (const queue of this.queues.values()) {
      queue.records = queue.records.filter((q) => q.session !== session);
      if (queue.fence !== undefined) this.liftFence(queue, { release: false });
      queue.highestReceived = -1;
      queue.generationFloor = 0;
    }
    if (this.running) await Promise.all([...this.active].filter(([, s]) => s === session).map(([done]) => done));
    this.flushAcks();
  }

  /** Starts no more work and drops queued records; resolves when running work is done or `timeoutMs` passed. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.running = false;
    clearInterval(this.extender);
    for (const queue of this.queues.values()) {
      queue.records = [];
      if (queue.fence !== undefined) this.liftFence(queue, { release: false });
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all([...this.active.keys()]).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    this.flushAcks();
    return finished;
  }

  /**
   * Keeps queued records from timing out while they wait: every tick (a third of the ack timeout),
   * those that have waited a tick or more get a fresh deadline.
   */
  private extendWaiting(tickMs: number): void {
    const waitedSinceMs = Date.now() - tickMs;
    for (const queue of this.queues.values()) {
      const bySession = new Map<ConsumerSession, number[]>();
      for (const { record, session, receivedAtMs } of queue.records) {
        if (receivedAtMs <= waitedSinceMs && session.isOpen) bySession.set(session, [...(bySession.get(session) ?? []), record.offset]);
      }
      for (const [session, offsets] of bySession) session.extend(queue, offsets, this.settings.ackTimeoutMs);
    }
  }
}
