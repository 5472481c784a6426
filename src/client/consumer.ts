/**
 * Consumer: a consumer-group member that hands records to your code and acknowledges them.
 *
 *   await consumer.run({ eachMessage: async ({ message }) => { ... } });  // success acks, a throw nacks
 *   for await (const message of consumer) { ... }                           // the same, as a loop
 *
 * Built on ConsumerSession (one Consume stream = one membership), the Dispatcher
 * (consumer-dispatch.ts: per-partition queues, concurrency, acks, keeping order through failures)
 * and the handler adapters (consumer-handlers.ts: what a handler's return or throw means).
 *
 * Lifecycle: `run` joins the group and resolves once joined (it rejects when the first join fails
 * with an error a retry cannot fix); records are then handled in the background until
 * `disconnect()`. When the session ends with a retriable error (the broker restarted, the
 * connection broke) or UNKNOWN_MEMBER (the session expired), the consumer drops the records it had
 * queued, lets running handlers finish, and joins again after an exponential backoff; the group
 * resumes from its committed offsets (what was acknowledged). Any other end is a crash: the
 * `crash` event fires and the consumer stops. `disconnect()` stops taking records, lets running
 * handlers finish (up to `shutdownTimeoutMs`), sends their acks, and leaves the group cleanly (what
 * the member still held is redelivered to others without counting a failed attempt).
 *
 * Seek is a replay of one partition for the whole group: it resets the group's committed offset with
 * `force` (as the admin's reset does), which starts a new generation; records of the partition
 * delivered before are dropped and delivery resumes at the offset, on whichever member owns it.
 */
import { type RetryOptions, type RetryPolicy, retryDelayMs, retryPolicy, sleep } from './backoff.js';
import type { Connection } from './connection.js';
import { Dispatcher, type QueuedRecord, type Work, type WorkResult } from './consumer-dispatch.js';
import {
  type ConsumerMessage,
  type EachBatchPayload,
  type EachMessagePayload,
  HandlerAdapter,
  describeFailure,
  type HandlerError,
  type IteratedMessage,
  type MessageControls,
  type RunOptions,
} from './consumer-handlers.js';
import type { ConsumerSession, JoinOptions, TopicPartition } from './consumer-session.js';
import { TypedEmitter } from './emitter.js';
import { type SluiceError, catalogError, clientError, fromCallError } from './errors.js';
import type { Deserializer } from './serde.js';

export type { ConsumerMessage, EachBatchPayload, EachMessagePayload, HandlerError, IteratedMessage, MessageControls, RunOptions };

export interface ConsumerOptions<V = Buffer> {
  groupId: string;
  /** Topics to consume (or call `subscribe` before `run`). */
  topics?: readonly string[];
  /** Where partitions without a committed offset start. Default 'earliest'. */
  startFrom?: 'earliest' | 'latest';
  /** Static membership: a member rejoining with the same id within its session timeout keeps its partitions. */
  instanceId?: string;
  /** Silent for longer, the member is removed (heartbeats are automatic). Default: the broker's (10 s). */
  sessionTimeoutMs?: number;
  /** Visibility timeout: a record not acknowledged within it is redelivered. Default 30 s. */
  ackTimeoutMs?: number;
  /** Unacknowledged records this member holds at most (prefetch). Default: the broker's (5,000). */
  inFlightMax?: number;
  /**
   * Bytes of unacknowledged records this member holds at most (prefetch; one batch of any size
   * always comes). Default: the broker's (8 MiB). Lower it when records are large and work is slow.
   */
  inFlightBytesMax?: number;
  /** First delay before a nacked record is retried; the broker doubles it per attempt. Default: the broker's (1 s). */
  retryBackoffMs?: number;
  strategy?: 'sticky' | 'range' | 'round-robin';
  /** Acknowledge each record when its handler succeeds (default). Off, call `commitOffsets` yourself. */
  autoCommit?: boolean;
  /** Turns value bytes into values (e.g. `json()`); a failure dead-letters the record. */
  deserializer?: Deserializer<V>;
  /** Rejoining after a lost session. Default: retry forever, 100 ms doubling up to 5 s, with jitter. */
  reconnect?: RetryOptions;
  /** How long `disconnect` waits for running handlers. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Disconnect gracefully on these signals (true: SIGTERM and SIGINT), then re-raise the signal. Default off. */
  handleSignals?: boolean | readonly NodeJS.Signals[];
}

