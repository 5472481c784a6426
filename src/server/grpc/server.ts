/**
 * The gRPC server: binds, serves the Broker service with the handlers in handlers.ts, and shuts down.
 *
 * Limits: messages in either direction are capped at `requestBytesMax` (gRPC itself refuses larger
 * ones with RESOURCE_EXHAUSTED, before any handler runs); fetch responses are sized below it.
 *
 * Lifecycle: `startGrpcServer` resolves once the port is bound. `close(graceMs)` refuses new calls
 * (SHUTTING_DOWN), ends the open long polls and subscriptions, stops reading produce streams and
 * answers what they read, then waits up to `graceMs` for in-flight calls before cutting the rest.
 * The broker is closed by whoever opened it, after this server is closed.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../../base/index.js';
import type { Broker } from '../../broker.js';
import type { BrokerSettings } from '../../config.js';
import { brokerService } from '../../wire/index.js';
import { HandlerContext } from './context.js';
import { brokerHandlers } from './handlers.js';

export interface GrpcServerOptions {
  broker: Broker;
  settings: BrokerSettings;
  logger: Logger;
  /** Address to listen on (an IPv6 address may be given with or without brackets). */
  host: string;
  /** Port to listen on; 0 picks a free one (see `GrpcServer.port`). */
  port: number;
  /** Host that Metadata tells clients to connect to; `host` when not given. */
  advertisedHost?: string;
}

export interface GrpcServer {
  /** The bound port. */
  readonly port: number;
  /** Graceful shutdown (see the file comment); `graceMs` defaults to settings.shutdownGraceMs. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const { broker, settings, logger } = options;
  const ctx = new HandlerContext(broker, settings, logger, options.advertisedHost ?? options.host);
  const server = new Server({
    'grpc.max_receive_message_length': settings.requestBytesMax,
    'grpc.max_send_message_length': settings.requestBytesMax,
  });
  server.addService(brokerService, brokerHandlers(ctx));
  const address = `${bracketIPv6(options.host)}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  ctx.advertisedPort = port;
  logger.info({ host: options.host, port }, 'gRPC server listening');

  let closed: Promise<void> | undefined;
  const close = (graceMs: number = settings.shutdownGraceMs): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      ctx.openCalls.shutdown();
      const timer = setTimeout(() => {
        logger.warn({ graceMs }, 'gRPC calls still open after the shutdown grace period; cutting them');
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(() => logger.info({ port }, 'gRPC server closed'));
    return closed;
  };
  return { port, close };
}

function bracketIPv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
