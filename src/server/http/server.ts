/**
 * The admin app on a real port. `close(graceMs)` stops accepting connections, answers requests that
 * arrive on open keep-alive connections with 503 SHUTTING_DOWN, lets running requests finish, and
 * after `graceMs` cuts the connections still open.
 */
import type { AddressInfo } from 'node:net';
import { type HttpAppOptions, buildHttpApp } from './app.js';

export interface HttpServerOptions extends HttpAppOptions {
  host: string;
  /** 0 picks a free port; the result says which. */
  port: number;
}

export interface HttpServer {
  port: number;
  /**
   * Stops accepting, lets running requests finish and closes idle connections. After `graceMs`
   * (when given) the connections still open are cut.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const app = await buildHttpApp(options);
  // `[::1]` as in a URL is `::1` to listen().
  await app.listen({ host: options.host.replace(/^\[(.*)\]$/, '$1'), port: options.port });
  const { port } = app.server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    port,
    close(graceMs?: number): Promise<void> {
      closed ??= (async () => {
        const closing = app.close();
        if (graceMs === undefined) return closing;
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<'expired'>((resolve) => {
          timer = setTimeout(() => resolve('expired'), graceMs);
        });
        const outcome = await Promise.race([closing.then(() => 'closed' as const), expired]);
        clearTimeout(timer);
        if (outcome === 'expired') {
          options.logger.warn({ graceMs }, 'http requests still running after the grace period; closing their connections');
          app.server.closeAllConnections();
          await closing;
        }
      })();
      return closed;
    },
  };
}
