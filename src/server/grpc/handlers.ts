/**
 * The handlers of every RPC in proto/sluice/v1/broker.proto: validate, call the broker, encode.
 * Failures leave through the one mapping in status.ts (via `HandlerContext.unary` or `endWithFailure`).
 *
 * Long waits (Fetch's long poll, Subscribe) take an AbortSignal that fires when the client cancels
 * the call or the server shuts down, so no waiter outlives its call.
 */
import type { handleServerStreamingCall, handleUnaryCall, ServerWritableStream, UntypedServiceImplementation, handleBidiStreamingCall } from '@grpc/grpc-js';
import { BrokerError } from '../../errors.js';
import type * as wire from '../../wire/index.js';
import { type HandlerContext, shuttingDown } from './context.js';
import { decodeOffsetSpec, decodeProduceRequest, encodeFetchResult, encodeProduceResult, encodeTopicDescription, nonNegativeInteger, requireName } from './convert.js';
import { handleProduceStream } from './produce-stream.js';
import { handleConsume } from './consume.js';
import { type GroupAndDlqHandlers, groupAndDlqHandlers } from './group-handlers.js';

/** One handler per RPC; the compiler checks none is missing. */
export interface BrokerHandlers extends UntypedServiceImplementation, GroupAndDlqHandlers {
  Metadata: handleUnaryCall<wire.MetadataRequest, wire.MetadataResponse>;
  InitProducer: handleUnaryCall<wire.InitProducerRequest, wire.InitProducerResponse>;
  Produce: handleUnaryCall<wire.ProduceRequest, wire.ProduceResponse>;
  ProduceStream: handleBidiStreamingCall<wire.ProduceRequest, wire.ProduceResponse>;
  Fetch: handleUnaryCall<wire.FetchRequest, wire.FetchResponse>;
  Subscribe: handleServerStreamingCall<wire.SubscribeRequest, wire.FetchResponse>;
  ListOffsets: handleUnaryCall<wire.ListOffsetsRequest, wire.ListOffsetsResponse>;
  CreateTopic: handleUnaryCall<wire.CreateTopicRequest, wire.TopicDescription>;
  DeleteTopic: handleUnaryCall<wire.DeleteTopicRequest, wire.DeleteTopicResponse>;
  ListTopics: handleUnaryCall<wire.ListTopicsRequest, wire.ListTopicsResponse>;
  DescribeTopic: handleUnaryCall<wire.DescribeTopicRequest, wire.TopicDescription>;
  Consume: handleBidiStreamingCall<wire.ConsumeRequest, wire.ConsumeEvent>;
}

/** The single broker of this deployment, as Metadata reports it. */
const BROKER_ID = 0;

/**
 * How long one wait of a subscription lasts before it re-checks the partition (a subscription waits
 * indefinitely, in waits of this length; new records wake it at once).
 */
const SUBSCRIBE_WAIT_MS = 30_000;

