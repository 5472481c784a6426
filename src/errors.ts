/**
 * The one catalog of expected failures. Each has a stable code (clients branch on it, never on the
 * message text), whether retrying the same request may succeed, and its gRPC and HTTP status. Each
 * transport maps a `BrokerError` to its status in exactly one function; anything that is not a
 * `BrokerError` is a bug, reported as INTERNAL and logged with its stack.
 *
 * The README's error table is generated from this catalog and a test keeps them in sync.
 */

/** gRPC status numbers (grpc/status.h), spelled out so this file needs no gRPC import. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  RESOURCE_EXHAUSTED: 8,
} as const;

export interface ErrorSpec {
  /** What went wrong, for people; the `details` of each error say which value. */
  readonly summary: string;
  readonly retriable: boolean;
  readonly grpcStatus: number;
  readonly httpStatus: number;
}

export const ERROR_CATALOG = {
  INVALID_ARGUMENT: {
    summary: 'A request field is malformed or outside its limit.',
    retriable: false,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    httpStatus: 400,
  },
  BATCH_TOO_LARGE: {
    summary: 'A record batch is larger than the configured maximum.',
    retriable: false,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    httpStatus: 413,
  },
  OFFSET_OUT_OF_RANGE: {
    summary: 'The offset is below the log start offset or past the log end offset; details carry the valid range.',
    retriable: false,
    grpcStatus: GrpcStatus.OUT_OF_RANGE,
    httpStatus: 416,
  },
  LOG_CORRUPT: {
    summary:
      'A partition log failed verification away from its tail (not a torn write); the partition is offline until an operator repairs it.',
    retriable: false,
    grpcStatus: GrpcStatus.DATA_LOSS,
    httpStatus: 500,
  },
  STORAGE_IO_ERROR: {
    summary:
      'A write, read or fsync of a partition log failed; the partition is offline because its on-disk state is unknown.',
    retriable: false,
    grpcStatus: GrpcStatus.UNAVAILABLE,
    httpStatus: 503,
  },
  LOG_CLOSED: {
    summary: 'The partition log is closed (the broker is shutting down).',
    retriable: true,
    grpcStatus: GrpcStatus.UNAVAILABLE,
    httpStatus: 503,
  },
  INVALID_CONFIG: {
    summary: 'A configuration key is unknown or a value is outside its allowed range.',
    retriable: false,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    httpStatus: 400,
  },
  INTERNAL: {
    summary: 'An unexpected error inside the broker; it is logged with its stack.',
    retriable: false,
    grpcStatus: GrpcStatus.INTERNAL,
    httpStatus: 500,
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly grpcStatus: number;
  readonly httpStatus: number;
  /** Machine-readable facts about this failure (the valid offset range, the limit exceeded, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    const spec: ErrorSpec = ERROR_CATALOG[code];
    this.code = code;
    this.retriable = spec.retriable;
    this.grpcStatus = spec.grpcStatus;
    this.httpStatus = spec.httpStatus;
    this.details = details;
  }
}

export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError;
}
