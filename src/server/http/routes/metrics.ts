/** `GET /metrics`: the broker's Prometheus metrics in the text exposition format. */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.js';
import { errorResponses } from '../schemas.js';

export function metricsRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  const { registry } = broker.metrics;
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['metrics'],
        summary: 'Prometheus metrics',
        description: 'Counters, histograms and per-partition gauges (sluice_log_end_offset, ...) in the Prometheus text format.',
        response: {
          200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses,
        },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.header('content-type', registry.contentType).send(text);
    },
  );
}
