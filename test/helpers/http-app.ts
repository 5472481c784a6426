/**
 * A real Broker on a temporary data directory with the HTTP admin app in front of it, for
 * `app.inject` tests. Everything is closed after the current test.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { type Logger, silentLogger } from '../../src/base/index.js';
import { Broker } from '../../src/broker.js';
import { brokerSettings, topicConfig } from '../../src/config.js';
import { type RoutePlugin, buildHttpApp } from '../../src/server/http/index.js';
import type { FileIO } from '../../src/storage/index.js';
import { tempDir } from './temp-dir.js';

export interface HttpFixture {
  app: FastifyInstance;
  broker: Broker;
  dataDir: string;
}

const open: HttpFixture[] = [];

export async function openHttpApp(options: { settings?: Record<string, unknown>; logger?: Logger; io?: FileIO; routes?: readonly RoutePlugin[] } = {}): Promise<HttpFixture> {
  const dataDir = tempDir('sluice-http-');
  const broker = Broker.open({
    settings: brokerSettings({ dataDir, ...options.settings }),
    topicDefaults: topicConfig(),
    logger: silentLogger,
    ...(options.io ? { io: options.io } : {}),
  });
  const app = await buildHttpApp({ broker, logger: options.logger ?? silentLogger, version: '9.9.9', ...(options.routes ? { routes: options.routes } : {}) });
  const fixture = { app, broker, dataDir };
  open.push(fixture);
  return fixture;
}

afterEach(async () => {
  for (const { app, broker } of open.splice(0)) {
    await app.close();
    await broker.close();
  }
});

/** A recording logger: what was logged at error level. */
export function recordingLogger(): Logger & { errors: { object: Record<string, unknown>; message: string }[] } {
  const errors: { object: Record<string, unknown>; message: string }[] = [];
  return { ...silentLogger, error: (object, message) => errors.push({ object, message }), errors };
}
