/**
 * The broker as operators run it: a child process started from src/main.ts, configured by a config
 * file, environment variables and flags, stopped with SIGTERM/SIGINT, restarted on the same data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnServer } from '../helpers/server-process.js';
import { tempDir } from '../helpers/temp-dir.js';

async function http(port: number, route: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: Record<string, unknown> & { config?: unknown } }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: init?.method ?? 'GET',
    ...(init?.body === undefined ? {} : { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('the broker process', () => {
  it('serves, refuses a second broker on its data directory, stops cleanly on SIGTERM and keeps its topics across a restart', async () => {
    const root = tempDir('sluice-e2e-');
    const dataDir = path.join(root, 'data');
    const portFile = path.join(root, 'ports.json');
    const configPath = path.join(root, 'sluice.json');
    fs.writeFileSync(configPath, JSON.stringify({ broker: { logLevel: 'debug' }, topicDefaults: { retentionMs: 111_000, maxDeliveryAttempts: 7 } }));
    const lockPath = path.join(dataDir, 'LOCK');

    // Precedence across layers: file < environment < flags.
    const first = spawnServer(['--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0', '--port-file', portFile, '--log-level', 'info', '--topic-default', 'maxDeliveryAttempts=9'], {
      env: { SLUICE_CONFIG: configPath, SLUICE_TOPIC_DEFAULT_RETENTION_MS: '222000', SLUICE_LOG_LEVEL: 'warn' },
    });
    const { httpPort, grpcPort, pid } = await first.ready();
    // A second broker on the same data directory must fail; it starts now and is checked below.
    const second = spawnServer(['--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0']);
    expect(pid).toBe(first.child.pid);
    expect(grpcPort).toBeGreaterThan(0);
    expect(JSON.parse(fs.readFileSync(portFile, 'utf8'))).toEqual({ pid, host: '127.0.0.1', grpcPort, httpPort, dataDir });
    expect(fs.readFileSync(lockPath, 'utf8').trim()).toBe(String(pid));
    // --log-level info (a flag) won over the environment's warn: the listening line was logged at info.
    expect(first.logs.find((l) => l.httpPort !== undefined)!.level).toBe(30);

    expect(await http(httpPort, '/healthz')).toEqual({ status: 200, body: { status: 'ok', offlinePartitions: [] } });
    const created = await http(httpPort, '/v1/topics', { method: 'POST', body: { name: 'orders', partitionCount: 2 } });
    expect(created.status).toBe(201);
    expect(created.body.config).toMatchObject({ retentionMs: 222_000, maxDeliveryAttempts: 9 });

    // The second broker failed at once, naming the owner, and left the lock alone.
    const refused = await second.exited;
    expect(refused.code).toBe(1);
    expect(second.output.join('\n')).toContain(`is in use by process ${pid} (lock file ${lockPath})`);
    expect(fs.readFileSync(lockPath, 'utf8').trim()).toBe(String(pid));

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.logs.map((l) => l.msg)).toContain('sluice broker stopped');
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(fs.existsSync(portFile)).toBe(false);

    const restarted = spawnServer(['--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0']);
    const again = await restarted.ready();
    const described = await http(again.httpPort, '/v1/topics/orders');
    expect(described.status).toBe(200);
    expect(described.body).toMatchObject({ name: 'orders', partitionCount: 2 });
    restarted.child.kill('SIGINT');
    expect(await restarted.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(lockPath)).toBe(false);
  }, 60_000);
});
