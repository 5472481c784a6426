/**
 * Helpers shared by the benchmarks: command-line options, temporary directories, number formatting,
 * plain-text tables and the JSON results file. Benchmarks are not tests: they print numbers beside a
 * baseline measured in the same run, and check targets only to print PASS or FAIL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BenchOptions {
  /** A short smoke run: tiny budgets, one repetition; its results go to `*.quick.json`. */
  quick: boolean;
}

const USAGE = 'usage: npm run bench [-- --quick]';

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let quick = false;
  for (const arg of argv) {
    if (arg === '--quick') {
      quick = true;
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      throw new Error(`unknown option ${arg}; ${USAGE}`);
    }
  }
  return { quick };
}

/**
 * Runs `fn` with a fresh directory under the OS temp dir and removes it afterwards, also when the
 * run fails or is interrupted with Ctrl-C.
 */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const onInterrupt = (): void => {
    remove();
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await fn(dir);
  } finally {
    process.off('SIGINT', onInterrupt);
    remove();
  }
}

export interface Environment {
  node: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cpuCount: number;
  totalMemoryBytes: number;
  tmpdir: string;
  /** 1-minute load average when the description was taken: above cpuCount, other work competed with the run. */
  loadAverage1m: number;
}

export function describeEnvironment(): Environment {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    arch: process.arch,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    tmpdir: os.tmpdir(),
    loadAverage1m: os.loadavg()[0] ?? 0,
  };
}

/** A warning to print when other processes are keeping the CPUs busy, or undefined on a quiet machine. */
export function busyMachineWarning(environment: Environment): string | undefined {
  if (environment.loadAverage1m <= environment.cpuCount * 0.5) return undefined;
  return (
    `warning: load average ${environment.loadAverage1m.toFixed(1)} on ${environment.cpuCount} CPUs: other processes compete ` +
    'for CPU and disk, so expect noisy numbers (compare the (range) columns, or rerun on a quiet machine)'
  );
}

/** Writes `data` as JSON through a temporary file and a rename, so a reader never sees half of it. */
export function writeJsonResults(filePath: string, data: unknown): void {
  fs.mkdirSync(path.dirname(filePath), { recursive: true });
  const temp = `${filePath}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(data, null, 2)}\n`);
  fs.renameSync(temp, filePath);
}

// ---- numbers ----

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** MB/s here means 10^6 bytes per second. */
const MB = 1_000_000;

export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
}

export function megabytesPerSecond(bytes: number, elapsedMs: number): number {
  return perSecond(bytes, elapsedMs) / MB;
}

/** 1234567 -> "1.23 M", 45678 -> "45.7 k". */
export function formatCount(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

export function formatMegabytes(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function formatRatio(value: number): string {
  return `${value.toFixed(2)}x`;
}

export function formatPercent(value: number): string {
  return `${(value * 100).toFixed(0)}%`;
}

export function formatValueBytes(bytes: number): string {
  return bytes >= KiB && bytes % KiB === 0 ? `${bytes / KiB} KiB` : `${bytes} B`;
}

// ---- tables ----

export interface Column {
  header: string;
  /** Numbers read best right-aligned; labels left-aligned (the default). */
  align?: 'left' | 'right';
}

export function formatTable(options: { columns: readonly Column[]; rows: readonly (readonly string[])[] }): string {
  const { columns, rows } = options;
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        return column.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(columns.map((column) => column.header)), rule, ...rows.map(line)].join('\n');
}
