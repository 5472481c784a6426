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
  RECORD_TOO_LARGE: {
    summary: 'A record (or its key, or its headers) is larger than the configured maximum.',
    retriable: false,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    httpStatus: 413,
  },
  REQUEST_TOO_LARGE: {
    summary: 'A request holds more records or bytes than the configured maximum.',
    retriable: false,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    httpStatus: 413,
  },
  TOPIC_NOT_FOUND: {
    summary: 'The topic does not exist.',
    retriable: false,
    grpcStatus: GrpcStatus.NOT_FOUND,
    httpStatus: 404,
  },
  PARTITION_NOT_FOUND: {
    summary: 'The topic has no partition with that number.',
    retriable: false,
    grpcStatus: GrpcStatus.NOT_FOUND,
    httpStatus: 404,
  },
  TOPIC_EXISTS: {
    summary: 'A topic with that name already exists.',
    retriable: false,
    grpcStatus: GrpcStatus.ALREADY_EXISTS,
    httpStatus: 409,
  },
  BROKER_BUSY: {
    summary: 'The broker is at a limit (in-flight produce bytes, waiting fetches); retry after the hinted delay.',
    retriable: true,
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    httpStatus: 429,
  },
  THROTTLED: {
    summary: 'A produce quota (per client id or per topic) is used up; retry after the hinted delay.',
    retriable: true,
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    httpStatus: 429,
  },
  TOPIC_FULL: {
    summary: 'The partition reached its retentionBytes with fullPolicy reject; retry once consumers catch up.',
    retriable: true,
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    httpStatus: 507,
  },
  OUT_OF_ORDER_SEQUENCE: {
    summary:
      "An idempotent producer's batch does not continue its previous batch for the partition (an earlier batch is missing); retry the batches in order.",
    retriable: true,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 409,
  },
  UNKNOWN_PRODUCER: {
    summary: 'The producer id is unknown or expired, or its epoch is stale; initialise a new producer id.',
    retriable: false,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 409,
  },
  SHUTTING_DOWN: {
    summary: 'The broker is shutting down; retry against it once it is back.',
    retriable: true,
    grpcStatus: GrpcStatus.UNAVAILABLE,
    httpStatus: 503,
  },
  UNKNOWN_MEMBER: {
    summary: 'The consumer group has no member with that id (its session expired or it left); join again.',
    retriable: false,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 409,
  },
  MEMBER_FENCED: {
    summary:
      'The member no longer owns the partition (a rebalance or reset moved it, or its generation is stale); the ack or commit was not applied.',
    retriable: false,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 409,
  },
  GROUP_NOT_FOUND: {
    summary: 'The consumer group does not exist.',
    retriable: false,
    grpcStatus: GrpcStatus.NOT_FOUND,
    httpStatus: 404,
  },
  GROUP_NOT_EMPTY: {
    summary: 'The consumer group has live members; stop them first, or use force where the operation allows it.',
    retriable: false,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 409,
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
  METADATA_INCOMPATIBLE: {
    summary:
      'The metadata store in the data directory has a format this version of Sluice does not read; the broker does not start on it.',
    retriable: false,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    httpStatus: 500,
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
