/**
 * Consume: a consumer-group member's session over one bidirectional stream.
 *
 * The first request must be `join`; the reply is `joined`, then the member's `assignment` and
 * `delivery` events as the coordinator produces them (events the coordinator emits while the join
 * is being processed are held until `joined` is written). Acks, nacks, rejects, extends and commits
 * are applied as they arrive; one that fails without ending the session (a stale generation, an
 * unknown offset) is answered in-band with an `error` event.
 *
 * Ending: `leave` (or the client half-closing the stream) is a clean goodbye: held records go back
 * without counting a failed attempt. A cancelled or broken stream is a dead member: the record it
 * was working on in each partition counts as a failed attempt. When the coordinator removes the
 * member (session expired, fenced by a rejoin), the stream ends with that status. At shutdown the
 * member leaves and the stream ends with SHUTTING_DOWN.
 *
 * Deliveries go out as one message per record, or, when the member joined with `record_batches`
 * (the TypeScript client does), as record batches in the log's format, passed on as read from the
 * segment file: one delivery per run of consecutive offsets, with the delivery attempts only when
 * one is a redelivery. With `grouped_deliveries`, the deliveries the coordinator hands over in one
 * turn (records appended to several partitions at once) leave as one `deliveries` event, and the
 * member may answer with one `acks` request: at low rates over many partitions, messages rather
 * than records are the cost.
 *
 * Bounds: deliveries are bounded by the member's in-flight window (the coordinator sends no more
 * unacknowledged records than `in_flight_max`); an ack holds ascending, disjoint offset ranges, at
 * most `memberInFlightMax` of them, and an `acks` request at most `memberInFlightMax` acks; a
 * `deliveries` event carries at most `deliveryBytesMax` bytes of record batches (more go in the next).
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { type DeliveredRecord, type Delivery, type MemberSink, type OffsetRange, type TopicPartition, deliveredRecords } from '../../broker.js';
import { BrokerError, type ErrorCode, isBrokerError } from '../../errors.js';
import type * as wire from '../../wire/index.js';
import { type HandlerContext, shuttingDown } from './context.js';
import { nonNegativeInteger, requireName } from './convert.js';
import { describeFailure, toWireError } from './status.js';

const STRATEGIES = new Set(['sticky', 'range', 'round-robin']);

function toWireRecord(r: DeliveredRecord): wire.DeliveredRecord {
  return {
    offset: r.offset,
    timestampMs: r.timestampMs,
    ...(r.key === null ? {} : { key: r.key }),
    ...(r.value === null ? {} : { value: r.value }),
    headers: r.headers.map((h) => ({ key: h.key, ...(h.value === null ? {} : { value: h.value }) })),
    deliveryAttempt: r.deliveryAttempt,
  };
}

export function handleConsume(ctx: HandlerContext, call: ServerDuplexStream<wire.ConsumeRequest, wire.ConsumeEvent>): void {
  const { broker, settings } = ctx;
  const peer = call.getPeer();
  let member: { group: string; memberId: string } | undefined;
  let held: wire.ConsumeEvent[] | undefined = [];
  /** The member asked for deliveries as record batches (JoinGroup.record_batches). */
  let recordBatches = false;
  /** The member takes several partitions' deliveries in one event (JoinGroup.grouped_deliveries). */
  let groupedDeliveries = false;
  /** Deliveries handed over this turn, sent together at its end (with groupedDeliveries). */
  let grouped: wire.Delivery[] = [];
  let groupedBytes = 0;
  let finished = false;

  const write = (event: wire.ConsumeEvent): void => {
    if (finished || call.cancelled) return;
    if (held !== undefined) held.push(event);
    else call.write(event);
  };

  const flushGrouped = (): void => {
    if (grouped.length === 0) return;
    const deliveries = grouped;
    grouped = [];
    groupedBytes = 0;
    write(deliveries.length === 1 ? { delivery: deliveries[0]! } : { deliveries: { deliveries } });
  };

  /** Every event after the deliveries handed over before it: a member sees them in order. */
  const send = (event: wire.ConsumeEvent): void => {
    flushGrouped();
    write(event);
  };

  const sendGrouped = (delivery: wire.Delivery): void => {
    const bytes = delivery.recordBatch?.length ?? 0;
    if (grouped.length > 0 && groupedBytes + bytes > settings.deliveryBytesMax) flushGrouped();
    if (grouped.length === 0) queueMicrotask(flushGrouped);
    grouped.push(delivery);
    groupedBytes += bytes;
  };

  const end = (error?: unknown): void => {
    if (finished) return;
    finished = true;
    unregister();
    if (error === undefined) call.end();
    else ctx.endWithFailure(call, 'Consume', error);
  };

  const sink: MemberSink = {
    assignment: (event: { generation: number; partitions: TopicPartition[] }) => send({ assignment: { generation: event.generation, partitions: event.partitions } }),
    deliver: (delivery: Delivery) => {
      const { topic, partition, generation } = delivery;
      if (!recordBatches) return send({ delivery: { topic, partition, generation, records: deliveredRecords(delivery).map(toWireRecord) } });
      const event: wire.Delivery = { topic, partition, generation, records: [], recordBatch: delivery.batches, deliveryAttempts: [...delivery.deliveryAttempts] };
      if (groupedDeliveries) sendGrouped(event);
      else send({ delivery: event });
    },
    closed: (reason: { code: string; message: string }) => {
      member = undefined;
      end(new BrokerError(reason.code as ErrorCode, reason.message));
    },
  };

  const leave = (): void => {
    if (member !== undefined) broker.groups.leave(member);
    member = undefined;
  };

  const unregister = ctx.openCalls.add(() => {
    leave();
    end(shuttingDown());
  });

  const join = (request: wire.JoinGroup): void => {
    if (member !== undefined) throw new BrokerError('INVALID_ARGUMENT', 'this session already joined; open a new stream to join again', { field: 'join' });
    if (request.strategy !== '' && !STRATEGIES.has(request.strategy)) {
      throw new BrokerError('INVALID_ARGUMENT', `strategy must be one of ${[...STRATEGIES].join(', ')}`, { field: 'strategy', value: request.strategy });
    }
    if (request.startFrom !== '' && request.startFrom !== 'earliest' && request.startFrom !== 'latest') {
      throw new BrokerError('INVALID_ARGUMENT', 'start_from must be earliest or latest', { field: 'start_from', value: request.startFrom });
    }
    const optional = (value: number, field: string): number | undefined => (value === 0 ? undefined : nonNegativeInteger(value, field));
    const sessionTimeoutMs = optional(request.sessionTimeoutMs, 'session_timeout_ms');
    const ackTimeoutMs = optional(request.ackTimeoutMs, 'ack_timeout_ms');
    const inFlightMax = optional(request.inFlightMax, 'in_flight_max');
    const inFlightBytesMax = optional(request.inFlightBytesMax ?? 0, 'in_flight_bytes_max');
    const retryBackoffMs = optional(request.retryBackoffMs, 'retry_backoff_ms');
    recordBatches = request.recordBatches === true;
    groupedDeliveries = recordBatches && request.groupedDeliveries === true;
    const joined = broker.groups.join(
      {
        group: requireName(request.group, 'group'),
        topics: request.topics.map((topic, i) => requireName(topic, `topics[${i}]`)),
        clientId: request.clientId || peer,
        ...(request.instanceId ? { instanceId: request.instanceId } : {}),
        ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
        ...(ackTimeoutMs === undefined ? {} : { ackTimeoutMs }),
        ...(inFlightMax === undefined ? {} : { inFlightMax }),
        ...(inFlightBytesMax === undefined ? {} : { inFlightBytesMax }),
        ...(retryBackoffMs === undefined ? {} : { retryBackoffMs }),
        ...(request.strategy ? { strategy: request.strategy as 'sticky' | 'range' | 'round-robin' } : {}),
        ...(request.startFrom ? { startFrom: request.startFrom } : {}),
      },
      sink,
    );
    member = { group: request.group, memberId: joined.memberId };
    call.write({ joined: { memberId: joined.memberId, generation: joined.generation, groupedAcks: true } });
    const pending = held ?? [];
    held = undefined;
    for (const event of pending) call.write(event);
  };

  const rangesOf = (ranges: wire.OffsetRange[]): OffsetRange[] => {
    if (ranges.length > settings.memberInFlightMax) {
      throw new BrokerError('INVALID_ARGUMENT', `an ack holds at most memberInFlightMax (${settings.memberInFlightMax}) ranges`, { field: 'ranges' });
    }
    let previousLast = -1;
    return ranges.map((range) => {
      const first = nonNegativeInteger(range.first, 'ranges.first');
      const last = nonNegativeInteger(range.last, 'ranges.last');
      if (last < first || first <= previousLast) throw new BrokerError('INVALID_ARGUMENT', 'ack ranges must be ascending and disjoint, each with first <= last', { field: 'ranges' });
      previousLast = last;
      return { first, last };
    });
  };

  // Fields spelled out, not spread from `ref`: V8 promoted the spread's objects to the old
  // generation (at 5,000 records/s each scavenge promoted ~525 KB instead of ~200 KB and paused
  // 4-6 ms instead of 2-3; --trace-gc-nvp and the sampling heap profiler).
  const acknowledge = (ref: { group: string; memberId: string }, ack: wire.Acknowledge): void =>
    broker.groups.ack({ group: ref.group, memberId: ref.memberId, generation: ack.generation, topic: ack.topic, partition: ack.partition, ranges: rangesOf(ack.ranges) });

  /** Answers a request that failed without ending the session. */
  const refuse = (error: unknown): void => {
    const failure = describeFailure(error, { logger: ctx.logger, metrics: broker.metrics, method: 'Consume', peer });
    send({ error: toWireError(failure) });
  };

  const handle = async (request: wire.ConsumeRequest): Promise<void> => {
    if (request.kind === 'join' && request.join) return join(request.join);
    if (request.kind === 'leave') {
      leave();
      return end();
    }
    if (member === undefined) throw new BrokerError('INVALID_ARGUMENT', 'the first request of a Consume stream must be join', { field: 'kind' });
    const ref = member;
    switch (request.kind) {
      case 'heartbeat':
        return broker.groups.heartbeat(ref);
      case 'ack':
        return acknowledge(ref, request.ack!);
      case 'acks': {
        const { acks } = request.acks!;
        if (acks.length > settings.memberInFlightMax) {
          throw new BrokerError('INVALID_ARGUMENT', `an acks request holds at most memberInFlightMax (${settings.memberInFlightMax}) acks`, { field: 'acks' });
        }
        // Each ack stands alone, as if sent on its own: one refused (say, for a partition moved
        // away) is answered in-band and the others still count.
        for (const ack of acks) {
          try {
            acknowledge(ref, ack);
          } catch (error) {
            if (isBrokerError(error) && error.code === 'UNKNOWN_MEMBER') throw error;
            refuse(error);
          }
        }
        return;
      }
      case 'nack': {
        const nack = request.nack!;
        return broker.groups.nack({
          generation: nack.generation,
          topic: nack.topic,
          partition: nack.partition,
          offset: nonNegativeInteger(nack.offset, 'offset'),
          ...(nack.delayMs === undefined ? {} : { delayMs: nack.delayMs }),
          error: nack.error,
          errorClass: nack.errorClass,
          ...ref,
        });
      }
      case 'reject': {
        const reject = request.reject!;
        return broker.groups.reject({ generation: reject.generation, topic: reject.topic, partition: reject.partition, offset: nonNegativeInteger(reject.offset, 'offset'), error: reject.error, errorClass: reject.errorClass, ...ref });
      }
      case 'extend': {
        const extend = request.extend!;
        broker.groups.extend({ topic: extend.topic, partition: extend.partition, offsets: extend.offsets, extendMs: extend.extendMs, ...ref });
        return;
      }
      case 'commit': {
        const commit = request.commit!;
        try {
          await broker.groups.commit({ generation: commit.generation, topic: commit.topic, partition: commit.partition, offset: commit.offset, metadata: commit.metadata, ...ref });
          send({ commitResult: { correlationId: commit.correlationId } });
        } catch (error) {
          const failure = describeFailure(error, { logger: ctx.logger, metrics: broker.metrics, method: 'Consume', peer });
          send({ commitResult: { correlationId: commit.correlationId, error: toWireError(failure) } });
        }
        return;
      }
      default:
        throw new BrokerError('INVALID_ARGUMENT', 'a Consume request needs one of join, ack, acks, nack, reject, extend, heartbeat, commit, leave', { field: 'kind' });
    }
  };

  call.on('data', (request: wire.ConsumeRequest) => {
    if (finished) return;
    handle(request).catch((error: unknown) => {
      // Without a session, or when the session is gone, the stream ends; otherwise answer in-band.
      if (member === undefined || (isBrokerError(error) && error.code === 'UNKNOWN_MEMBER')) {
        member = undefined;
        end(error);
        return;
      }
      refuse(error);
    });
  });
  call.on('end', () => {
    // The request side ended. A cancelled (or broken) stream ends it too, and 'cancelled' may come
    // just after: wait a turn, so that only a real half-close counts as a clean goodbye.
    setImmediate(() => {
      if (call.cancelled) return died();
      leave();
      end();
    });
  });
  const died = (): void => {
    if (member !== undefined) broker.groups.disconnect(member);
    member = undefined;
    finished = true;
    unregister();
  };
  call.on('cancelled', died);
  call.on('error', died);
}
