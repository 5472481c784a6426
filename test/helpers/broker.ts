/**
 * A real broker in this process with the gRPC server on a free port, for end-to-end suites:
 *
 *   const env = await startTestBroker({ settings: { requestRecordsMax: 100 } });
 *   const client = await env.client();
 *   ...
 *   await env.stop(); // closes clients, server, broker; removes the data directory
 *
 * Each broker gets its own data directory, removed by `stop` (not per test, so a broker may be
 * shared by a whole `describe` through beforeAll/afterAll).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Clock, type Logger, silentLogger } from '../../src/base/index.js';
import { Broker } from '../../src/broker.js';
import { SluiceClient, type SluiceClientOptions, isSluiceError, type SluiceError } from '../../src/client/index.js';
import { brokerSettings, topicConfig } from '../../src/config.js';
import { type GrpcServer, startGrpcServer } from '../../src/server/grpc/index.js';
import type { FileIO } from '../../src/storage/index.js';

export interface TestBrokerOptions {
  /** Broker setting overrides (dataDir and ports are chosen here). */
  settings?: Readonly<Record<string, unknown>>;
  /** Topic setting defaults of the broker. */
  topicDefaults?: Readonly<Record<string, unknown>>;
  io?: FileIO;
  clock?: Clock;
  logger?: Logger;
}

export interface TestBroker {
  readonly broker: Broker;
  readonly server: GrpcServer;
  /** `host:port` of the gRPC server. */
  readonly address: string;
  readonly dataDir: string;
  /** A connected client, closed by `stop`. */
  client(options?: Omit<SluiceClientOptions, 'broker'>): Promise<SluiceClient>;
  /** Closes the clients, the server and the broker, and removes the data directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  const settings = brokerSettings({ ...options.settings, dataDir, grpcPort: 0, httpPort: 0 });
  const logger = options.logger ?? silentLogger;
  const broker = Broker.open({
    settings,
    topicDefaults: topicConfig(options.topicDefaults ?? {}),
    logger,
    ...(options.io ? { io: options.io } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  let server: GrpcServer;
  try {
    server = await startGrpcServer({ broker, settings, logger, host: '127.0.0.1', port: 0 });
  } catch (error) {
    await broker.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const address = `127.0.0.1:${server.port}`;
  const clients: SluiceClient[] = [];
  let stopped: Promise<void> | undefined;
  return {
    broker,
    server,
    address,
    dataDir,
    async client(clientOptions = {}) {
      const client = await SluiceClient.connect({ ...clientOptions, broker: address });
      clients.push(client);
      return client;
    },
    stop() {
      stopped ??= (async () => {
        for (const client of clients) client.close();
        await server.close(1_000);
        await broker.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** The SluiceError a promise rejects with (fails the test if it resolves or rejects with something else). */
export async function rejectionOf(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise;
  } catch (error) {
    if (isSluiceError(error)) return error;
    throw new Error(`expected a SluiceError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the call to fail, and it succeeded');
}

/** Polls `condition` every few milliseconds until it holds (or fails after `timeoutMs`). */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A text value's bytes, and back. */
export const text = (value: Buffer | null): string | null => (value === null ? null : value.toString('utf8'));
