/**
 * ProduceStream: a long-lived bidirectional produce stream.
 *
 * Contract: one response per request, in request order, echoing its `correlation_id`. Requests are
 * handed to the broker as they arrive, so they are appended concurrently and may complete out of
 * order; completed responses wait in `unanswered` until every earlier one has been written. A failed
 * request is answered in-band (`ProduceResponse.error`) and the stream stays open.
 *
 * Bounds: at most `produceStreamInFlightMax` requests are unanswered. At the limit the handler
 * pauses the request stream; gRPC then stops reading the HTTP/2 stream and flow control pushes
 * back on the client. Responses are written only while the call's write buffer has room: when
 * `write` returns false the handler waits for 'drain', and requests stay counted as unanswered
 * (keeping reads paused) meanwhile. Nothing is buffered without a bound.
 *
 * End: after the client half-closes and every request is answered, the stream ends OK. When the
 * client cancels, answers still in the broker are dropped (their appends complete). At shutdown the
 * handler stops reading, answers what it read, then ends with SHUTTING_DOWN; requests the client
 * sent but the handler never read get no answer and are the client's to retry.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type * as wire from '../../wire/index.js';
import { type HandlerContext, shuttingDown } from './context.js';
import { decodeProduceRequest, encodeProduceResult } from './convert.js';
import { describeFailure, toWireError } from './status.js';

interface Unanswered {
  response: wire.ProduceResponse | undefined;
}

export function handleProduceStream(ctx: HandlerContext, call: ServerDuplexStream<wire.ProduceRequest, wire.ProduceResponse>): void {
  const inFlightMax = ctx.settings.produceStreamInFlightMax;
  const peer = call.getPeer();
  const unanswered: Unanswered[] = [];
  let clientDone = false;
  let stopping = false;
  let finished = false;
  let waitingForDrain = false;

  const answer = async (request: wire.ProduceRequest): Promise<wire.ProduceResponse> => {
    const startedMs = performance.now();
    try {
      const result = await ctx.broker.produce(decodeProduceRequest(request), { connectionId: peer, clientId: request.clientId || peer });
      return encodeProduceResult(request.correlationId, result);
    } catch (error) {
      const failure = describeFailure(error, { logger: ctx.logger, metrics: ctx.broker.metrics, method: 'ProduceStream', peer });
      return { correlationId: request.correlationId, appends: [], durability: '', error: toWireError(failure) };
    } finally {
      ctx.observe('ProduceStream', startedMs);
    }
  };

  const finish = (): void => {
    finished = true;
    unregister();
  };

  /** Writes the answered prefix of `unanswered`, resumes reading below the limit, ends when done. */
  const flush = (): void => {
    if (finished) return;
    for (let head = unanswered[0]; !waitingForDrain && head?.response !== undefined; head = unanswered[0]) {
      unanswered.shift();
      if (!call.write(head.response)) {
        waitingForDrain = true;
        call.once('drain', () => {
          waitingForDrain = false;
          flush();
        });
      }
    }
    if (unanswered.length > 0 || waitingForDrain) {
      if (!stopping && unanswered.length < inFlightMax && call.isPaused()) call.resume();
      return;
    }
    if (clientDone) {
      finish();
      call.end();
    } else if (stopping) {
      finish();
      ctx.endWithFailure(call, 'ProduceStream', shuttingDown());
    }
  };

  const unregister = ctx.openCalls.add(() => {
    stopping = true;
    call.pause();
    flush();
  });

  call.on('data', (request: wire.ProduceRequest) => {
    if (finished || stopping) return;
    const entry: Unanswered = { response: undefined };
    unanswered.push(entry);
    if (unanswered.length >= inFlightMax) call.pause();
    void answer(request).then((response) => {
      entry.response = response;
      flush();
    });
  });
  call.on('end', () => {
    clientDone = true;
    flush();
  });
  call.on('cancelled', finish);
}
