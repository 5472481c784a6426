/**
 * The fastify admin app: shared schemas, the one error handler, request metrics, the OpenAPI
 * description at /docs (UI) and /docs/json, one route plugin per resource, and the web console at
 * /ui/ (static pages built on this API only).
 *
 * Adding a resource: write `routes/<resource>.ts` exporting a `(app, context) => void` that
 * declares its routes with schemas, and add it to `ROUTE_PLUGINS`.
 * Errors thrown by its handlers reach the error handler; its schemas may `$ref` the shared ones.
 *
 * Lifecycle: `buildHttpApp` returns an app that is not listening (tests use `inject`);
 * `startHttpServer` listens. Once `close()` begins, every new request is answered 503
 * SHUTTING_DOWN while requests already running finish; the same happens when the broker is closing.
 */
import fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from '../../base/index.js';
import type { Broker } from '../../broker.js';
import { BrokerError } from '../../errors.js';
import type { RouteContext } from './context.js';
import { installErrorHandling } from './error-handler.js';
import { brokerRoutes } from './routes/broker.js';
import { consoleRoutes } from './routes/console.js';
import { dlqRoutes } from './routes/dlq.js';
import { groupRoutes } from './routes/groups.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { recordRoutes } from './routes/records.js';
import { topicRoutes } from './routes/topics.js';
import { SHARED_SCHEMAS } from './schemas.js';

export interface HttpAppOptions {
  broker: Broker;
  logger: Logger;
  /** Shown in the OpenAPI description. */
  version?: string;
  /** The resources served; `ROUTE_PLUGINS` unless given (an embedding app may add its own). */
  routes?: readonly RoutePlugin[];
}

/** One plugin per resource; each declares its routes on the scope it is given. */
export type RoutePlugin = (app: FastifyInstance, context: RouteContext) => void;

export const ROUTE_PLUGINS: readonly RoutePlugin[] = [healthRoutes, metricsRoutes, brokerRoutes, topicRoutes, recordRoutes, groupRoutes, dlqRoutes, consoleRoutes];

/** Admin requests are small JSON documents (a topic name and its settings, a reset's offsets, a redrive's filters). */
const ADMIN_BODY_BYTES_MAX = 64 * 1024;

/** Route label of requests that matched no route: keeps the metric's label set bounded. */
const UNMATCHED_ROUTE = 'unmatched';

export const DOCS_PREFIX = '/docs';

export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { broker, logger } = options;
  const app = fastify({
    logger: false,
    bodyLimit: ADMIN_BODY_BYTES_MAX,
    // Shutdown answers with our error body instead of fastify's (see the onRequest hook).
    return503OnClosing: false,
    ajv: {
      customOptions: {
        // Refuse unknown body and query fields instead of silently dropping them.
        removeAdditional: false,
        // Query strings arrive as text ("?partition=1"); coerce scalars, never a scalar to an array or back.
        coerceTypes: true,
        allowUnionTypes: true,
      },
    },
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    if (closing || broker.isClosing) done(new BrokerError('SHUTTING_DOWN', 'the broker is shutting down'));
    else done();
  });
  // A response sent while closing ends its keep-alive connection, so close() need not wait for it to idle out.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    broker.metrics.requestSeconds.observe({ transport: 'http', method: `${request.method} ${route}` }, reply.elapsedTime / 1000);
    done();
  });

  installErrorHandling(app, { metrics: broker.metrics, logger });
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sluice admin API',
        description:
          'Topic, consumer-group and dead-letter administration, health and metrics of a Sluice broker. Produce and consume use the gRPC API.',
        version: options.version ?? '0.0.0',
      },
      tags: [
        { name: 'health', description: 'Liveness' },
        { name: 'metrics', description: 'Prometheus metrics' },
        { name: 'broker', description: 'The broker at a glance: uptime, sizes, counter totals' },
        { name: 'topics', description: 'Topic administration and the record browser' },
        { name: 'groups', description: 'Consumer groups: lag, offset resets, pause and resume' },
        { name: 'dlq', description: 'Dead letters of a topic: inspect and redrive' },
      ],
    },
    // Name shared schemas by their $id in components.schemas (instead of def-0, def-1, ...).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  // The UI's assets are served from the package (no CDN): the docs work offline.
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });

  const context: RouteContext = { broker, logger, version: options.version ?? '0.0.0' };
  for (const routes of options.routes ?? ROUTE_PLUGINS) {
    await app.register((scope, _options, done) => {
      routes(scope, context);
      done();
    });
  }
  await app.ready();
  return app;
}
