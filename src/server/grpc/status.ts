/**
 * The one mapping from a failure to what a gRPC client sees. A `BrokerError` becomes its catalog
 * status with trailers for the stable code, whether to retry, the retry hint and the details;
 * anything else is a bug: INTERNAL, with its stack in the log and nothing of it sent to the client.
 * Every handler funnels its failures through `describeFailure`, which also counts them.
 */
import { Metadata, type ServerErrorResponse, status as GrpcStatusCode } from '@grpc/grpc-js';
import type { Logger } from '../../base/index.js';
import { BrokerError, ERROR_CATALOG, isBrokerError, type ErrorCode } from '../../errors.js';
import type { BrokerMetrics } from '../../metrics.js';
import type * as wire from '../../wire/index.js';
import { ERROR_CODE_TRAILER, ERROR_DETAILS_BYTES_MAX, ERROR_DETAILS_TRAILER, RETRIABLE_TRAILER, RETRY_AFTER_MS_TRAILER } from '../../wire/index.js';

/** A failure in the terms of the catalog, ready to be sent either as a status or in-band. */
export interface Failure {
  code: ErrorCode;
  grpcStatus: number;
  message: string;
  retriable: boolean;
  retryAfterMs: number | undefined;
  detailsJson: string;
}

export interface FailureContext {
  logger: Logger;
  metrics: BrokerMetrics;
  method: string;
  peer: string;
}

/** Classifies `error`, counts it, and logs it with its stack when it is not an expected failure. */
export function describeFailure(error: unknown, context: FailureContext): Failure {
  let failure: Failure;
  if (isBrokerError(error)) {
    const retryAfterMs = error.details.retryAfterMs;
    failure = {
      code: error.code,
      grpcStatus: error.grpcStatus,
      message: error.message,
      retriable: error.retriable,
      retryAfterMs: typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0 ? Math.ceil(retryAfterMs) : undefined,
      detailsJson: detailsJson(error),
    };
  } else {
    // pino's `err` serializer writes the stack.
    context.logger.error({ err: error, method: context.method, peer: context.peer }, 'gRPC request failed unexpectedly');
    failure = {
      code: 'INTERNAL',
      grpcStatus: ERROR_CATALOG.INTERNAL.grpcStatus,
      message: 'internal error; the broker logged it',
      retriable: ERROR_CATALOG.INTERNAL.retriable,
      retryAfterMs: undefined,
      detailsJson: '{}',
    };
  }
  context.metrics.errors.inc({ transport: 'grpc', code: failure.code });
  return failure;
}

function detailsJson(error: BrokerError): string {
  let json: string;
  try {
    json = JSON.stringify(error.details);
  } catch {
    json = '{"note":"details not serialisable"}';
  }
  return Buffer.byteLength(json) <= ERROR_DETAILS_BYTES_MAX ? json : '{"note":"details too long to send"}';
}

/** The status (with trailers) that ends a failed call. */
export function toServiceError(failure: Failure): ServerErrorResponse {
  const trailers = new Metadata();
  trailers.set(ERROR_CODE_TRAILER, failure.code);
  trailers.set(RETRIABLE_TRAILER, String(failure.retriable));
  if (failure.retryAfterMs !== undefined) trailers.set(RETRY_AFTER_MS_TRAILER, String(failure.retryAfterMs));
  trailers.set(ERROR_DETAILS_TRAILER, failure.detailsJson);
  const status = Object.values(GrpcStatusCode).includes(failure.grpcStatus) ? failure.grpcStatus : GrpcStatusCode.INTERNAL;
  return Object.assign(new Error(failure.message), { code: status, details: failure.message, metadata: trailers });
}

/** The in-band form of a failure (ProduceStream answers a failed request without ending). */
export function toWireError(failure: Failure): wire.Error {
  return {
    code: failure.code,
    message: failure.message,
    retriable: failure.retriable,
    retryAfterMs: failure.retryAfterMs ?? 0,
    detailsJson: failure.detailsJson,
  };
}

/** INVALID_ARGUMENT for a malformed request field. */
export function invalidField(field: string, message: string, details: Record<string, unknown> = {}): BrokerError {
  return new BrokerError('INVALID_ARGUMENT', `${field}: ${message}`, { field, ...details });
}