export interface ConsumerEvents {
  /** Joined the group (first time and after each reconnect). */
  joined: { memberId: string; generation: number };
  /** The member's partitions changed. */
  assignment: { generation: number; partitions: TopicPartition[]; assigned: TopicPartition[]; revoked: TopicPartition[] };
  /** The session was lost; joining again after `delayMs`. */
  reconnecting: { attempt: number; delayMs: number; error: SluiceError | undefined };
  /** A handler failed; its record was nacked or dead-lettered. */
  handlerError: HandlerError;
  /** The broker refused a request without ending the session (e.g. MEMBER_FENCED for a late ack). */
  warning: { error: SluiceError };
  /** The consumer stopped on an error it cannot recover from. */
  crash: { error: SluiceError };
  /** The consumer stopped (after `disconnect` or a crash). */
  stop: Record<string, never>;
}

const DEFAULT_ACK_TIMEOUT_MS = 30_000;
const BROKER_DEFAULT_RETRY_BACKOFF_MS = 1_000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
const DEFAULT_RECONNECT: RetryPolicy = { retriesMax: Number.POSITIVE_INFINITY, backoffMs: 100, backoffMsMax: 5_000 };
/** How long `disconnect` waits for the broker to confirm the leave. */
const LEAVE_TIMEOUT_MS = 5_000;

type State = 'idle' | 'running' | 'stopping' | 'stopped';

export class Consumer<V = Buffer> extends TypedEmitter<ConsumerEvents> implements AsyncIterable<IteratedMessage<V>> {
  private readonly topics = new Set<string>();
  private readonly reconnect: RetryPolicy;
  private readonly ackTimeoutMs: number;
  private readonly autoCommit: boolean;
  private state: State = 'idle';
  private session: ConsumerSession | undefined;
  private dispatcher: Dispatcher | undefined;
  private loop: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private stopped: Promise<void> | undefined;
  private partitions: TopicPartition[] = [];
  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private readonly maxDeliveryAttempts = new Map<string, number>();
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  /** Why the consumer stopped, when it was not asked to. */
  private crashed: SluiceError | undefined;
  private readonly handlers: HandlerAdapter<V>;

  /** Use `Sluice.consumer()`. */
  constructor(
    private readonly connection: Connection,
    private readonly options: ConsumerOptions<V>,
  ) {
    super();
    if (typeof options.groupId !== 'string' || options.groupId === '') throw new TypeError('a consumer needs a groupId');
    for (const topic of options.topics ?? []) this.topics.add(topic);
    this.reconnect = retryPolicy(options.reconnect, DEFAULT_RECONNECT);
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.autoCommit = options.autoCommit ?? true;
    this.handlers = new HandlerAdapter(options.deserializer, this.ackTimeoutMs, (event) => this.emit('handlerError', event));
  }

  /** Adds topics to consume; call before `run`. */
  subscribe(subscription: { topics: readonly string[] } | { topic: string }): void {
    if (this.state !== 'idle') throw new TypeError('subscribe before run: the member joins with its topics');
    for (const topic of 'topics' in subscription ? subscription.topics : [subscription.topic]) this.topics.add(topic);
  }

  /** Opens the connection now (optional: `run` does it). */
  async connect(): Promise<void> {
    await this.connection.get();
  }

  /** The member id of the current session (undefined before the first join). */
  get memberId(): string | undefined {
    return this.session?.memberId;
  }

  /** The partitions this member owns now. */
  assignment(): TopicPartition[] {
    return [...this.partitions];
  }

