/**
 * SluiceClient: one gRPC channel to a broker and a typed method per RPC of
 * proto/sluice/v1/broker.proto. Unary calls return promises; Subscribe is an async iterable;
 * ProduceStream is wrapped in `ProduceStream` with a bounded in-flight window. Every failure is a
 * `SluiceError` (errors.ts).
 *
 * Timeouts: each unary call has a deadline of `requestTimeoutMs` (per call `timeoutMs`), a fetch
 * additionally its `maxWaitMs`; streams have none. Every call takes an optional AbortSignal.
 *
 * Each client has its own connection (the broker's in-flight produce budget is per connection).
 *
 * Lifecycle: `connect` resolves once the channel is ready (or fails with BROKER_UNAVAILABLE);
 * `close` closes the channel, failing calls still open. The channel reconnects by itself after a
 * broken connection; calls made meanwhile wait for it until their deadline.
 *
 * This is the base the producer/consumer library and the CLI build on; it does no retries itself.
 */
import { Client, credentials, Metadata, status as GrpcStatusCode, type ClientDuplexStream, type MethodDefinition } from '@grpc/grpc-js';
import type * as wire from '../wire/index.js';
import { brokerService } from '../wire/index.js';
import { cancelledByBroker, clientError, fromCallError } from './errors.js';
import { ProduceStream } from './produce-stream.js';
import { ConsumerSession, type JoinOptions } from './consumer-session.js';
import {
  type ClusterMetadata,
  type CreateTopicRequest,
  type FetchRequest,
  type FetchResult,
  type ListOffsetsRequest,
  type PartitionOffset,
  type ProduceRequest,
  type ProduceResult,
  type ProducerIdentity,
  type RedriveRequest,
  type SubscribeRequest,
  type TopicDescription,
  decodeFetchResponse,
  decodeProduceResponse,
  decodeTopicDescription,
  encodeCreateTopicRequest,
  encodeListOffsetsRequest,
} from './types.js';
import { encodeProduceRequest } from './produce-request.js';

/** Produce calls send their request already encoded (produce-request.ts), so their serializer passes the bytes through. */
const passBytes = (bytes: Buffer): Buffer => bytes;
const PRODUCE: MethodDefinition<Buffer, wire.ProduceResponse> = { ...brokerService.Produce, requestSerialize: passBytes, requestDeserialize: passBytes };
const PRODUCE_STREAM: MethodDefinition<Buffer, wire.ProduceResponse> = { ...brokerService.ProduceStream, requestSerialize: passBytes, requestDeserialize: passBytes };

export interface SluiceClientOptions {
  /** The broker's gRPC address, `host:port`. */
  broker: string;
  /** Identifies this client to the broker's quotas and metrics; the connection's address when absent. */
  clientId?: string;
  /** How long `connect` waits for the channel to be ready. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline of each unary call (a fetch adds its maxWaitMs). Default 30 s. */
  requestTimeoutMs?: number;
  /** Largest message this client sends or accepts. Default 256 MiB (the broker's own limit, requestBytesMax, applies too). */
  messageBytesMax?: number;
  /**
   * Longest wait between the channel's attempts to reconnect after the connection broke (gRPC's own
   * default is 120 s, far too long to notice a restarted broker). Default 5 s.
   */
  reconnectBackoffMaxMs?: number;
  /**
   * HTTP/2 flow-control window this client grants the broker, per stream and for the connection:
   * how much the broker may send before this client has read it. HTTP/2's own 64 KiB caps a stream
   * at 64 KiB per round trip (about 65 MB/s of deliveries on loopback, whatever the record size).
   * Default 4 MiB.
   */
  flowControlWindowBytes?: number;
}

export interface CallOptions {
  /** Overrides the client's requestTimeoutMs for this call. */
  timeoutMs?: number;
  /** Cancels the call (it then fails with CANCELLED). */
  signal?: AbortSignal;
}

