/**
 * Child processes and temporary directories of the comparison: every server and producer process it
 * starts, and every data directory it makes, is registered here and removed when the benchmark exits,
 * also on Ctrl-C (SIGINT), SIGTERM and an uncaught error. Servers are the binaries themselves
 * (`redis-server`, `nats-server`, `node`), never the distribution's services.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_KEPT_BYTES = 16 * 1024;

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function cleanUpNow(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let hooksInstalled = false;

/** Kills the children and removes the directories on exit, Ctrl-C and SIGTERM. Call once at start-up. */
export function installCleanup(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the servers and removing their data`);
      cleanUpNow();
      process.exit(130);
    });
  }
}

export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export interface Child {
  child: ChildProcess;
  pid: number;
  /** The tail of its stdout and stderr, for error messages. */
  output(): string;
  exited: Promise<void>;
  hasExited(): boolean;
  /** SIGTERM, SIGKILL after a timeout; resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts `command` with its output kept (the tail) and registers it for the exit clean-up. */
export function startChild(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): Child {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true;
      children.delete(child);
      resolve();
    });
    child.once('error', () => {
      exitedFlag = true;
      children.delete(child);
      resolve();
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    exited,
    hasExited: () => exitedFlag,
    async stop() {
      if (exitedFlag) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Retries `probe` until it resolves, the child exits, or the timeout passes. */
export async function waitUntilReady(child: Child, name: string, probe: () => Promise<void>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.hasExited()) throw new Error(`${name} exited before it was ready:\n${child.output()}`);
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await sleep(50);
    }
  }
  await child.stop();
  throw new Error(`${name} was not ready within ${timeoutMs} ms (${String(lastError)}):\n${child.output()}`);
}

/** Finds `binary` on the PATH, installing `debianPackage` with apt-get when it is missing (sudo unless root). */
export function ensureBinary(binary: string, debianPackage: string): string {
  const found = which(binary);
  if (found !== undefined) return found;
  console.log(`${binary} not found: installing the Debian package ${debianPackage} (its service is not started by this benchmark)`);
  const asRoot = process.getuid?.() === 0;
  const apt = (args: string[]): void => {
    const [command, commandArgs] = asRoot ? ['apt-get', args] : ['sudo', ['apt-get', ...args]];
    execFileSync(command, commandArgs, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    apt(['install', '-y', debianPackage]);
  } catch {
    apt(['update']);
    apt(['install', '-y', debianPackage]);
  }
  const installed = which(binary);
  if (installed === undefined) throw new Error(`${binary} is still missing after installing ${debianPackage}`);
  return installed;
}

function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const candidate = path.join(dir, binary);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The process's resident set now and its peak (VmRSS, VmHWM in /proc/PID/status), in bytes. */
export function readMemory(pid: number): { rssBytes: number; peakRssBytes: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) * 1024 : 0;
    };
    return { rssBytes: field('VmRSS'), peakRssBytes: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped; `stop` returns the largest sample and the kernel's VmHWM. */
export function sampleMemory(pid: number, intervalMs = 200): { stop: () => { sampledPeakBytes: number; peakRssBytes: number; lastRssBytes: number } } {
  let sampledPeakBytes = 0;
  let lastRssBytes = 0;
  const take = (): void => {
    const memory = readMemory(pid);
    if (memory === undefined) return;
    lastRssBytes = memory.rssBytes;
    sampledPeakBytes = Math.max(sampledPeakBytes, memory.rssBytes);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop: () => {
      take();
      clearInterval(timer);
      return { sampledPeakBytes, peakRssBytes: readMemory(pid)?.peakRssBytes ?? 0, lastRssBytes };
    },
  };
}
