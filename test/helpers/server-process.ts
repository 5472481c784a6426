/**
 * The real broker as a child process (`node --import tsx src/main.ts ...`), for end-to-end tests.
 * The child logs JSON lines (pino); `waitForLog` waits for one matching a predicate, and `ready`
 * resolves with the ports from the "listening" line. Children still running after a test are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  child: ChildProcess;
  /** Every line of stdout and stderr so far (stdout lines are JSON logs). */
  output: string[];
  logs: LogLine[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the ports once both servers listen; rejects if the process exits first. */
  ready(timeoutMs?: number): Promise<{ grpcPort: number; httpPort: number; pid: number }>;
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

export function spawnServer(args: readonly string[], options: { env?: Record<string, string> } = {}): ServerProcess {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  // The child's settings come from the test alone, never from the environment vitest runs in.
  for (const name of Object.keys(env)) if (name.startsWith('SLUICE_') && !(options.env && name in options.env)) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const output: string[] = [];
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  const onText = (stream: NodeJS.ReadableStream): void => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        output.push(line);
        try {
          const parsed = JSON.parse(line) as unknown;
          if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) logs.push(parsed as LogLine);
        } catch {
          // not a log line
        }
      }
      for (const listener of listeners) listener();
    });
  };
  onText(child.stdout);
  onText(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      // Let the last output arrive before waiters give up.
      setImmediate(() => {
        resolve({ code, signal });
        for (const listener of listeners) listener();
      });
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = logs.find(predicate);
        if (found !== undefined) done(() => resolve(found));
        else if (hasExited) done(() => reject(new Error(`server exited before the expected log line; output:\n${output.join('\n')}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${output.join('\n')}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });

  return {
    child,
    output,
    logs,
    exited,
    waitForLog,
    async ready(timeoutMs) {
      const line = await waitForLog((l) => typeof l.httpPort === 'number' && typeof l.grpcPort === 'number', timeoutMs);
      return { grpcPort: line.grpcPort as number, httpPort: line.httpPort as number, pid: line.pid as number };
    },
  };
}

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});
