/**
 * The servers of the gRPC benchmark, each in a child process of its own so that neither shares an
 * event loop (or a CPU-bound thread) with the benchmark's clients: the broker (`src/main.ts` run with
 * tsx, on a temporary data directory, found through its --port-file) and the echo server
 * (bench/echo-server.ts). Children still running when this process exits are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_KEPT_BYTES = 16 * 1024;

export interface ChildServer {
  /** `host:port` of its gRPC server. */
  readonly address: string;
  readonly pid: number;
  /** SIGTERM (the broker shuts down gracefully), SIGKILL after a timeout; resolves once it exited. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts `node <args>` in the repository root, keeping the tail of its output for errors; `onStdout` sees all of its standard output. */
function spawnNode(
  args: readonly string[],
  onStdout?: (chunk: string) => void,
  extraEnv: Record<string, string> = {},
): { child: ChildProcess; output: () => string; exited: Promise<void> } {
  // The child's settings come from its flags alone, not from SLUICE_* variables of this shell.
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SLUICE_'))), ...extraEnv };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_BYTES);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (onStdout !== undefined) child.stdout.on('data', (chunk: Buffer) => onStdout(chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  return { child, output: () => output, exited };
}

function stopper(child: ChildProcess, exited: Promise<void>): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
}

/**
 * How `npm start` runs the broker (package.json's start script: `[NAME=value ...] node [flags]
 * dist/main.js`): its environment assignments and node flags, so that benchmarks run it as users do.
 */
function brokerStartCommand(): { env: Record<string, string>; nodeFlags: string[] } {
  const packageJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = packageJson.scripts.start.trim().split(/\s+/);
  const node = words.indexOf('node');
  const script = words.indexOf('dist/main.js');
  const assignments = words.slice(0, Math.max(node, 0));
  if (node < 0 || script < node || !assignments.every((word) => /^[A-Z_][A-Z0-9_]*=\S*$/.test(word))) {
    throw new Error(`package.json's start script is not "[NAME=value ...] node [flags] dist/main.js": ${packageJson.scripts.start}`);
  }
  const env = Object.fromEntries(assignments.map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]));
  return { env, nodeFlags: words.slice(node + 1, script) };
}

/**
 * Starts a broker on `dataDir` with both ports picked by the OS; resolves once it listens. From
 * source through tsx by default; `build: 'dist'` runs `dist/main.js` as `npm start` does (build
 * first). Either way with the node flags and environment assignments of `npm start`.
 */
export async function startBrokerProcess(options: {
  dataDir: string;
  extraArgs?: readonly string[];
  build?: 'source' | 'dist';
  /** Node flags after those of `npm start` (e.g. V8 tracing). */
  nodeFlags?: readonly string[];
  onStdout?: (chunk: string) => void;
}): Promise<ChildServer> {
  const portFile = path.join(path.dirname(options.dataDir), `ports-${path.basename(options.dataDir)}.json`);
  fs.rmSync(portFile, { force: true });
  const start = brokerStartCommand();
  const { child, output, exited } = spawnNode([
    ...start.nodeFlags,
    ...(options.nodeFlags ?? []),
    ...(options.build === 'dist' ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts']),
    '--data-dir',
    options.dataDir,
    '--grpc-port',
    '0',
    '--http-port',
    '0',
    '--port-file',
    portFile,
    '--log-level',
    'warn',
    ...(options.extraArgs ?? []),
  ], options.onStdout, start.env);
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!fs.existsSync(portFile)) {
    if (exitedEarly) throw new Error(`the broker exited before listening:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the broker did not listen within ${READY_TIMEOUT_MS} ms:\n${output()}`);
    }
    await sleep(20);
  }
  const ports = JSON.parse(fs.readFileSync(portFile, 'utf8')) as { pid: number; grpcPort: number };
  return { address: `127.0.0.1:${ports.grpcPort}`, pid: ports.pid, stop: stopper(child, exited) };
}

/** Starts bench/echo-server.ts; resolves once it listens. */
export async function startEchoProcess(): Promise<ChildServer> {
  const { child, output, exited } = spawnNode(['--import', 'tsx', 'bench/echo-server.ts']);
  const ready = new Promise<{ port: number; pid: number }>((resolve, reject) => {
    let pending = '';
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const newline = pending.indexOf('\n');
      if (newline < 0) return;
      child.stdout!.off('data', onData);
      try {
        resolve(JSON.parse(pending.slice(0, newline)) as { port: number; pid: number });
      } catch (error) {
        reject(new Error(`the echo server printed ${JSON.stringify(pending.slice(0, newline))}, not its port`, { cause: error }));
      }
    };
    child.stdout!.on('data', onData);
    void exited.then(() => reject(new Error(`the echo server exited before listening:\n${output()}`)));
    setTimeout(() => reject(new Error(`the echo server did not listen within ${READY_TIMEOUT_MS} ms:\n${output()}`)), READY_TIMEOUT_MS).unref();
  });
  try {
    const { port, pid } = await ready;
    return { address: `127.0.0.1:${port}`, pid, stop: stopper(child, exited) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}