export interface ProduceStreamOptions {
  /** Unanswered requests at most; `send` waits for a slot beyond. Default 32. */
  inFlightMax?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MESSAGE_BYTES_MAX = 256 * 1024 * 1024;
const DEFAULT_RECONNECT_BACKOFF_MAX_MS = 5_000;
const DEFAULT_FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;
/** HTTP/2's bounds on a flow-control window: its initial size and 2^31 - 1. */
const HTTP2_WINDOW_MIN = 65_535;
const HTTP2_WINDOW_MAX = 2 ** 31 - 1;
const INITIAL_RECONNECT_BACKOFF_MS = 100;
const DEFAULT_PRODUCE_STREAM_IN_FLIGHT_MAX = 32;
const PRODUCE_STREAM_IN_FLIGHT_LIMIT = 4096;

/** `bytes` if HTTP/2 allows it as a flow-control window, else a RangeError naming the option. */
export function checkFlowControlWindow(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < HTTP2_WINDOW_MIN || bytes > HTTP2_WINDOW_MAX) {
    throw new RangeError(`flowControlWindowBytes must be an integer from ${HTTP2_WINDOW_MIN} to ${HTTP2_WINDOW_MAX}, got ${bytes}`);
  }
  return bytes;
}

export class SluiceClient {
  private closed = false;

  private constructor(
    private readonly channel: Client,
    private readonly clientId: string,
    private readonly requestTimeoutMs: number,
  ) {}

