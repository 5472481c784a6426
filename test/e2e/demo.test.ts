/**
 * The demo (scripts/demo, `npm run demo`) end to end, as a user runs it: a child process that starts
 * its own broker and worker processes. The assertions read its `--json` summary, not only its exit
 * code: the story happened (a worker SIGKILLed mid-job, its job redelivered elsewhere, a job
 * dead-lettered, fixed and redriven) and every check held. With `--skip-fix` the same story fails,
 * with the reason in the summary and a non-zero exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../scripts/demo/main.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The demo takes 10-25 s; a loaded machine (other suites beside it) can stretch that a lot. */
const DEMO_TIMEOUT_MS = 150_000;

const running = new Set<ChildProcess>();
/** A failed demo keeps its temporary directory (broker data and log) for a human; tests remove it. */
const workDirs: string[] = [];
afterEach(() => {
  // The demo leads its own process group (detached): kill it with its broker and workers.
  for (const child of running) if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  running.clear();
  for (const dir of workDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: readonly string[]): Promise<DemoRun> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('SLUICE_')) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo/main.ts', '--timeout-ms', String(DEMO_TIMEOUT_MS - 20_000), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function summaryOf(run: DemoRun): DemoResult {
  const lines = run.stdout.trim().split('\n');
  expect(lines, `stdout should be one JSON line; stderr:\n${run.stderr}`).toHaveLength(1);
  const result = JSON.parse(lines[0]!) as DemoResult;
  workDirs.push(result.workDir);
  return result;
}

describe('npm run demo', () => {
  it(
    'plays the transcoding story and proves it: all jobs done in per-video order, the crash and the poison job handled, queue and DLQ drained',
    async () => {
      const run = await runDemo(['--json']);
      const result = summaryOf(run);
      expect({ code: run.code, ok: result.ok, problems: result.problems }, run.stderr).toEqual({ code: 0, ok: true, problems: [] });
      const verdict = result.verdict!;
      expect(verdict.checks.map((c) => [c.name, c.ok])).toEqual([
        ['processed', true],
        ['order', true],
        ['crash', true],
        ['deadLetter', true],
        ['dlqDrained', true],
        ['queueDrained', true],
      ]);

      // Every job enqueued by the web handler was done; duplicates may exist (at-least-once) but each is a redelivery.
      expect(result.uploads).toMatchObject({ count: 20, jobCount: 60 });
      expect(verdict.jobs).toMatchObject({ enqueuedCount: 60, processedCount: 60 });
      expect(verdict.jobs.completionCount).toBe(60 + verdict.jobs.duplicates.reduce((n, d) => n + d.completions.length - 1, 0));
      expect(verdict.order).toMatchObject({ videoCount: 20, handoffCount: 40, violations: [] });

      // The SIGKILLed worker's job was finished elsewhere, as a redelivery.
      const kill = result.kill!;
      expect(verdict.crash).toMatchObject({ worker: kill.worker, jobId: kill.jobId });
      expect(verdict.crash!.finishedBy).not.toBe(kill.worker);
      expect(verdict.crash!.finishedAttempt).toBeGreaterThanOrEqual(2);
      expect(result.workers.find((w) => w.name === kill.worker)).toMatchObject({ exit: 'signal SIGKILL' });

      // The malformed job: three failed attempts, a dead letter with provenance, redriven once, done with the fix on.
      expect(result.deadLetter).toMatchObject({ attempts: 3, cause: 'nack', errorClass: 'MalformedJobError' });
      expect(verdict.deadLetter.failedAttempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      expect(verdict.deadLetter).toMatchObject({ doneFixed: true, redriveCount: 1 });
      expect(result.redrive).toEqual({ previewCount: 1, movedCount: 1 });
      expect(result.dlqAfter).toEqual({ listedCount: 1, leftToRedriveCount: 0 });

      expect(result.workers.map((w) => w.name)).toEqual(['w1', 'w2', 'w3']);
      expect(result.broker?.exit).toBe('exit code 0');
      expect(run.stderr).toContain('result: OK, every check passed');
    },
    DEMO_TIMEOUT_MS,
  );

  it(
    'fails with the reason when the dead letter is redriven before the fix is deployed (--skip-fix)',
    async () => {
      const run = await runDemo(['--json', '--skip-fix', '--videos', '8']);
      const result = summaryOf(run);
      expect(run.code, run.stderr).toBe(1);
      expect(result.ok).toBe(false);
      const failed = result.verdict!.checks.filter((c) => !c.ok).map((c) => c.name);
      expect(failed).toEqual(['processed', 'deadLetter', 'dlqDrained']);
      // Redriven without the fix, it failed three more times and went back to the DLQ.
      const jobId = result.verdict!.deadLetter.jobId;
      expect(result.verdict!.deadLetter.failedAttempts.map((a) => [a.attempt, a.redriveCount])).toEqual([
        [1, 0],
        [2, 0],
        [3, 0],
        [1, 1],
        [2, 1],
        [3, 1],
      ]);
      expect(result.dlqAfter).toEqual({ listedCount: 2, leftToRedriveCount: 1 });
      expect(result.verdict!.checks.find((c) => c.name === 'processed')!.detail).toContain(`never done: ${jobId}`);
      expect(run.stderr).toMatch(/result: FAILED \(processed; deadLetter; dlqDrained\)/);
    },
    DEMO_TIMEOUT_MS,
  );

  it('refuses a bad flag with a usage error', async () => {
    const run = await runDemo(['--videos', '2']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("option '--videos <n>' argument '2' is invalid");
    expect(run.stdout).toBe('');
  });
});
