/**
 * The client's typed error. A failure the broker reported carries the broker's stable code (from the
 * `sluice-error-code` trailer, or `Error.code` when answered in-band on a produce stream), whether a
 * retry may succeed, and the retry hint. A failure that never reached the broker's handlers (no
 * connection, deadline, cancellation, gRPC's own message-size limit) gets a client-side code from
 * CLIENT_ERROR_CATALOG. Retry decisions branch on `code` and `retriable`, never on the message.
 */
import { type Metadata, status as GrpcStatusCode, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CATALOG, type ErrorCode } from '../errors.js';
import type * as wire from '../wire/index.js';
import { ERROR_CODE_TRAILER, ERROR_DETAILS_TRAILER, RETRIABLE_TRAILER, RETRY_AFTER_MS_TRAILER } from '../wire/index.js';

/** Failures decided on the client side: the broker's handlers never answered. */
export const CLIENT_ERROR_CATALOG = {
  BROKER_UNAVAILABLE: { summary: 'The broker could not be reached, or the connection broke.', retriable: true },
  DEADLINE_EXCEEDED: {
    summary: 'No answer within the timeout; a produce may or may not have been written (the idempotent producer makes its retry safe).',
    retriable: true,
  },
  CANCELLED: { summary: 'The call was cancelled by this client.', retriable: false },
  MESSAGE_TOO_LARGE: { summary: "A message exceeded gRPC's size limit on the client or the broker (requestBytesMax).", retriable: false },
  CLIENT_CLOSED: { summary: 'The client or stream was closed.', retriable: false },
  PROTOCOL_ERROR: { summary: 'The broker answered in a way this client does not understand (version mismatch or bug).', retriable: false },
  UNKNOWN_ERROR: { summary: 'An error code this client does not know (a newer broker?); see `brokerCode`.', retriable: false },
} as const satisfies Record<string, { summary: string; retriable: boolean }>;

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CATALOG;
export type SluiceErrorCode = ErrorCode | ClientErrorCode;

export interface SluiceErrorFields {
  code: SluiceErrorCode;
  message: string;
  retriable: boolean;
  grpcCode: number;
  retryAfterMs?: number;
  details?: Readonly<Record<string, unknown>>;
  brokerCode?: string;
  cause?: unknown;
}

export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  readonly code: SluiceErrorCode;
  /** Whether sending the same request again may succeed (after `retryAfterMs`, if set). */
  readonly retriable: boolean;
  /** The broker's hint on retriable refusals (backpressure, quotas): wait at least this long. */
  readonly retryAfterMs: number | undefined;
  /** The gRPC status code of the failed call (for in-band errors, the one the catalog gives the code). */
  readonly grpcCode: number;
  /** Machine-readable facts from the broker (the valid offset range, the limit exceeded, ...). */
  readonly details: Readonly<Record<string, unknown>>;
  /** The code exactly as the broker sent it (differs from `code` only for UNKNOWN_ERROR). */
  readonly brokerCode: string | undefined;

  constructor(fields: SluiceErrorFields) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.retriable = fields.retriable;
    this.retryAfterMs = fields.retryAfterMs;
    this.grpcCode = fields.grpcCode;
    this.details = fields.details ?? {};
    this.brokerCode = fields.brokerCode;
  }
}

export function isSluiceError(error: unknown): error is SluiceError {
  return error instanceof SluiceError;
}

/** A client-side failure with the catalog's retriable flag. */
export function clientError(code: ClientErrorCode, message: string, grpcCode: number = GrpcStatusCode.UNKNOWN, cause?: unknown): SluiceError {
  return new SluiceError({ code, message, retriable: CLIENT_ERROR_CATALOG[code].retriable, grpcCode, cause });
}

function isKnownBrokerCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, code);
}

function parseDetails(json: string | undefined): Record<string, unknown> {
  if (json === undefined || json === '') return {};
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function parseRetryAfter(value: string | number | undefined): number | undefined {
  const ms = typeof value === 'string' ? Number(value) : value;
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function fromBrokerCode(code: string, fields: Omit<SluiceErrorFields, 'code' | 'brokerCode'>): SluiceError {
  return isKnownBrokerCode(code)
    ? new SluiceError({ ...fields, code, brokerCode: code })
    : new SluiceError({ ...fields, code: 'UNKNOWN_ERROR', brokerCode: code });
}

function trailer(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' ? value : value?.toString('utf8');
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';
}

/** A failed gRPC call as a SluiceError (already-converted errors pass through). */
export function fromCallError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (!isServiceError(error)) return clientError('PROTOCOL_ERROR', error instanceof Error ? error.message : String(error), GrpcStatusCode.UNKNOWN, error);
  const metadata = error.metadata as Metadata | undefined;
  const code = trailer(metadata, ERROR_CODE_TRAILER);
  const message = error.details || error.message;
  if (code !== undefined) {
    const retryAfterMs = parseRetryAfter(trailer(metadata, RETRY_AFTER_MS_TRAILER));
    return fromBrokerCode(code, {
      message,
      retriable: trailer(metadata, RETRIABLE_TRAILER) === 'true',
      grpcCode: error.code,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      details: parseDetails(trailer(metadata, ERROR_DETAILS_TRAILER)),
      cause: error,
    });
  }
  switch (error.code) {
    case GrpcStatusCode.UNAVAILABLE:
      return clientError('BROKER_UNAVAILABLE', message, error.code, error);
    case GrpcStatusCode.DEADLINE_EXCEEDED:
      return clientError('DEADLINE_EXCEEDED', message, error.code, error);
    case GrpcStatusCode.CANCELLED:
      return clientError('CANCELLED', message, error.code, error);
    case GrpcStatusCode.RESOURCE_EXHAUSTED:
      return clientError('MESSAGE_TOO_LARGE', message, error.code, error);
    default:
      return clientError('PROTOCOL_ERROR', message, error.code, error);
  }
}

/**
 * A call that ended CANCELLED although this client did not cancel it: the broker cut it (a shutdown
 * past its grace period) or the connection went. CANCELLED means "this client cancelled" (see
 * CLIENT_ERROR_CATALOG), so such a failure is reported as BROKER_UNAVAILABLE, which a retry may fix.
 */
export function cancelledByBroker(error: SluiceError): SluiceError {
  if (error.code !== 'CANCELLED') return error;
  return clientError('BROKER_UNAVAILABLE', `the broker ended the call: ${error.message}`, error.grpcCode, error);
}

/** An error a produce stream answered in-band. */
export function fromWireError(error: wire.Error): SluiceError {
  const retryAfterMs = parseRetryAfter(error.retryAfterMs);
  const grpcCode = isKnownBrokerCode(error.code) ? ERROR_CATALOG[error.code].grpcStatus : GrpcStatusCode.UNKNOWN;
  return fromBrokerCode(error.code, {
    message: error.message,
    retriable: error.retriable,
    grpcCode,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    details: parseDetails(error.detailsJson),
  });
}

/**
 * A failure the client detects before asking the broker, with the code (and so the retriable flag
 * and status) the broker would have answered: e.g. INVALID_ARGUMENT for an empty send, or
 * PARTITION_NOT_FOUND for a partition the topic does not have.
 */
export function catalogError(code: ErrorCode, message: string, details: Record<string, unknown> = {}): SluiceError {
  const spec = ERROR_CATALOG[code];
  return new SluiceError({ code, message, retriable: spec.retriable, grpcCode: spec.grpcStatus, details });
}
