/**
 * The kill -9 crash loop, shared by test/fault/kill9.test.ts (a short run) and scripts/crash-loop.ts
 * (a long one). Each round starts crash-appender.ts on the same directory, lets it append for a
 * random time after it reports readiness, kills it with SIGKILL, then opens the log here, verifies it
 * against the model (crash-model.ts) and closes it again.
 *
 * Everything random (round seeds, appends in flight, kill delays) comes from one seed, printed with
 * every failure. Replaying a seed replays the workload and the delays; where exactly the kill lands
 * still depends on timing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../src/base/index.js';
import { logConfig } from '../../src/config.js';
import { SegmentLog, type RecoveryReport } from '../../src/storage/index.js';
import { CrashLogModel, type RoundVerification } from './crash-model.js';
import { type AckLine, type ReadyLine, crashLogConfig, mixSeed, parseLine } from './crash-workload.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const APPENDER_PATH = path.join(REPO_ROOT, 'test/helpers/crash-appender.ts');
const READY_TIMEOUT_MS = 15_000;
const STDERR_BYTES_MAX = 64 * 1024;

/** File descriptors this process holds, where the OS tells (Linux); undefined elsewhere. */
function openFdCount(): number | undefined {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/**
 * A log keeps at most `openSegmentFilesMax` sealed segments open, plus the active one, however many
 * segments it has: checked after opening (recovery) and after the verification read every segment.
 */
function checkFdsHeld(fdsBefore: number | undefined, when: string): void {
  const now = openFdCount();
  if (fdsBefore === undefined || now === undefined) return;
  const allowed = crashLogConfig.openSegmentFilesMax + 1;
  if (now - fdsBefore > allowed) throw new Error(`${when} the log holds ${now - fdsBefore} file descriptors, more than ${allowed}`);
}

export interface AppenderRun {
  ready: ReadyLine;
  acks: AckLine[];
  /** From spawn to the ready line (node + tsx start-up + log recovery). */
  startupMs: number;
}

/**
 * Runs the appender on `dir` and SIGKILLs it `killDelayMs` after it reports readiness. Resolves once
 * it is dead and its stdout is drained; rejects if it fails, exits by itself or is not ready in time.
 */
export function runAppenderUntilKilled(options: { dir: string; seed: number; inFlight: number; killDelayMs: number }): Promise<AppenderRun> {
  const { dir, seed, inFlight, killDelayMs } = options;
  const startedMs = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', APPENDER_PATH, '--dir', dir, '--seed', String(seed), '--in-flight', String(inFlight)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise<AppenderRun>((resolve, reject) => {
    let ready: ReadyLine | undefined;
    let startupMs = 0;
    const acks: AckLine[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    let problem: Error | undefined;
    const kill = (): void => {
      killed = true;
      child.kill('SIGKILL');
    };
    const readyTimer = setTimeout(() => {
      problem = new Error(`the appender did not report readiness within ${READY_TIMEOUT_MS} ms`);
      kill();
    }, READY_TIMEOUT_MS);

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      // A line cut off by the kill is not a report: only complete lines count.
      partial = lines.pop()!;
      for (const text of lines) {
        try {
          const line = parseLine(text);
          if (line.kind === 'ack') {
            acks.push(line);
          } else if (ready === undefined) {
            ready = line;
            startupMs = performance.now() - startedMs;
            clearTimeout(readyTimer);
            killTimer = setTimeout(kill, killDelayMs);
          } else {
            throw new Error('a second ready line');
          }
        } catch (error) {
          problem ??= error as Error;
          kill();
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < STDERR_BYTES_MAX) stderr += chunk;
    });
    child.on('error', (error) => {
      problem ??= error;
    });
    child.on('close', (code, signal) => {
      clearTimeout(readyTimer);
      clearTimeout(killTimer);
      if (problem === undefined && (!killed || signal !== 'SIGKILL')) {
        problem = new Error(`the appender exited by itself (code ${code}, signal ${signal})`);
      }
      if (problem === undefined && ready === undefined) problem = new Error('the appender was killed before it was ready');
      if (problem !== undefined) {
        reject(new Error(`${problem.message}${stderr === '' ? '' : `\nappender stderr:\n${stderr}`}`, { cause: problem }));
      } else {
        resolve({ ready: ready!, acks, startupMs });
      }
    });
  });
}

export interface CrashLoopOptions {
  dir: string;
  rounds: number;
  seed: number;
  /** Kill delay after readiness is drawn from [killDelayMsMin, killDelayMsMax). */
  killDelayMsMin?: number;
  killDelayMsMax?: number;
  /** Appends the child keeps outstanding, drawn per round from [1, inFlightMax]. */
  inFlightMax?: number;
  /**
   * -1 (the default) keeps everything, so every acknowledged append of every round is checked after
   * every round. Otherwise, after verifying a round this process enforces size-based retention
   * (oldest segments deleted while the rest holds this many bytes) and the check goes on from the
   * new logStartOffset: long runs stay bounded in disk, time and memory.
   */
  retentionBytes?: number;
  onRound?: (report: RoundReport) => void;
}

