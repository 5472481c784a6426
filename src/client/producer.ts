/**
 * Producer: `send({ topic, messages })` resolves with each message's partition and offset once the
 * broker acknowledged it (after fsync in the default `always` durability; see README "Durability").
 *
 * Routing (client side, so the idempotent producer can number records per partition): a message's
 * `partition` if given; else Kafka's default partitioner on the key (murmur2, the same code the
 * broker uses: `base/partitioner.ts`); keyless messages stick to one partition until its batch is
 * sent or full, then move on (sticky partitioning, as Kafka's clients do).
 *
 * Batching: messages of concurrent `send` calls bound for the same partition share a batch. A batch
 * is sent when it holds `batchBytesMax` or `batchRecordsMax`, or `lingerMs` after its first record,
 * as one request on the streaming produce RPC (ProduceStream). Sending and retrying are the
 * ProducerLanes' work (producer-lanes.ts). Unsent bytes are bounded by `bufferedBytesMax`: beyond it
 * `send` waits for room.
 *
 * Lifecycle: the connection opens on the first `send` (or `connect()`). `flush()` sends everything
 * batched now and waits for it; `disconnect()` refuses new sends, flushes, and closes the
 * connection. A producer is not reusable after `disconnect()`.
 */
import { StickyPartitioner, partitionForKey } from '../base/index.js';
import { DEFAULT_RETRY_POLICY, type RetryOptions, retryDelayMs, retryPolicy, sleep } from './backoff.js';
import type { Connection } from './connection.js';
import { type SluiceError, catalogError, clientError, fromCallError } from './errors.js';
import { TypedEmitter } from './emitter.js';
import { ProducerLanes, type Batch, type LaneEvents, type LaneSettings, type PendingRecord, type RecordOwner } from './producer-lanes.js';
import type { Serializer } from './serde.js';
import { type Bytes, type HeaderInput, type RecordHeader, toBuffer } from './types.js';

/** Headers as an object (a key with several values takes an array) or as a list (keys may repeat). */
export type MessageHeaders = Readonly<Record<string, Bytes | readonly Bytes[] | null | undefined>> | readonly HeaderInput[];

export interface ProducerMessage<V = Bytes> {
  /** Routes the message (same key, same partition) and travels with it; absent or null for none. */
  key?: Bytes | null;
  /** The payload: bytes or text, or whatever the producer's serializer takes. null for none (a tombstone). */
  value: V | null;
  headers?: MessageHeaders;
  /** Send to this partition instead of routing by key. */
  partition?: number;
  /** Milliseconds since the Unix epoch (or a Date); this client's clock at `send` when absent. */
  timestamp?: number | Date;
}

export interface SendRequest<V = Bytes> {
  topic: string;
  messages: readonly ProducerMessage<V>[];
}

/** Where one message was written. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: number;
}

export interface ProducerOptions<V = Bytes> {
  /**
   * Number the records per partition so that the broker writes a retried batch once (default true).
   * Off, a retry after a lost answer can write a batch twice, and batches can be reordered.
   */
  idempotent?: boolean;
  /** How long a batch waits for more messages after its first one. Default 5 ms; 0: it goes once the event-loop turn that opened it ends. */
  lingerMs?: number;
  /** A batch is sent once it holds this many bytes of records. Default 1 MiB. */
  batchBytesMax?: number;
  /** ... or this many records. Default 1000 (the broker refuses more than its requestRecordsMax, 10000 by default). */
  batchRecordsMax?: number;
  /** Batches sent and not yet answered, at most; idempotent, also at most 5 per partition. Default 5. */
  inFlightMax?: number;
  /** Bytes accepted by `send` and not yet acknowledged, at most; `send` waits beyond. Default 32 MiB. */
  bufferedBytesMax?: number;
  /** A batch unanswered this long counts as failed with DEADLINE_EXCEEDED (and is retried). Default 30 s. */
  requestTimeoutMs?: number;
  /** Retries of retriable failures. Default 10 retries (`retriesMax`), 100 ms doubling up to 5 s, with jitter. */
  retry?: RetryOptions;
  /** Turns values into bytes (e.g. `json()`); without one, values are strings or bytes. */
  serializer?: Serializer<V>;
}

