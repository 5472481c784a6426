/**
 * A produce stream on the client: `send` writes a request on one long-lived ProduceStream call and
 * resolves with its answer. At most `inFlightMax` requests are unanswered; `send` waits (in call
 * order) for a free slot beyond that, so a caller that awaits its sends, or keeps at most the window
 * pending, never buffers without bound.
 *
 * The broker answers in request order; each answer must carry the next expected correlation id, and
 * anything else fails the stream (PROTOCOL_ERROR). A request the broker refuses is rejected alone
 * and the stream stays usable; when the stream itself fails (connection lost, broker shutting
 * down), every unanswered request is rejected with that error, since none of them is known to be
 * written. Retrying them is safe with an idempotent producer.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type * as wire from '../wire/index.js';
import { cancelledByBroker, clientError, fromCallError, type SluiceError } from './errors.js';
import { encodeProduceRequest } from './produce-request.js';
import { decodeProduceResponse, type ProduceRequest, type ProduceResult } from './types.js';

interface Pending {
  correlationId: number;
  resolve: (result: ProduceResult) => void;
  reject: (error: SluiceError) => void;
}

export class ProduceStream {
  private readonly pending: Pending[] = [];
  private readonly slotWaiters: (() => void)[] = [];
  private nextCorrelationId = 1;
  private failure: SluiceError | undefined;
  private closing = false;
  private cancelled = false;
  private readonly finished: Promise<void>;

  /** Use `SluiceClient.produceStream()`. */
  constructor(
    private readonly call: ClientDuplexStream<Buffer, wire.ProduceResponse>,
    readonly inFlightMax: number,
    private readonly clientId: string,
  ) {
    call.on('data', (response: wire.ProduceResponse) => this.onResponse(response));
    call.on('error', (error: unknown) => this.fail(this.cancelled ? fromCallError(error) : cancelledByBroker(fromCallError(error))));
    this.finished = new Promise((resolve) => {
      call.on('status', () => {
        // After 'error' (if any): whatever is still unanswered now never will be.
        this.fail(
          this.closing
            ? clientError('CLIENT_CLOSED', 'the produce stream is closed')
            : clientError('BROKER_UNAVAILABLE', 'the broker ended the produce stream'),
        );
        resolve();
      });
    });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Whether `send` may still be called: the stream has neither failed nor been closed or cancelled. */
  get isOpen(): boolean {
    return this.failure === undefined && !this.closing;
  }

  /** Sends one produce request; resolves with its result, rejects with a SluiceError. */
  async send(request: ProduceRequest): Promise<ProduceResult> {
    while (this.failure === undefined && !this.closing && this.pending.length >= this.inFlightMax) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
    if (this.closing) throw clientError('CLIENT_CLOSED', 'the produce stream is closing');
    const correlationId = this.nextCorrelationId++;
    const answered = new Promise<ProduceResult>((resolve, reject) => this.pending.push({ correlationId, resolve, reject }));
    this.call.write(encodeProduceRequest(request, correlationId, this.clientId));
    return answered;
  }

  /** Half-closes the stream and resolves once every sent request is answered (or failed) and the stream ended. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.wakeSlotWaiters();
      if (this.failure === undefined) this.call.end();
    }
    await this.finished;
  }

  /** Abandons the stream: unanswered requests are rejected with CANCELLED (they may still be written). */
  cancel(): void {
    this.closing = true;
    this.cancelled = true;
    this.fail(clientError('CANCELLED', 'the produce stream was cancelled'));
    this.call.cancel();
  }

  private onResponse(response: wire.ProduceResponse): void {
    const head = this.pending[0];
    if (head === undefined || response.correlationId !== head.correlationId) {
      const expected = head === undefined ? 'none' : String(head.correlationId);
      this.fail(clientError('PROTOCOL_ERROR', `produce stream answered correlation id ${response.correlationId}, expected ${expected}`));
      this.call.cancel();
      return;
    }
    this.pending.shift();
    try {
      head.resolve(decodeProduceResponse(response));
    } catch (error) {
      head.reject(fromCallError(error));
    }
    this.slotWaiters.shift()?.();
  }

  private fail(error: SluiceError): void {
    this.failure ??= error;
    for (const entry of this.pending.splice(0)) entry.reject(this.failure);
    this.wakeSlotWaiters();
  }

  private wakeSlotWaiters(): void {
    for (const wake of this.slotWaiters.splice(0)) wake();
  }
}
