import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { type RunningServer, runServe } from '../../../src/main.js';
import { tempDir } from '../../helpers/temp-dir.js';

describe('runServe in-process', () => {
  it('serves until a signal, shuts down cleanly, and a second signal forces the exit', async () => {
    const dataDir = tempDir();
    const signals = new EventEmitter();
    const forceExit = vi.fn();
    let ready!: (server: RunningServer) => void;
    const started = new Promise<RunningServer>((resolve) => (ready = resolve));
    const exitCode = runServe({ dataDir, grpcPort: 0, httpPort: 0, logLevel: 'silent' }, { env: {}, signals, forceExit, onReady: ready });
    const server = await started;
    expect(fs.existsSync(path.join(dataDir, 'LOCK'))).toBe(true);
    const health = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
    expect(health.status).toBe(200);

    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    expect(forceExit).toHaveBeenCalledTimes(1);
    expect(await exitCode).toBe(0);
    expect(server.broker.isClosing).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'LOCK'))).toBe(false);
    expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);
  });

  it('returns 1 and releases everything when a server cannot start (port in use)', async () => {
    const dataDir = tempDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const signals = new EventEmitter();
      const lines: string[] = [];
      const exitCode = await runServe({ dataDir, grpcPort: 0, httpPort: port, logLevel: 'fatal' }, { env: {}, signals, logDestination: { write: (line) => lines.push(line) } });
      expect(exitCode).toBe(1);
      expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([expect.objectContaining({ code: 'EADDRINUSE', msg: expect.stringContaining('cannot start') })]);
      expect(fs.existsSync(path.join(dataDir, 'LOCK'))).toBe(false);
      expect(signals.listenerCount('SIGTERM')).toBe(0);
    } finally {
      blocker.close();
    }
  });

  it('returns 1 on invalid settings without touching the data directory', async () => {
    const dataDir = path.join(tempDir(), 'never-created');
    const lines: string[] = [];
    expect(await runServe(['--data-dir', dataDir, '--set', 'bogus=1'], { env: {}, logDestination: { write: (line) => lines.push(line) } })).toBe(1);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 60, msg: expect.stringMatching(/^cannot start: --set: unknown setting bogus/) });
    expect(fs.existsSync(dataDir)).toBe(false);
  });
});