export function brokerHandlers(ctx: HandlerContext): BrokerHandlers {
  const { broker } = ctx;
  return {
    Metadata: ctx.unary('Metadata', (request: wire.MetadataRequest): wire.MetadataResponse => {
      const topics = request.topics.length === 0 ? broker.listTopics() : request.topics.map((name) => broker.describeTopic(requireName(name, 'topics')));
      return {
        brokers: [{ brokerId: BROKER_ID, host: ctx.advertisedHost, port: ctx.advertisedPort }],
        topics: topics.map((topic) => ({
          name: topic.name,
          partitions: topic.partitions.map((p) => ({ partition: p.partition, leaderBrokerId: BROKER_ID })),
        })),
      };
    }),

    InitProducer: ctx.unary('InitProducer', async (): Promise<wire.InitProducerResponse> => broker.initProducer()),

    Produce: ctx.unary('Produce', async (request: wire.ProduceRequest, call): Promise<wire.ProduceResponse> => {
      const peer = call.getPeer();
      const result = await broker.produce(decodeProduceRequest(request), { connectionId: peer, clientId: request.clientId || peer });
      return encodeProduceResult(request.correlationId, result);
    }),

    ProduceStream: (call) => handleProduceStream(ctx, call),

    Fetch: ctx.unary('Fetch', async (request: wire.FetchRequest, call): Promise<wire.FetchResponse> => {
      const topic = requireName(request.topic, 'topic');
      const partition = nonNegativeInteger(request.partition, 'partition');
      const offset = nonNegativeInteger(request.offset, 'offset');
      const maxBytes = Math.min(broker.clampFetchBytes(request.maxBytes), ctx.responseBytesMax);
      const maxWaitMs = nonNegativeInteger(request.maxWaitMs, 'max_wait_ms');
      const abort = new AbortController();
      const stop = (): void => abort.abort();
      call.once('cancelled', stop);
      const unregister = ctx.openCalls.add(stop);
      try {
        const result = await broker.fetch({ topic, partition, offset, maxBytes, maxWaitMs, signal: abort.signal });
        return encodeFetchResult(result, ctx.responseBytesMax);
      } finally {
        unregister();
        call.removeListener('cancelled', stop);
      }
    }),

    // A subscription's lifetime is no request latency, so it is not timed; its failures are counted.
    Subscribe: (call) => {
      subscribe(ctx, call).catch((error: unknown) => ctx.endWithFailure(call, 'Subscribe', error));
    },

    ListOffsets: ctx.unary('ListOffsets', (request: wire.ListOffsetsRequest): wire.ListOffsetsResponse => {
      const topic = requireName(request.topic, 'topic');
      const partitions = request.partitions.map((p, i) => nonNegativeInteger(p, `partitions[${i}]`));
      const offsets = broker.listOffsets({ topic, partitions, spec: decodeOffsetSpec(request) });
      return { topic, offsets };
    }),

    CreateTopic: ctx.unary('CreateTopic', async (request: wire.CreateTopicRequest): Promise<wire.TopicDescription> => {
      const topic = await broker.createTopic({ name: request.name, partitionCount: request.partitionCount, config: request.config });
      return encodeTopicDescription(topic);
    }),

    DeleteTopic: ctx.unary('DeleteTopic', async (request: wire.DeleteTopicRequest): Promise<wire.DeleteTopicResponse> => {
      await broker.deleteTopic(requireName(request.name, 'name'));
      return {};
    }),

    ListTopics: ctx.unary('ListTopics', (): wire.ListTopicsResponse => ({ topics: broker.listTopics().map(encodeTopicDescription) })),

    DescribeTopic: ctx.unary('DescribeTopic', (request: wire.DescribeTopicRequest): wire.TopicDescription =>
      encodeTopicDescription(broker.describeTopic(requireName(request.name, 'name'))),
    ),

    // A session's lifetime is no request latency, so it is not timed; its failures are counted.
    Consume: (call) => {
      try {
        ctx.checkOpen();
        handleConsume(ctx, call);
      } catch (error) {
        ctx.endWithFailure(call, 'Consume', error);
      }
    },

    ...groupAndDlqHandlers(ctx),
  };
}

/**
 * Tails a partition: read what is there, write it (waiting for 'drain' when the client reads slower
 * than the partition fills), and when caught up wait for new records. Ends when the client cancels
 * (quietly) or on a failure, the topic's deletion or shutdown (with that status).
 */
async function subscribe(ctx: HandlerContext, call: ServerWritableStream<wire.SubscribeRequest, wire.FetchResponse>): Promise<void> {
  ctx.checkOpen();
  const { broker } = ctx;
  const request = call.request;
  const topic = requireName(request.topic, 'topic');
  const partitionId = nonNegativeInteger(request.partition, 'partition');
  let offset = nonNegativeInteger(request.offset, 'offset');
  const maxBytes = Math.min(broker.clampFetchBytes(request.maxBytes), ctx.responseBytesMax);
  const partition = broker.partition(topic, partitionId);

  const abort = new AbortController();
  let shutdown = false;
  const cancel = (): void => abort.abort();
  call.once('cancelled', cancel);
  const unregister = ctx.openCalls.add(() => {
    shutdown = true;
    abort.abort();
  });
  try {
    while (!abort.signal.aborted) {
      if (broker.partition(topic, partitionId) !== partition) {
        throw new BrokerError('TOPIC_NOT_FOUND', `topic ${JSON.stringify(topic)} was deleted while subscribed`, { topic });
      }
      const result = broker.readRecords(topic, partition, offset, maxBytes);
      const response = encodeFetchResult(result, ctx.responseBytesMax);
      if (response.records.length > 0 && !call.write(response)) await drained(call, abort.signal);
      if (response.nextOffset > offset) {
        offset = response.nextOffset;
        continue;
      }
      await broker.waitForData({ partition, fromOffset: offset, timeoutMs: SUBSCRIBE_WAIT_MS, signal: abort.signal });
    }
    if (shutdown && !call.cancelled) throw shuttingDown();
    if (!call.cancelled) call.end();
  } finally {
    unregister();
    call.removeListener('cancelled', cancel);
  }
}

/** Resolves when `call` drains its write buffer or `signal` aborts. */
function drained(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.removeListener('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
