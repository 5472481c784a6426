import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../src/errors.js';
import { ROUTE_PLUGINS, type RoutePlugin, toHttpFailure } from '../../../src/server/http/index.js';
import { openHttpApp, recordingLogger } from '../../helpers/http-app.js';

/** Routes that fail on purpose, to drive the error handler through a real request. */
const failingRoutes: RoutePlugin = (app) => {
  app.get('/test/throttled', () => {
    throw new BrokerError('THROTTLED', 'produce quota exceeded', { reason: 'client_bytes', retryAfterMs: 1_250 });
  });
  app.get('/test/busy', () => {
    throw new BrokerError('BROKER_BUSY', 'busy', { retryAfterMs: 50 });
  });
  app.get('/test/bug', () => {
    throw new TypeError('cannot read properties of undefined (secret internals)');
  });
};

describe('HTTP admin: the error handler', () => {
  it('maps a BrokerError to its catalog status and body, with Retry-After rounded up to seconds', async () => {
    const { app } = await openHttpApp({ routes: [...ROUTE_PLUGINS, failingRoutes] });
    const throttled = await app.inject({ url: '/test/throttled' });
    expect(throttled.statusCode).toBe(429);
    expect(throttled.headers['retry-after']).toBe('2');
    expect(throttled.json()).toEqual({
      error: { code: 'THROTTLED', message: 'produce quota exceeded', retriable: true, details: { reason: 'client_bytes', retryAfterMs: 1_250 } },
    });
    const busy = await app.inject({ url: '/test/busy' });
    expect(busy.statusCode).toBe(429);
    expect(busy.headers['retry-after']).toBe('1');
    const notFound = await app.inject({ url: '/v1/topics/nope' });
    expect(notFound.headers['retry-after']).toBeUndefined();
  });

  it('answers anything else as 500 INTERNAL without its message, and logs it with its stack', async () => {
    const logger = recordingLogger();
    const { app } = await openHttpApp({ logger, routes: [...ROUTE_PLUGINS, failingRoutes] });
    const response = await app.inject({ url: '/test/bug' });
    expect(response.statusCode).toBe(500);
    const { error } = response.json();
    expect(error).toMatchObject({ code: 'INTERNAL', retriable: false, details: { requestId: expect.any(String) } });
    expect(error.message).not.toContain('secret');
    expect(logger.errors).toHaveLength(1);
    const logged = logger.errors[0]!.object;
    expect(logged.err).toBeInstanceOf(TypeError);
    expect((logged.err as Error).stack).toContain('errors.test.ts');
    expect(logged).toMatchObject({ method: 'GET', url: '/test/bug', requestId: error.details.requestId });
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND in the same body shape', async () => {
    const { app } = await openHttpApp();
    const response = await app.inject({ method: 'PUT', url: '/v1/topics?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: 'no route PUT /v1/topics', retriable: false, details: { method: 'PUT' } } });
  });

  it('toHttpFailure: catalog status for every code; bugs are INTERNAL', () => {
    expect(toHttpFailure(new BrokerError('OFFSET_OUT_OF_RANGE', 'x', { offset: 9 }))).toMatchObject({ status: 416, internal: false });
    expect(toHttpFailure(new BrokerError('TOPIC_FULL', 'x', { retryAfterMs: 1000 }))).toMatchObject({ status: 507, retryAfterSeconds: 1 });
    expect(toHttpFailure(new BrokerError('SHUTTING_DOWN', 'x'))).toMatchObject({ status: 503, body: { error: { retriable: true } } });
    expect(toHttpFailure(new BrokerError('TOPIC_FULL', 'x', { retryAfterMs: 'soon' })).retryAfterSeconds).toBeUndefined();
    expect(toHttpFailure(new Error('boom'))).toMatchObject({ status: 500, internal: true, body: { error: { code: 'INTERNAL' } } });
    expect(toHttpFailure('not even an error')).toMatchObject({ status: 500, internal: true });
    // An error that merely looks like a client error is still a bug unless fastify raised it.
    expect(toHttpFailure(Object.assign(new Error('x'), { statusCode: 400 }))).toMatchObject({ status: 500 });
  });
});