  /** Opens a channel to the broker and waits until it is ready. */
  static async connect(options: SluiceClientOptions): Promise<SluiceClient> {
    const messageBytesMax = options.messageBytesMax ?? DEFAULT_MESSAGE_BYTES_MAX;
    const flowControlWindowBytes = checkFlowControlWindow(options.flowControlWindowBytes ?? DEFAULT_FLOW_CONTROL_WINDOW_BYTES);
    const channel = new Client(options.broker, credentials.createInsecure(), {
      'grpc.max_receive_message_length': messageBytesMax,
      'grpc.max_send_message_length': messageBytesMax,
      // One connection per client: gRPC would otherwise share a connection among every client of
      // the process with the same target, and the broker's per-connection budgets with it.
      'grpc.use_local_subchannel_pool': 1,
      'grpc-node.flow_control_window': flowControlWindowBytes,
      'grpc.initial_reconnect_backoff_ms': INITIAL_RECONNECT_BACKOFF_MS,
      'grpc.max_reconnect_backoff_ms': Math.max(INITIAL_RECONNECT_BACKOFF_MS, options.reconnectBackoffMaxMs ?? DEFAULT_RECONNECT_BACKOFF_MAX_MS),
    });
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    try {
      await new Promise<void>((resolve, reject) => {
        channel.waitForReady(Date.now() + connectTimeoutMs, (error) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      channel.close();
      throw clientError('BROKER_UNAVAILABLE', `could not connect to ${options.broker} within ${connectTimeoutMs} ms`, GrpcStatusCode.UNAVAILABLE, error);
    }
    return new SluiceClient(channel, options.clientId ?? '', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  }

  /** Topics and partitions with their leader (this broker); all topics when `topics` is empty. */
  async metadata(topics: readonly string[] = [], options?: CallOptions): Promise<ClusterMetadata> {
    const response = await this.unary(brokerService.Metadata, { topics: [...topics] }, options);
    return {
      brokers: response.brokers.map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port })),
      topics: response.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partition: p.partition, leaderBrokerId: p.leaderBrokerId })) })),
    };
  }

  /** A new producer id for the idempotent producer. */
  async initProducer(options?: CallOptions): Promise<ProducerIdentity> {
    const response = await this.unary(brokerService.InitProducer, { clientId: this.clientId }, options);
    return { producerId: response.producerId, producerEpoch: response.producerEpoch };
  }

  /** Appends records; resolves when the topic's durability mode is satisfied. */
  async produce(request: ProduceRequest, options?: CallOptions): Promise<ProduceResult> {
    return decodeProduceResponse(await this.unary(PRODUCE, encodeProduceRequest(request, 0, this.clientId), options));
  }

  /** Opens a produce stream (see ProduceStream). */
  produceStream(options: ProduceStreamOptions = {}): ProduceStream {
    this.checkOpen();
    const inFlightMax = options.inFlightMax ?? DEFAULT_PRODUCE_STREAM_IN_FLIGHT_MAX;
    if (!Number.isInteger(inFlightMax) || inFlightMax < 1 || inFlightMax > PRODUCE_STREAM_IN_FLIGHT_LIMIT) {
      throw new RangeError(`inFlightMax must be an integer from 1 to ${PRODUCE_STREAM_IN_FLIGHT_LIMIT}, got ${inFlightMax}`);
    }
    const method = PRODUCE_STREAM;
    const call: ClientDuplexStream<Buffer, wire.ProduceResponse> = this.channel.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      {},
    );
    return new ProduceStream(call, inFlightMax, this.clientId);
  }

  /** Reads a partition from `offset`, long-polling up to `maxWaitMs` when nothing is there yet. */
  async fetch(request: FetchRequest, options: CallOptions = {}): Promise<FetchResult> {
    const maxWaitMs = request.maxWaitMs ?? 0;
    const response = await this.unary(
      brokerService.Fetch,
      { topic: request.topic, partition: request.partition, offset: request.offset, maxBytes: request.maxBytes ?? 0, maxWaitMs },
      { ...options, timeoutMs: (options.timeoutMs ?? this.requestTimeoutMs) + Math.max(0, maxWaitMs) },
    );
    return decodeFetchResponse(response);
  }

  /**
   * Tails a partition from `offset`: yields each batch of records as it arrives, until the signal
   * aborts (the iteration then ends quietly), the loop breaks, or the stream fails (thrown as a
   * SluiceError; resume from the last batch's `nextOffset`).
   */
  async *subscribe(request: SubscribeRequest, options: { signal?: AbortSignal } = {}): AsyncGenerator<FetchResult, void, undefined> {
    this.checkOpen();
    const { signal } = options;
    if (isAborted(signal)) return;
    const method = brokerService.Subscribe;
    const call = this.channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { topic: request.topic, partition: request.partition, offset: request.offset, maxBytes: request.maxBytes ?? 0 },
      new Metadata(),
      {},
    );
    const cancel = (): void => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const response of call as AsyncIterable<wire.FetchResponse>) yield decodeFetchResponse(response);
    } catch (error) {
      if (isAborted(signal)) return;
      throw cancelledByBroker(fromCallError(error));
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  /** Earliest, latest, or first offset at or after a timestamp, per partition. */
  async listOffsets(request: ListOffsetsRequest, options?: CallOptions): Promise<PartitionOffset[]> {
    const response = await this.unary(brokerService.ListOffsets, encodeListOffsetsRequest(request), options);
    return response.offsets.map((o) => ({ partition: o.partition, offset: o.offset, logStartOffset: o.logStartOffset, highWatermark: o.highWatermark }));
  }

  async createTopic(request: CreateTopicRequest, options?: CallOptions): Promise<TopicDescription> {
    return decodeTopicDescription(await this.unary(brokerService.CreateTopic, encodeCreateTopicRequest(request), options));
  }

  async deleteTopic(name: string, options?: CallOptions): Promise<void> {
    await this.unary(brokerService.DeleteTopic, { name }, options);
  }

  async listTopics(options?: CallOptions): Promise<TopicDescription[]> {
    return (await this.unary(brokerService.ListTopics, {}, options)).topics.map(decodeTopicDescription);
  }

  async describeTopic(name: string, options?: CallOptions): Promise<TopicDescription> {
    return decodeTopicDescription(await this.unary(brokerService.DescribeTopic, { name }, options));
  }

  /** Joins a consumer group: resolves with the member's session once the broker accepted the join. */
  async consume(options: JoinOptions): Promise<ConsumerSession> {
    this.checkOpen();
    const method = brokerService.Consume;
    const call: ClientDuplexStream<wire.ConsumeRequest, wire.ConsumeEvent> = this.channel.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new Metadata(),
      {},
    );
    return ConsumerSession.open(call, options, this.clientId);
  }

  async listGroups(options?: CallOptions): Promise<wire.GroupSummary[]> {
    return (await this.unary(brokerService.ListGroups, {}, options)).groups;
  }

  async describeGroup(group: string, options?: CallOptions): Promise<wire.GroupDescription> {
    return await this.unary(brokerService.DescribeGroup, { group }, options);
  }

  /**
   * Moves a group's committed offsets on a topic; `dryRun` returns the plan only. A group with live
   * members needs `force`.
   */
  async resetGroup(
    request: { group: string; topic: string; to: 'earliest' | 'latest' | { timestampMs: number } | { offsets: Record<number, number> }; force?: boolean; dryRun?: boolean },
    options?: CallOptions,
  ): Promise<wire.ResetGroupResponse> {
    const to = request.to;
    const target =
      to === 'earliest' ? { earliest: true } : to === 'latest' ? { latest: true } : 'timestampMs' in to ? { timestampMs: to.timestampMs } : { offsets: { offsets: to.offsets } };
    return await this.unary(brokerService.ResetGroup, { group: request.group, topic: request.topic, ...target, force: request.force ?? false, dryRun: request.dryRun ?? false }, options);
  }

  async setGroupPaused(group: string, paused: boolean, options?: CallOptions): Promise<void> {
    await this.unary(brokerService.SetGroupPaused, { group, paused }, options);
  }

  async deleteGroup(group: string, options?: CallOptions): Promise<void> {
    await this.unary(brokerService.DeleteGroup, { group }, options);
  }

  /** Dead letters of a source topic, with provenance. */
  async listDeadLetters(
    request: { topic: string; partition?: number; fromOffset?: number; errorContains?: string; limit?: number },
    options?: CallOptions,
  ): Promise<wire.ListDeadLettersResponse> {
    return await this.unary(
      brokerService.ListDeadLetters,
      {
        topic: request.topic,
        ...(request.partition === undefined ? {} : { partition: request.partition }),
        fromOffset: request.fromOffset ?? 0,
        errorContains: request.errorContains ?? '',
        limit: request.limit ?? 0,
      },
      options,
    );
  }

  /** Republishes dead letters of `topic` (see README "Dead-letter topics"). */
  async redrive(
    request: RedriveRequest,
    options?: CallOptions,
  ): Promise<wire.RedriveResponse> {
    const { topic, toTopic, errorContains, dryRun, recordsPerSecondMax, redriveCountMax, force, ...optional } = request;
    return await this.unary(
      brokerService.Redrive,
      {
        topic,
        toTopic: toTopic ?? '',
        errorContains: errorContains ?? '',
        dryRun: dryRun ?? false,
        recordsPerSecondMax: recordsPerSecondMax ?? 0,
        redriveCountMax: redriveCountMax ?? 0,
        force: force ?? false,
        ...optional,
      },
      options,
    );
  }

  /** Closes the channel. Calls still open fail; a closed client refuses new ones (CLIENT_CLOSED). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  private checkOpen(): void {
    if (this.closed) throw clientError('CLIENT_CLOSED', 'the client is closed');
  }

  private unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.checkOpen();
      const { signal } = options;
      if (isAborted(signal)) {
        reject(clientError('CANCELLED', 'the call was cancelled before it started'));
        return;
      }
      const deadline = Date.now() + (options.timeoutMs ?? this.requestTimeoutMs);
      const cancel = (): void => call.cancel();
      const call = this.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new Metadata(), { deadline }, (error, response) => {
        signal?.removeEventListener('abort', cancel);
        if (error !== null) reject(isAborted(signal) ? fromCallError(error) : cancelledByBroker(fromCallError(error)));
        else if (response === undefined) reject(clientError('PROTOCOL_ERROR', `${method.path} answered without a message`));
        else resolve(response);
      });
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }
}

/** Read through a function: the compiler would otherwise keep a narrowing across awaits. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
