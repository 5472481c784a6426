/**
 * `GET /healthz`: is this broker up? 200 while it serves requests, with the partitions that are
 * offline (a corrupt log or an I/O error takes one partition offline, not the broker, so a load
 * balancer should keep sending traffic: the other partitions still work). 503 SHUTTING_DOWN once
 * shutdown has begun (answered by the app's shutdown hook before this handler runs).
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.js';
import { errorResponses } from '../schemas.js';

export interface HealthReply {
  status: 'ok' | 'degraded';
  offlinePartitions: { topic: string; partition: number; code: string; message: string }[];
}

export function healthRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness and offline partitions',
        description:
          '200 while the broker serves requests; `status` is `degraded` when some partition is offline (listed with why). 503 SHUTTING_DOWN during shutdown.',
        response: {
          200: {
            type: 'object',
            required: ['status', 'offlinePartitions'],
            properties: {
              status: { type: 'string', enum: ['ok', 'degraded'] },
              offlinePartitions: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['topic', 'partition', 'code', 'message'],
                  properties: { topic: { type: 'string' }, partition: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    (): HealthReply => {
      const offlinePartitions: HealthReply['offlinePartitions'] = [];
      for (const topic of broker.listTopics()) {
        for (const p of topic.partitions) {
          if (p.offline !== undefined) offlinePartitions.push({ topic: topic.name, partition: p.partition, code: p.offline.code, message: p.offline.message });
        }
      }
      return { status: offlinePartitions.length === 0 ? 'ok' : 'degraded', offlinePartitions };
    },
  );
}