export type ProducerEvents = LaneEvents;

const DEFAULT_LINGER_MS = 5;
const DEFAULT_BATCH_BYTES_MAX = 1024 * 1024;
const DEFAULT_BATCH_RECORDS_MAX = 1000;
const DEFAULT_IN_FLIGHT_MAX = 5;
const DEFAULT_BUFFERED_BYTES_MAX = 32 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The broker remembers this many batches per producer and partition (Kafka's number too). */
const IDEMPOTENT_IN_FLIGHT_PER_PARTITION_MAX = 5;
/** Per-record bytes beyond key, value and headers (offset and timestamp deltas, lengths): an estimate. */
const RECORD_OVERHEAD_BYTES = 24;

/** One `send` call: resolves when all its records are acknowledged, rejects on the first that fails for good. */
class SendTracker implements RecordOwner {
  readonly results: RecordMetadata[];
  private remaining: number;
  private settled = false;

  constructor(
    count: number,
    private readonly resolve: (results: RecordMetadata[]) => void,
    private readonly reject: (error: SluiceError) => void,
  ) {
    this.results = new Array<RecordMetadata>(count);
    this.remaining = count;
  }

  done(index: number, metadata: RecordMetadata): void {
    if (this.settled) return;
    this.results[index] = metadata;
    if (--this.remaining === 0) {
      this.settled = true;
      this.resolve(this.results);
    }
  }

  failed(error: SluiceError): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

interface StickyState {
  partitioner: StickyPartitioner;
  batch: Batch | undefined;
  partition: number | undefined;
}

export class Producer<V = Bytes> extends TypedEmitter<ProducerEvents> {
  private readonly lanes: ProducerLanes;
  private readonly settings: LaneSettings & { lingerMs: number; batchBytesMax: number; batchRecordsMax: number; bufferedBytesMax: number };
  private readonly partitionCounts = new Map<string, Promise<number>>();
  private readonly sticky = new Map<string, StickyState>();
  private readonly serializer: Serializer<V> | undefined;
  private bufferedBytes = 0;
  private bufferedRecords = 0;
  /** Sends waiting for buffer space, first come first served (so sends keep their order). */
  private readonly spaceWaiters: { bytes: number; admit: () => void; refuse: (error: SluiceError) => void }[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private closing = false;

  /** Use `Sluice.producer()`. */
  constructor(
    private readonly connection: Connection,
    options: ProducerOptions<V> = {},
  ) {
    super();
    const idempotent = options.idempotent ?? true;
    const inFlightMax = positiveInteger('inFlightMax', options.inFlightMax ?? DEFAULT_IN_FLIGHT_MAX);
    this.settings = {
      idempotent,
      inFlightMax,
      inFlightPerPartitionMax: idempotent ? Math.min(inFlightMax, IDEMPOTENT_IN_FLIGHT_PER_PARTITION_MAX) : inFlightMax,
      requestTimeoutMs: positiveInteger('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
      retry: retryPolicy(options.retry, DEFAULT_RETRY_POLICY),
      lingerMs: nonNegativeInteger('lingerMs', options.lingerMs ?? DEFAULT_LINGER_MS),
      batchBytesMax: positiveInteger('batchBytesMax', options.batchBytesMax ?? DEFAULT_BATCH_BYTES_MAX),
      batchRecordsMax: positiveInteger('batchRecordsMax', options.batchRecordsMax ?? DEFAULT_BATCH_RECORDS_MAX),
      bufferedBytesMax: positiveInteger('bufferedBytesMax', options.bufferedBytesMax ?? DEFAULT_BUFFERED_BYTES_MAX),
    };
    this.serializer = options.serializer;
    this.lanes = new ProducerLanes(connection, this.settings, {
      emit: (event, payload) => this.emit(event, payload),
      settled: (batch, error) => this.release(batch, error),
    });
  }

  /**
   * Opens the connection and takes the idempotent producer id now (optional: the first send does
   * both), so that the first `send` is not slower than the rest.
   */
  async connect(): Promise<void> {
    if (this.closing) throw clientError('CLIENT_CLOSED', 'the producer is disconnected');
    await this.connection.get();
    await this.lanes.prepare();
  }

  /**
   * Sends messages to one topic. Resolves with each message's partition and offset, in the order
   * given, once all are acknowledged; rejects with a SluiceError when one fails for good (a
   * non-retriable refusal, or retries exhausted). Messages of one call bound for the same partition
   * keep their order. When a call fails, others of its messages may have been written.
   */
  async send(request: SendRequest<V>): Promise<RecordMetadata[]> {
    if (this.closing) throw clientError('CLIENT_CLOSED', 'the producer is disconnected');
    if (typeof request.topic !== 'string' || request.topic === '') throw catalogError('INVALID_ARGUMENT', 'send needs a topic', { field: 'topic' });
    if (request.messages.length === 0) throw catalogError('INVALID_ARGUMENT', 'send needs at least one message', { field: 'messages' });
    const nowMs = Date.now();
    const encoded = request.messages.map((message, index) => this.encode(message, nowMs, index));
    // Connecting and the topic's partition count: retried like a batch when the broker is away.
    const partitionCount = await this.partitionCount(request.topic);
    for (const message of request.messages) {
      const { partition } = message;
      if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount)) {
        throw catalogError('PARTITION_NOT_FOUND', `topic ${request.topic} has partitions 0..${partitionCount - 1}, not ${partition}`, {
          topic: request.topic,
          partition,
          partitionCount,
        });
      }
    }
    let sendBytes = 0;
    for (const record of encoded) sendBytes += record.bytes;
    await this.admit(sendBytes);
    return await new Promise<RecordMetadata[]>((resolve, reject) => {
      const tracker = new SendTracker(encoded.length, resolve, reject);
      for (let index = 0; index < encoded.length; index++) {
        const record = encoded[index]!;
        record.owner = tracker;
        const partition = request.messages[index]!.partition ?? (record.key ? partitionForKey(record.key, partitionCount) : undefined);
        this.append(request.topic, partition, partitionCount, record);
      }
    });
  }

  /** Sends every batched message now and resolves once all sends made so far are settled. */
  async flush(): Promise<void> {
    this.lanes.sendAllNow();
    if (this.bufferedRecords === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new sends, flushes what was sent, and closes the connection. */
  async disconnect(): Promise<void> {
    this.closing = true;
    for (const waiter of this.spaceWaiters.splice(0)) waiter.refuse(clientError('CLIENT_CLOSED', 'the producer was disconnected while the send waited for buffer space'));
    await this.flush();
    await this.lanes.close();
    this.connection.close();
  }

  // ---- routing and batching ----

  /** The record in the log's terms, owned by nobody until its send is admitted. */
  private encode(message: ProducerMessage<V>, nowMs: number, index: number): PendingRecord {
    const key = message.key === undefined || message.key === null ? null : toBuffer(message.key);
    const value = message.value === null || message.value === undefined ? null : toBuffer(this.serializer ? this.serializer.serialize(message.value) : (message.value as Bytes));
    const headers = encodeHeaders(message.headers);
    // Stamped here (this client's clock) when absent, as the batch carries every record's timestamp.
    const timestampMs = message.timestamp instanceof Date ? message.timestamp.getTime() : (message.timestamp ?? nowMs);
    let bytes = RECORD_OVERHEAD_BYTES + (key?.length ?? 0) + (value?.length ?? 0);
    for (const header of headers) bytes += Buffer.byteLength(header.key) + (header.value?.length ?? 0);
    return { key, value, headers, timestampMs, bytes, owner: NO_OWNER, index };
  }

  /** Reserves buffer space for a send's bytes, waiting (in call order) while the buffer is full. */
  private admit(bytes: number): Promise<void> {
    if (this.spaceWaiters.length === 0 && this.fits(bytes)) {
      this.bufferedBytes += bytes;
      return Promise.resolve();
    }
    return new Promise((admit, refuse) => this.spaceWaiters.push({ bytes, admit, refuse }));
  }

  /** An oversized send is admitted alone into an empty buffer rather than never. */
  private fits(bytes: number): boolean {
    return this.bufferedBytes === 0 || this.bufferedBytes + bytes <= this.settings.bufferedBytesMax;
  }

  private append(topic: string, partition: number | undefined, partitionCount: number, record: PendingRecord): void {
    this.bufferedRecords++;
    if (partition !== undefined) {
      this.lanes.append(topic, partition, record);
      return;
    }
    // Keyless: stay on the sticky partition while its batch is open and has room.
    let sticky = this.sticky.get(topic);
    if (sticky === undefined) {
      sticky = { partitioner: new StickyPartitioner(Math.floor(Math.random() * 1024)), batch: undefined, partition: undefined };
      this.sticky.set(topic, sticky);
    }
    if (sticky.partition === undefined || sticky.partition >= partitionCount || sticky.batch === undefined || !this.lanes.accepts(sticky.batch, record.bytes)) {
      sticky.partition = sticky.partitioner.nextPartition(partitionCount);
    }
    sticky.batch = this.lanes.append(topic, sticky.partition, record);
  }

  /** A batch was settled (acknowledged or failed for good): its bytes leave the buffer. */
  private release(batch: Batch, error: SluiceError | undefined): void {
    this.bufferedBytes -= batch.bytes;
    this.bufferedRecords -= batch.records.length;
    if (error?.code === 'TOPIC_NOT_FOUND' || error?.code === 'PARTITION_NOT_FOUND') this.invalidate(batch.topic);
    while (this.spaceWaiters.length > 0 && this.fits(this.spaceWaiters[0]!.bytes)) {
      const waiter = this.spaceWaiters.shift()!;
      this.bufferedBytes += waiter.bytes;
      waiter.admit();
    }
    if (this.bufferedRecords === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  // ---- metadata ----

  /** The topic's partition count, asked once and cached; a failed lookup is retried like a batch. */
  private partitionCount(topic: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (count === undefined) {
      count = this.lookUpPartitionCount(topic);
      this.partitionCounts.set(topic, count);
      count.catch(() => this.partitionCounts.delete(topic));
    }
    return count;
  }

  private async lookUpPartitionCount(topic: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await this.connection.get();
        const metadata = await client.metadata([topic]);
        const found = metadata.topics.find((t) => t.name === topic);
        if (found === undefined || found.partitions.length === 0) throw catalogError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`, { topic });
        return found.partitions.length;
      } catch (error) {
        const failure = fromCallError(error);
        if (!failure.retriable || attempt >= this.settings.retry.retriesMax || this.closing) throw failure;
        await sleep(retryDelayMs(failure, attempt + 1, this.settings.retry));
      }
    }
  }

  /** Forgets a topic's cached partition count (after it was deleted or re-created). */
  private invalidate(topic: string): void {
    this.partitionCounts.delete(topic);
    this.sticky.delete(topic);
  }
}

/** The owner of a record encoded before its send was admitted; replaced before it joins a batch. */
const NO_OWNER: RecordOwner = {
  done: () => undefined,
  failed: () => undefined,
};

/** Shared by every record without headers. */
const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

function encodeHeaders(headers: MessageHeaders | undefined): readonly RecordHeader[] {
  if (headers === undefined) return NO_HEADERS;
  if (isHeaderList(headers)) return headers.map((h) => ({ key: h.key, value: h.value === undefined || h.value === null ? null : toBuffer(h.value) }));
  const encoded: { key: string; value: Buffer | null }[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (value === null) encoded.push({ key, value: null });
    else if (Array.isArray(value)) for (const item of value as readonly Bytes[]) encoded.push({ key, value: toBuffer(item) });
    else encoded.push({ key, value: toBuffer(value as Bytes) });
  }
  return encoded;
}

function isHeaderList(headers: MessageHeaders): headers is readonly HeaderInput[] {
  return Array.isArray(headers);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  return value;
}