  /**
   * Joins the group and handles records in the background: `eachMessage` one record at a time per
   * partition (its success acknowledges, a throw nacks with the error's text and the group's
   * backoff), or `eachBatch` the records queued for a partition at once. Resolves once joined.
   */
  async run(options: RunOptions<V>): Promise<void> {
    const concurrency = options.partitionsConsumedConcurrently ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`partitionsConsumedConcurrently must be a positive integer, got ${concurrency}`);
    if (options.eachMessage !== undefined) {
      const eachMessage = options.eachMessage;
      await this.start({ concurrency, batch: false }, (work) => this.handlers.eachMessage(work, eachMessage));
    } else if (options.eachBatch !== undefined) {
      const eachBatch = options.eachBatch;
      await this.start({ concurrency, batch: true }, (work) => this.handlers.eachBatch(work, eachBatch));
    } else {
      throw new TypeError('run needs eachMessage or eachBatch');
    }
  }

  /** Stop handing out records of these partitions (all of a topic's without `partitions`); records already fetched wait. */
  pause(targets: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of targets) {
      if (partitions === undefined) this.pausedTopics.add(topic);
      for (const partition of partitions ?? this.partitions.filter((p) => p.topic === topic).map((p) => p.partition)) {
        this.pausedPartitions.add(key(topic, partition));
        this.dispatcher?.pause(topic, partition);
      }
    }
  }

  resume(targets: readonly { topic: string; partitions?: readonly number[] }[]): void {
    for (const { topic, partitions } of targets) {
      if (partitions === undefined) this.pausedTopics.delete(topic);
      const all = partitions === undefined;
      for (const entry of [...this.pausedPartitions]) {
        const [pausedTopic, partition] = splitKey(entry);
        if (pausedTopic !== topic || (!all && !partitions.includes(partition))) continue;
        this.pausedPartitions.delete(entry);
        this.dispatcher?.resume(topic, partition);
      }
    }
  }

  /** The partitions paused now. */
  paused(): TopicPartition[] {
    return [...this.pausedPartitions].map((entry) => {
      const [topic, partition] = splitKey(entry);
      return { topic, partition };
    });
  }

  /**
   * Moves the group's position in one partition to `offset` (the next record to handle): a replay
   * backwards or a skip forwards. See the file comment; needs a running consumer or none in the group.
   */
  async seek(target: { topic: string; partition: number; offset: number }): Promise<void> {
    const client = await this.connection.get();
    const generation = this.session?.generation ?? 0;
    await client.resetGroup({ group: this.options.groupId, topic: target.topic, to: { offsets: { [target.partition]: target.offset } }, force: true });
    this.dispatcher?.seeked(target.topic, target.partition, generation + 1);
  }

  /**
   * Commits offsets (Kafka's meaning: `offset` is the next record to handle, everything before it is
   * done); resolves once durable. For `autoCommit: false`. Commit within the ack timeout of the
   * records covered, or they are redelivered.
   */
  async commitOffsets(offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    const session = this.session;
    if (session === undefined || !session.isOpen) throw clientError('CLIENT_CLOSED', 'the consumer has no live session to commit on');
    this.dispatcher?.flushAcks();
    await Promise.all(offsets.map((o) => session.commit(o)));
  }

  /**
   * Stops gracefully: no new records, running handlers finish (up to `shutdownTimeoutMs`) and are
   * acknowledged, then the member leaves the group. Idempotent.
   */
  disconnect(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  /**
   * The `for await` form: one message at a time; a `break` or a throw ends it and disconnects. The
   * loop ends when the consumer is disconnected, and throws the error that stopped it after a crash.
   */
  [Symbol.asyncIterator](): AsyncIterator<IteratedMessage<V>> {
    return this.iterate();
  }

  // ---- running ----

  private async start(shape: { concurrency: number; batch: boolean }, handle: (work: Work) => Promise<WorkResult>): Promise<void> {
    if (this.state !== 'idle') throw new TypeError(`the consumer is ${this.state}: run it once`);
    if (this.topics.size === 0) throw catalogError('INVALID_ARGUMENT', 'the consumer has no topics: pass `topics` or call subscribe()', { field: 'topics' });
    this.state = 'running';
    this.dispatcher = new Dispatcher(
      {
        concurrency: shape.concurrency,
        batch: shape.batch,
        autoCommit: this.autoCommit,
        ackTimeoutMs: this.ackTimeoutMs,
        retryBackoffMs: this.options.retryBackoffMs ?? BROKER_DEFAULT_RETRY_BACKOFF_MS,
        maxDeliveryAttempts: (topic) => this.maxDeliveryAttempts.get(topic),
      },
      handle,
      (error) => this.emit('warning', { error }),
    );
    this.installSignalHandlers();
    try {
      this.session = await this.join(undefined);
    } catch (error) {
      await this.finish();
      throw error;
    }
    if (this.session === undefined) return;
    this.loop = this.sessionLoop(this.session);
  }

  /** Serves sessions one after another until the consumer stops (see the file comment). */
  private async sessionLoop(first: ConsumerSession): Promise<void> {
    let session: ConsumerSession | undefined = first;
    try {
      while (session !== undefined) {
        for await (const event of session.events()) {
          if (event.type === 'assignment') this.onAssignment(event.generation, event.partitions);
          else this.dispatcher!.accept(session, event);
        }
        const ended = await session.ended;
        await this.dispatcher!.detach(session);
        if (this.state !== 'running') return;
        if (ended !== undefined && !rejoinable(ended)) throw ended;
        this.onAssignment(session.generation, []);
        session = await this.join(ended);
        this.session = session ?? this.session;
      }
    } catch (error) {
      this.crashed = fromCallError(error);
      this.emit('crash', { error: this.crashed });
      void this.disconnect();
    }
  }

  /** Joins (again), backing off between attempts; undefined when the consumer stopped meanwhile. */
  private async join(previous: SluiceError | undefined): Promise<ConsumerSession | undefined> {
    let failure = previous;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 || previous !== undefined) {
        const delayMs = retryDelayMs(failure, attempt, this.reconnect);
        this.emit('reconnecting', { attempt, delayMs, error: failure });
        await sleep(delayMs, this.stopController.signal);
      }
      if (this.state !== 'running') return undefined;
      try {
        const client = await this.connection.get();
        await this.loadTopicSettings();
        const session = await client.consume(this.joinOptions());
        if (this.state !== 'running') {
          await session.leave();
          return undefined;
        }
        this.emit('joined', { memberId: session.memberId, generation: session.generation });
        return session;
      } catch (error) {
        failure = fromCallError(error);
        if (!rejoinable(failure) || attempt > this.reconnect.retriesMax) throw failure;
      }
    }
  }

  private joinOptions(): JoinOptions {
    const o = this.options;
    return {
      group: o.groupId,
      topics: [...this.topics],
      ackTimeoutMs: this.ackTimeoutMs,
      ...(o.instanceId === undefined ? {} : { instanceId: o.instanceId }),
      ...(o.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: o.sessionTimeoutMs }),
      ...(o.inFlightMax === undefined ? {} : { inFlightMax: o.inFlightMax }),
      ...(o.inFlightBytesMax === undefined ? {} : { inFlightBytesMax: o.inFlightBytesMax }),
      ...(o.retryBackoffMs === undefined ? {} : { retryBackoffMs: o.retryBackoffMs }),
      ...(o.strategy === undefined ? {} : { strategy: o.strategy }),
      ...(o.startFrom === undefined ? {} : { startFrom: o.startFrom }),
    };
  }

  /** Each topic's maxDeliveryAttempts, so a failure that dead-letters is told from one that is retried. */
  private async loadTopicSettings(): Promise<void> {
    const client = await this.connection.get();
    await Promise.all(
      [...this.topics].map(async (topic) => {
        try {
          const value = Number((await client.describeTopic(topic)).config['maxDeliveryAttempts']);
          if (Number.isInteger(value) && value > 0) this.maxDeliveryAttempts.set(topic, value);
        } catch {
          // Unknown: the dispatcher then assumes a failed record is retried (see consumer-dispatch.ts).
        }
      }),
    );
  }

  private lastGeneration = -1;

  private onAssignment(generation: number, partitions: TopicPartition[]): void {
    const before = new Set(this.partitions.map((p) => key(p.topic, p.partition)));
    const after = new Set(partitions.map((p) => key(p.topic, p.partition)));
    const assigned = partitions.filter((p) => !before.has(key(p.topic, p.partition)));
    const revoked = this.partitions.filter((p) => !after.has(key(p.topic, p.partition)));
    this.partitions = [...partitions];
    for (const p of assigned) {
      if (this.pausedTopics.has(p.topic)) this.pausedPartitions.add(key(p.topic, p.partition));
      if (this.pausedPartitions.has(key(p.topic, p.partition))) this.dispatcher?.pause(p.topic, p.partition);
    }
    const changed = assigned.length > 0 || revoked.length > 0 || generation !== this.lastGeneration;
    this.lastGeneration = generation;
    if (changed) this.emit('assignment', { generation, partitions: [...partitions], assigned, revoked });
  }

  // ---- the `for await` form ----

  private async *iterate(): AsyncGenerator<IteratedMessage<V>, void, undefined> {
    interface Slot {
      message: IteratedMessage<V>;
      item: QueuedRecord;
      finish: (result: WorkResult) => void;
    }
    let ready: Slot | undefined;
    let wake: (() => void) | undefined;
    await this.start({ concurrency: 1, batch: false }, async (work) => {
      const item = work.items[0]!;
      let message: ConsumerMessage<V>;
      try {
        message = this.handlers.toMessage(item.record);
      } catch (error) {
        return this.handlers.failed(item, { item, failure: describeFailure(error), deadLetter: true }, error);
      }
      return await new Promise<WorkResult>((resolve) => {
        let settled = false;
        const finish = (result: WorkResult): void => {
          if (settled) return;
          settled = true;
          resolve(result);
        };
        ready = {
          message: { ack: () => finish({ acknowledged: [item] }), ...message, ...this.handlers.controls(item, (failed) => finish({ acknowledged: [], failed })) },
          item,
          finish,
        };
        wake?.();
      });
    });
    let current: Slot | undefined;
    try {
      for (;;) {
        while (ready === undefined && this.state === 'running') {
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), this.whenStopping()]);
          wake = undefined;
        }
        current = ready;
        ready = undefined;
        if (current === undefined) {
          if (this.crashed !== undefined) throw this.crashed;
          return;
        }
        yield current.message;
        current.finish({ acknowledged: [current.item] });
        current = undefined;
      }
    } finally {
      // Left by break, return or throw: the message in hand is not acknowledged; leaving the group
      // hands it on without counting a failed attempt.
      current?.finish({ acknowledged: [] });
      await this.disconnect();
    }
  }

  private whenStopping(): Promise<void> {
    const signal = this.stopController.signal;
    return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  // ---- stopping ----

  private async shutdown(): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped') {
      this.state = 'stopped';
      this.connection.close();
      return;
    }
    this.state = 'stopping';
    this.stopController.abort();
    await this.dispatcher?.stop(this.options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    const session = this.session;
    if (session?.isOpen === true) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([session.leave(), new Promise<void>((resolve) => (timer = setTimeout(resolve, LEAVE_TIMEOUT_MS)))]);
      clearTimeout(timer);
      if (session.isOpen) session.abandon();
    }
    await this.loop;
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.state = 'stopped';
    this.stopController.abort();
    await this.dispatcher?.stop(0);
    for (const [signal, handler] of this.signalHandlers.splice(0)) process.off(signal, handler);
    this.connection.close();
    this.emit('stop', {});
  }

  private installSignalHandlers(): void {
    const option = this.options.handleSignals ?? false;
    if (option === false) return;
    const signals: readonly NodeJS.Signals[] = option === true ? ['SIGTERM', 'SIGINT'] : option;
    for (const signal of signals) {
      const handler = (): void => {
        void this.disconnect().finally(() => {
          // Our listener kept the default action from running: with no other listener left, let the
          // signal do what it would have done.
          if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        });
      };
      process.once(signal, handler);
      this.signalHandlers.push([signal, handler]);
    }
  }
}

function rejoinable(error: SluiceError): boolean {
  return error.retriable || error.code === 'UNKNOWN_MEMBER';
}


function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function splitKey(entry: string): [string, number] {
  const at = entry.lastIndexOf('\u0000');
  return [entry.slice(0, at), Number(entry.slice(at + 1))];
}
