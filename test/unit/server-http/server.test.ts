import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/index.js';
import { Broker } from '../../../src/broker.js';
import { brokerSettings, topicConfig } from '../../../src/config.js';
import { ROUTE_PLUGINS, type RoutePlugin, startHttpServer } from '../../../src/server/http/index.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** A route that answers when the test says so. */
function gatedRoute(): { routes: RoutePlugin; open: () => void; entered: Promise<void> } {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
  const routes: RoutePlugin = (app) => {
    app.get('/test/slow', async () => {
      entered();
      await gate;
      return { done: true };
    });
  };
  return { routes, open, entered: enteredPromise };
}

describe('HTTP server lifecycle', () => {
  it('listens on a free port and lets a running request finish when closed', async () => {
    const broker = Broker.open({ settings: brokerSettings({ dataDir: tempDir() }), topicDefaults: topicConfig(), logger: silentLogger });
    const gated = gatedRoute();
    const server = await startHttpServer({ broker, logger: silentLogger, host: '127.0.0.1', port: 0, routes: [...ROUTE_PLUGINS, gated.routes] });
    try {
      expect(server.port).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
      const slow = fetch(`http://127.0.0.1:${server.port}/test/slow`);
      await gated.entered;
      const closed = server.close(10_000);
      let closedYet = false;
      void closed.then(() => (closedYet = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closedYet).toBe(false);
      // No new connections once closing.
      await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
      gated.open();
      const opened = Date.now();
      const response = await slow;
      expect(response.status).toBe(200);
      expect(response.headers.get('connection')).toBe('close');
      expect(await response.json()).toEqual({ done: true });
      await closed;
      // The finished request's keep-alive connection was closed with it: no waiting out the grace period.
      expect(Date.now() - opened).toBeLessThan(5_000);
    } finally {
      gated.open();
      await server.close();
      await broker.close();
    }
  });

  it('cuts requests still running after the grace period', async () => {
    const broker = Broker.open({ settings: brokerSettings({ dataDir: tempDir() }), topicDefaults: topicConfig(), logger: silentLogger });
    const gated = gatedRoute();
    const server = await startHttpServer({ broker, logger: silentLogger, host: '127.0.0.1', port: 0, routes: [...ROUTE_PLUGINS, gated.routes] });
    try {
      const slow = fetch(`http://127.0.0.1:${server.port}/test/slow`);
      await gated.entered;
      const started = Date.now();
      await server.close(100);
      expect(Date.now() - started).toBeLessThan(5_000);
      await expect(slow).rejects.toThrow();
    } finally {
      gated.open();
      await broker.close();
    }
  });
});
