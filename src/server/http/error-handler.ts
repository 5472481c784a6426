/**
 * The one mapping from a failure to an HTTP response. A `BrokerError` answers with its catalog
 * status and code; fastify's own client errors (schema validation, a malformed JSON body, a body
 * over the limit) become INVALID_ARGUMENT or REQUEST_TOO_LARGE; anything else is a bug, answered as
 * INTERNAL without its message and logged with its stack.
 *
 * Body: `{ error: { code, message, retriable, details } }`. When `details.retryAfterMs` is set the
 * response carries `Retry-After` in whole seconds, rounded up.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../base/index.js';
import { BrokerError, ERROR_CATALOG, type ErrorCode } from '../../errors.js';
import type { BrokerMetrics } from '../../metrics.js';

export interface ErrorReply {
  error: { code: string; message: string; retriable: boolean; details: Record<string, unknown> };
}

export interface HttpFailure {
  status: number;
  body: ErrorReply;
  /** Seconds for the Retry-After header, when the error hints a delay. */
  retryAfterSeconds?: number;
  /** True when the failure is a bug (logged with its stack), not an expected error. */
  internal: boolean;
}

/**
 * Code of a request for a path no route serves. It is not a broker error (it never reaches the
 * broker), so it is not in the catalog; it has the same body shape.
 */
export const ROUTE_NOT_FOUND = 'ROUTE_NOT_FOUND';

function failure(code: ErrorCode, message: string, details: Record<string, unknown>): HttpFailure {
  const spec = ERROR_CATALOG[code];
  return { status: spec.httpStatus, body: { error: { code, message, retriable: spec.retriable, details } }, internal: code === 'INTERNAL' };
}

/** A fastify error caused by the request (validation, body parsing), as opposed to a bug. */
function isFastifyClientError(error: unknown): error is FastifyError & { statusCode: number } {
  if (!(error instanceof Error)) return false;
  const { code, statusCode } = error as Partial<FastifyError>;
  return typeof code === 'string' && code.startsWith('FST_') && typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500;
}

export function toHttpFailure(error: unknown): HttpFailure {
  if (error instanceof BrokerError) {
    const result: HttpFailure = {
      status: error.httpStatus,
      body: { error: { code: error.code, message: error.message, retriable: error.retriable, details: { ...error.details } } },
      internal: error.code === 'INTERNAL',
    };
    const retryAfterMs = error.details.retryAfterMs;
    if (typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) result.retryAfterSeconds = Math.ceil(retryAfterMs / 1000);
    return result;
  }
  if (isFastifyClientError(error)) {
    if (error.validation !== undefined) {
      return failure('INVALID_ARGUMENT', error.message, {
        in: error.validationContext ?? 'request',
        validation: error.validation.map((v) => ({ path: v.instancePath, message: v.message ?? v.keyword, keyword: v.keyword, params: v.params })),
      });
    }
    if (error.statusCode === 413) return failure('REQUEST_TOO_LARGE', error.message, { reason: error.code });
    return failure('INVALID_ARGUMENT', error.message, { reason: error.code });
  }
  return failure('INTERNAL', 'an unexpected error inside the broker; it is logged with its stack', {});
}

/** Sends `failure` (with its Retry-After header) and counts it in the error metric. */
export function sendFailure(reply: FastifyReply, failure: HttpFailure, metrics: BrokerMetrics): FastifyReply {
  metrics.errors.inc({ transport: 'http', code: failure.body.error.code });
  if (failure.retryAfterSeconds !== undefined) void reply.header('retry-after', String(failure.retryAfterSeconds));
  return reply.code(failure.status).send(failure.body);
}

/** Installs the error handler and the not-found handler on the root app (routes inherit them). */
export function installErrorHandling(app: FastifyInstance, options: { metrics: BrokerMetrics; logger: Logger }): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const result = toHttpFailure(error);
    if (result.internal) {
      options.logger.error({ err: error, method: request.method, url: request.url, requestId: request.id }, 'http request failed');
      result.body.error.details = { requestId: request.id };
    }
    return sendFailure(reply, result, options.metrics);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const result: HttpFailure = {
      status: 404,
      body: { error: { code: ROUTE_NOT_FOUND, message: `no route ${request.method} ${request.url.split('?')[0]}`, retriable: false, details: { method: request.method } } },
      internal: false,
    };
    return sendFailure(reply, result, options.metrics);
  });
}
