/**
 * The gRPC server: binds, serves the Broker service with the handlers in handlers.ts, and shuts down.
 *
 * Limits: messages in either direction are capped at `requestBytesMax` (gRPC itself refuses larger
 * ones with RESOURCE_EXHAUSTED, before any handler runs); fetch responses are sized below it. Each
 * client stream and connection may send `flowControlWindowBytes` ahead of what the broker has read.
 *
 * Lifecycle: `startGrpcServer` resolves once the port is bound. `close(graceMs)` refuses new calls
 * (SHUTTING_DOWN), ends the open long polls and subscriptions, stops reading produce streams and
 * answers what they read, then waits up to `graceMs` for in-flight calls before cutting the rest.
 * The broker is closed by whoever opened it, after this server is closed.
 */
import type http2 from 'node:http2';
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
    // Read by the client transport only in grpc-js 1.14; kept so that a server that honours it does so too.
    'grpc-node.flow_control_window': settings.flowControlWindowBytes,
  });
  const windowGranted = grantFlowControlWindow(server, settings.flowControlWindowBytes);
  server.addService(brokerService, brokerHandlers(ctx));
  const address = `${bracketIPv6(options.host)}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) return reject(error);
      windowGranted.onBound();
      resolve(boundPort);
    });
  });
  if (!windowGranted.ok) logger.warn({ flowControlWindowBytes: settings.flowControlWindowBytes }, 'this grpc-js cannot take a larger HTTP/2 window; clients send 64 KiB per round trip');
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

/** What grpc-js 1.14 keeps inside its Server, read here because it has no option for the server's window. */
interface GrpcServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server, unknown>;
}

/**
 * Grants clients an HTTP/2 receive window of `bytes` per stream and per connection. HTTP/2 starts
 * both at 64 KiB and a sender waits a round trip for each WINDOW_UPDATE, so a produce stream of
 * 1 KiB records ran at ~100 MB/s on loopback however fast the log wrote. grpc-js applies its
 * `grpc-node.flow_control_window` to client connections only (grpc/grpc-node#3058 would add the
 * server's), so this sets the stream window in the settings grpc-js creates each http2 server with
 * (before binding) and raises each new session's connection window (once bound). `ok` is false when
 * this grpc-js keeps neither where expected; the broker then runs with HTTP/2's default.
 */
function grantFlowControlWindow(server: Server, bytes: number): { ok: boolean; onBound(): void } {
  const internals = server as unknown as GrpcServerInternals;
  const serverOptions = internals.commonServerOptions;
  if (serverOptions === undefined || !(internals.http2Servers instanceof Map)) return { ok: false, onBound: () => {} };
  serverOptions.settings = { ...serverOptions.settings, initialWindowSize: bytes };
  return {
    ok: true,
    onBound() {
      for (const http2Server of internals.http2Servers!.keys()) {
        http2Server.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(bytes));
      }
    },
  };
}

function bracketIPv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
