/**
 * The demo's child processes: the broker (`node --import tsx src/main.ts`, on a temporary data
 * directory and free ports, so it never clashes with a broker already running) and the workers
 * (worker.ts). Neither inherits `SLUICE_*` variables: the demo's settings are its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { type WorkerReport, parseReport } from './jobs.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function childEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('SLUICE_')) delete env[name];
  return env;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    // 'close' comes after the child's output streams ended: every line it wrote has been read.
    else child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const children = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** SIGKILLs every child still running (synchronous: usable in an 'exit' handler). */
export function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export interface BrokerProcess {
  child: ChildProcess;
  grpcAddress: string;
  httpAddress: string;
  logFile: string;
  exited: Promise<Exit>;
  /** SIGTERM, and the exit (0 after a clean shutdown). */
  stop(): Promise<Exit>;
}

/** Starts a broker with its data, port file and log under `dir`; resolves once it listens. */
export async function startBroker(dir: string, deadlineMs: number): Promise<BrokerProcess> {
  const logFile = path.join(dir, 'broker.log');
  const portFile = path.join(dir, 'broker.json');
  const log = fs.openSync(logFile, 'a');
  const args = ['--data-dir', path.join(dir, 'data'), '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--port-file', portFile, '--log-level', 'info'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', log, log] });
  fs.closeSync(log);
  track(child);
  const exited = exitOf(child);
  let gone: Exit | undefined;
  void exited.then((exit) => (gone = exit));
  while (!fs.existsSync(portFile)) {
    if (gone !== undefined) {
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-6).join('\n  ');
      throw new Error(`the broker exited (${describeExit(gone)}) before listening; the end of its log (${logFile}):\n  ${tail}`);
    }
    if (Date.now() > deadlineMs) {
      child.kill('SIGKILL');
      throw new Error(`the broker did not listen in time; its log: ${logFile}`);
    }
    await sleep(50);
  }
  const ports = JSON.parse(fs.readFileSync(portFile, 'utf8')) as { grpcPort: number; httpPort: number };
  return {
    child,
    grpcAddress: `127.0.0.1:${ports.grpcPort}`,
    httpAddress: `http://127.0.0.1:${ports.httpPort}`,
    logFile,
    exited,
    stop() {
      if (gone === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** The last lines of its standard error (and standard output that was not a report). */
  stderrTail: string[];
  exited: Promise<Exit>;
  /** Set once it exited. */
  exit: Exit | undefined;
  /** Writes a control line to its standard input (`fix`). */
  send(line: string): void;
}

export interface WorkerOptions {
  broker: string;
  topic: string;
  group: string;
  name: string;
  seed: number;
  retryBackoffMs: number;
  onReport: (report: WorkerReport) => void;
  onOutput?: (line: string) => void;
}

export function startWorker(options: WorkerOptions): WorkerProcess {
  const args = [
    ...['--broker', options.broker, '--topic', options.topic, '--group', options.group, '--name', options.name],
    ...['--seed', String(options.seed), '--retry-backoff-ms', String(options.retryBackoffMs)],
  ];
  // Its standard input is the control line, and stays open: when this process dies, the worker sees it end and exits.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo/worker.ts', ...args], { cwd: ROOT, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);  child.stdin.on('error', () => undefined); // it may be gone (killed) when a line is sent
  const worker: WorkerProcess = {
    name: options.name,
    child,
    stderrTail: [],
    exited: exitOf(child),
    exit: undefined,
    send: (line) => void child.stdin.write(`${line}\n`),
  };
  void worker.exited.then((exit) => (worker.exit = exit));
  const keep = (line: string): void => {
    worker.stderrTail.push(line);
    if (worker.stderrTail.length > 20) worker.stderrTail.shift();
    options.onOutput?.(line);
  };
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const report = parseReport(line);
    if (report === undefined) keep(line);
    else options.onReport(report);
  });
  readline.createInterface({ input: child.stderr }).on('line', keep);
  return worker;
}

export function describeExit(exit: Exit): string {
  return exit.signal === null ? `exit code ${exit.code}` : `signal ${exit.signal}`;
}
