import { status as GrpcStatusCode } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/base/index.js';
import { BrokerError } from '../../../src/errors.js';
import { BrokerMetrics } from '../../../src/metrics.js';
import { describeFailure, toServiceError, toWireError } from '../../../src/server/grpc/status.js';

function recordingLogger(): Logger & { errors: { object: Record<string, unknown>; message: string }[] } {
  const errors: { object: Record<string, unknown>; message: string }[] = [];
  return { info: () => undefined, warn: () => undefined, error: (object, message) => errors.push({ object, message }), errors };
}

describe('the gRPC error mapping', () => {
  it('maps a BrokerError to its catalog status with the code, retriable, retry-after and details trailers', () => {
    const logger = recordingLogger();
    const metrics = new BrokerMetrics(() => []);
    const failure = describeFailure(new BrokerError('BROKER_BUSY', 'busy', { reason: 'in_flight_broker', retryAfterMs: 49.2 }), { logger, metrics, method: 'Produce', peer: 'p' });
    const status = toServiceError(failure);
    expect(status.code).toBe(GrpcStatusCode.RESOURCE_EXHAUSTED);
    expect(status.details).toBe('busy');
    expect(status.metadata?.get('sluice-error-code')).toEqual(['BROKER_BUSY']);
    expect(status.metadata?.get('sluice-retriable')).toEqual(['true']);
    expect(status.metadata?.get('retry-after-ms')).toEqual(['50']);
    expect(JSON.parse(String(status.metadata?.get('sluice-error-details')[0]))).toEqual({ reason: 'in_flight_broker', retryAfterMs: 49.2 });
    expect(toWireError(failure)).toMatchObject({ code: 'BROKER_BUSY', retriable: true, retryAfterMs: 50 });
    expect(logger.errors).toEqual([]);
  });

  it('reports anything else as INTERNAL without its message, logs it with the error, and counts it', async () => {
    const logger = recordingLogger();
    const metrics = new BrokerMetrics(() => []);
    const bug = new TypeError('secret internals');
    const status = toServiceError(describeFailure(bug, { logger, metrics, method: 'Fetch', peer: 'p' }));
    expect(status.code).toBe(GrpcStatusCode.INTERNAL);
    expect(status.details).not.toContain('secret');
    expect(status.metadata?.get('sluice-error-code')).toEqual(['INTERNAL']);
    expect(status.metadata?.get('retry-after-ms')).toEqual([]);
    expect(logger.errors).toHaveLength(1);
    expect(logger.errors[0]!.object.err).toBe(bug);
    const counted = (await metrics.errors.get()).values.find((v) => v.labels.code === 'INTERNAL');
    expect(counted).toMatchObject({ value: 1, labels: { transport: 'grpc', code: 'INTERNAL' } });
  });

  it('leaves out details too long to send', () => {
    const failure = describeFailure(new BrokerError('INVALID_ARGUMENT', 'bad', { value: 'x'.repeat(10_000) }), {
      logger: recordingLogger(),
      metrics: new BrokerMetrics(() => []),
      method: 'Produce',
      peer: 'p',
    });
    expect(failure.detailsJson.length).toBeLessThan(100);
  });
});