export interface RoundReport extends RoundVerification {
  round: number;
  killDelayMs: number;
  inFlight: number;
  startupMs: number;
  /** Opening, verifying and closing the log in this process. */
  verifyMs: number;
  tornTail: RecoveryReport['tornTail'];
  segmentCount: number;
  retentionDeletedSegmentCount: number;
}

export interface CrashLoopSummary {
  seed: number;
  rounds: number;
  ackedAppendCount: number;
  ackedBatchCount: number;
  /** Appends that survived a crash without having been acknowledged. */
  unackedSurvivingAppendCount: number;
  partialAppendCount: number;
  tornTailCount: number;
  tornTailBytesCut: number;
  /** Batches in the log at the end, each re-verified every round. */
  logBatchCount: number;
  batchVerificationCount: number;
  retentionDeletedSegmentCount: number;
  logStartOffset: number;
  logEndOffset: number;
  segmentCount: number;
  startupMsMean: number;
  verifyMsMax: number;
  elapsedMs: number;
}

/** Thrown by `runCrashLoop`: says the seed, round and directory needed to look into a failure. */
export class CrashLoopError extends Error {
  override readonly name = 'CrashLoopError';
}

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopSummary> {
  const { dir, rounds, seed, killDelayMsMin = 10, killDelayMsMax = 300, inFlightMax = 8, retentionBytes = -1 } = options;
  const config = retentionBytes === -1 ? crashLogConfig : logConfig({ retentionBytes }, crashLogConfig);
  const random = seededRandom(seed);
  const model = new CrashLogModel();
  const startedMs = performance.now();
  const summary: CrashLoopSummary = {
    seed,
    rounds: 0,
    ackedAppendCount: 0,
    ackedBatchCount: 0,
    unackedSurvivingAppendCount: 0,
    partialAppendCount: 0,
    tornTailCount: 0,
    tornTailBytesCut: 0,
    logBatchCount: 0,
    batchVerificationCount: 0,
    retentionDeletedSegmentCount: 0,
    logStartOffset: 0,
    logEndOffset: 0,
    segmentCount: 0,
    startupMsMean: 0,
    verifyMsMax: 0,
    elapsedMs: 0,
  };
  let startupMsTotal = 0;
  for (let round = 0; round < rounds; round++) {
    const roundSeed = mixSeed(seed, round);
    const inFlight = random.int(1, inFlightMax + 1);
    const killDelayMs = random.int(killDelayMsMin, killDelayMsMax);
    try {
      const run = await runAppenderUntilKilled({ dir, seed: roundSeed, inFlight, killDelayMs });
      const verifyStartedMs = performance.now();
      const fdsBefore = openFdCount();
      const log = SegmentLog.open({ dir, config });
      let verification: RoundVerification;
      let retentionDeletedSegmentCount = 0;
      try {
        checkFdsHeld(fdsBefore, 'after opening,');
        verification = model.verifyRound(log, { round, seed: roundSeed, ready: run.ready, acks: run.acks }, random);
        checkFdsHeld(fdsBefore, 'after reading every segment,');
        if (retentionBytes !== -1) {
          const retention = log.enforceRetention();
          retentionDeletedSegmentCount = retention.deletedSegmentCount;
          model.forgetBelow(retention.logStartOffset);
        }
      } finally {
        await log.close();
      }
      const report: RoundReport = {
        ...verification,
        round,
        killDelayMs,
        inFlight,
        startupMs: run.startupMs,
        verifyMs: performance.now() - verifyStartedMs,
        tornTail: log.recovery.tornTail,
        segmentCount: log.segmentCount,
        retentionDeletedSegmentCount,
      };
      summary.rounds++;
      summary.ackedAppendCount += report.ackedAppendCount;
      summary.ackedBatchCount += report.ackedBatchCount;
      summary.unackedSurvivingAppendCount += report.survivingAppendCount - report.ackedAppendCount;
      if (report.partialAppend) summary.partialAppendCount++;
      if (report.tornTail !== undefined) {
        summary.tornTailCount++;
        summary.tornTailBytesCut += report.tornTail.bytesCut;
      }
      summary.batchVerificationCount += report.verifiedBatchCount;
      summary.retentionDeletedSegmentCount += retentionDeletedSegmentCount;
      summary.logStartOffset = log.logStartOffset;
      summary.logEndOffset = report.logEndOffset;
      summary.segmentCount = report.segmentCount;
      summary.verifyMsMax = Math.max(summary.verifyMsMax, report.verifyMs);
      startupMsTotal += run.startupMs;
      options.onRound?.(report);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new CrashLoopError(
        `crash loop failed in round ${round} of ${rounds} (seed ${seed}, round seed ${roundSeed}, in flight ${inFlight}, kill after ${killDelayMs} ms, dir ${dir}): ${message}`,
        { cause: error },
      );
    }
  }
  summary.logBatchCount = model.batchCount;
  summary.startupMsMean = summary.rounds === 0 ? 0 : startupMsTotal / summary.rounds;
  summary.elapsedMs = performance.now() - startedMs;
  return summary;
}
