/**
 * `GET /v1/broker`: the broker at a glance (version, uptime, topics, partitions, bytes on disk,
 * groups) with its counters' totals since start-up and its errors by code. The console polls it to
 * draw produce and consume rates; each call reads the counters once, so its cost does not grow with
 * how often it is asked (the console asks at most every two seconds).
 */
import type { FastifyInstance } from 'fastify';
import type { BrokerOverview } from '../../../broker.js';
import type { CounterTotals, ErrorCount } from '../../../metrics.js';
import type { RouteContext } from '../context.js';
import { errorResponses, ref } from '../schemas.js';

export interface BrokerOverviewReply extends BrokerOverview {
  version: string;
  counters: CounterTotals;
  errors: ErrorCount[];
}

export function brokerRoutes(app: FastifyInstance, { broker, version }: RouteContext): void {
  app.get(
    '/v1/broker',
    {
      schema: {
        tags: ['broker'],
        summary: 'Broker overview and counter totals',
        description:
          'Version, start time and uptime, data directory and the bytes of its partition logs, topic, partition and group counts, and the totals since start-up of the produce, fetch, delivery, dead-letter and error counters (errors also by transport and code). ' +
          'Rates are the difference of two readings over the difference of their `nowMs`.',
        response: { 200: ref('BrokerOverview'), ...errorResponses },
      },
    },
    async (): Promise<BrokerOverviewReply> => {
      const overview = broker.overview();
      const { counters, errors } = await broker.metrics.totals();
      return { version, ...overview, counters, errors };
    },
  );
}
