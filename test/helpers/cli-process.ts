/**
 * The `sluice` CLI as a child process (`node --import tsx src/cli/main.ts ...`), for end-to-end tests:
 *
 *   const result = await runCli(['topic', 'list'], { broker: env.address });
 *   expect(result).toMatchObject({ code: 0, stdout: 'orders\n' });
 *
 * `spawnCli` gives the running child for tests that interact with it while it runs. The child's
 * environment is the test's without any `SLUICE_*` variable, plus `SLUICE_BROKER` when `broker` is
 * given. Children still running after a test are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The broker address, passed as SLUICE_BROKER. */
  broker?: string;
  /** Written to the child's standard input, which is then closed (closed at once when absent). */
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Kills the child (SIGKILL) after this long; the test then fails on its exit. Default 20 s. */
  timeoutMs?: number;
}

export interface CliProcess {
  child: ChildProcess;
  /** Standard output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the output so far satisfies `predicate` (rejects if the child exits first). */
  waitForOutput(predicate: (stdout: string) => boolean, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

const running = new Set<ChildProcess>();

export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('SLUICE_')) delete env[name];
  Object.assign(env, options.env, options.broker === undefined ? {} : { SLUICE_BROKER: options.broker });
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const listeners = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    out.push(chunk);
    for (const listener of listeners) listener();
  });
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin.on('error', () => undefined); // the child may exit before reading all of its input
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const stdout = (): string => Buffer.concat(out).toString('utf8');
  const stderr = (): string => Buffer.concat(err).toString('utf8');
  let exited = false;
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      running.delete(child);
      for (const listener of listeners) listener();
      resolve({ code, signal, stdout: stdout(), stderr: stderr() });
    });
  });
  return {
    child,
    stdout,
    stderr,
    done,
    waitForOutput: (predicate, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const finish = (settle: () => void): void => {
          clearTimeout(giveUp);
          listeners.delete(check);
          settle();
        };
        const check = (): void => {
          if (predicate(stdout())) finish(resolve);
          else if (exited) finish(() => reject(new Error(`the CLI exited before the expected output; stdout:\n${stdout()}\nstderr:\n${stderr()}`)));
        };
        const giveUp = setTimeout(() => finish(() => reject(new Error(`no expected output within ${timeoutMs} ms; stdout:\n${stdout()}`))), timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** Runs the CLI to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).done;
}

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});
