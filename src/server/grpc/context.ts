/**
 * What every handler shares: the broker, the limits, the logger, the address this broker advertises,
 * and the registry of open calls that shutdown has to end (long polls, subscriptions, produce
 * streams). Also the wrappers that time a request into the broker's metrics and send its failure
 * through the one mapping in status.ts.
 */
import type { handleUnaryCall, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../../base/index.js';
import type { Broker } from '../../broker.js';
import type { BrokerSettings } from '../../config.js';
import { BrokerError } from '../../errors.js';
import type { BrokerMethodName } from '../../wire/index.js';
import { describeFailure, toServiceError } from './status.js';

/** Envelope bytes kept free under requestBytesMax when sizing a fetch response. */
const RESPONSE_ENVELOPE_BYTES = 1024;

/**
 * Open calls that must end when the server shuts down. Each registers what to do then (abort a
 * wait, stop reading a stream) and unregisters when it ends on its own.
 */
export class OpenCalls {
  private readonly onShutdown = new Set<() => void>();
  private shuttingDown = false;

  get closing(): boolean {
    return this.shuttingDown;
  }

  /** Registers `stop` to run at shutdown (at once if shutdown began); returns the unregister function. */
  add(stop: () => void): () => void {
    if (this.shuttingDown) {
      stop();
      return () => undefined;
    }
    this.onShutdown.add(stop);
    return () => this.onShutdown.delete(stop);
  }

  get size(): number {
    return this.onShutdown.size;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const stop of [...this.onShutdown]) stop();
    this.onShutdown.clear();
  }
}

export class HandlerContext {
  /** Largest response the handlers build: requestBytesMax (the send limit) less the envelope. */
  readonly responseBytesMax: number;
  readonly openCalls = new OpenCalls();
  /** The port clients reach; set once the server is bound. */
  advertisedPort = 0;

  constructor(
    readonly broker: Broker,
    readonly settings: BrokerSettings,
    readonly logger: Logger,
    readonly advertisedHost: string,
  ) {
    this.responseBytesMax = settings.requestBytesMax - RESPONSE_ENVELOPE_BYTES;
  }

  /** SHUTTING_DOWN once the server began closing: new calls are refused before the broker sees them. */
  checkOpen(): void {
    if (this.openCalls.closing) throw shuttingDown();
  }

  observe(method: BrokerMethodName, startedMs: number): void {
    this.broker.metrics.requestSeconds.observe({ transport: 'grpc', method }, (performance.now() - startedMs) / 1000);
  }

  /** A unary handler: refuses calls during shutdown, times the call, maps its failure. */
  unary<Req, Res>(method: BrokerMethodName, handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const startedMs = performance.now();
      const run = async (): Promise<Res> => {
        this.checkOpen();
        return handle(call.request, call);
      };
      run().then(
        (response) => {
          this.observe(method, startedMs);
          callback(null, response);
        },
        (error: unknown) => {
          this.observe(method, startedMs);
          callback(toServiceError(describeFailure(error, { logger: this.logger, metrics: this.broker.metrics, method, peer: call.getPeer() })));
        },
      );
    };
  }

  /** Ends a streaming call with the status of `error` (unless the client already went away). */
  endWithFailure(call: StreamingCall, method: BrokerMethodName, error: unknown): void {
    const failure = describeFailure(error, { logger: this.logger, metrics: this.broker.metrics, method, peer: call.getPeer() });
    if (!call.cancelled) call.emit('error', toServiceError(failure));
  }
}

/** The parts of a streaming call that ending it with a status needs. */
export interface StreamingCall {
  readonly cancelled: boolean;
  getPeer(): string;
  emit(event: 'error', error: Error): boolean;
}

export function shuttingDown(): BrokerError {
  return new BrokerError('SHUTTING_DOWN', 'the broker is shutting down', { retryAfterMs: 1000 });
}
