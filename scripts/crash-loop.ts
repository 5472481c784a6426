/**
 * The long kill -9 crash test of the partition log:
 *   npm run crash-loop -- [--rounds N] [--dir D] [--seed S] [--retention-bytes B] [--verbose]
 *
 * Runs the same rounds and checks as test/fault/kill9.test.ts (see test/helpers/crash-harness.ts), by
 * default 200 of them, and prints a summary. Each round re-verifies the whole log, so without a bound
 * a long run slows down as the log grows: by default this process enforces size-based retention of
 * 64 MiB after each round (exercising a logStartOffset above 0 across crashes too);
 * `--retention-bytes -1` keeps everything, as the vitest test does.
 *
 * Without --dir it works in a fresh temporary directory, removed after a successful run; a failing
 * run keeps its directory and prints it with the seed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCrashLoop } from '../test/helpers/crash-harness.js';

const DEFAULT_RETENTION_BYTES = 64 * 1024 * 1024;

function integerOption(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be an integer of at least ${min}, got ${text}`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '200' },
      dir: { type: 'string' },
      seed: { type: 'string' },
      'retention-bytes': { type: 'string', default: String(DEFAULT_RETENTION_BYTES) },
      verbose: { type: 'boolean', default: false },
    },
  });
  const rounds = integerOption('rounds', values.rounds, 1);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : integerOption('seed', values.seed, 0);
  const retentionBytes = integerOption('retention-bytes', values['retention-bytes'], -1);
  const ownDir = values.dir === undefined;
  const dir = values.dir ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-loop-')), 'log');
  if (!ownDir && fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new Error(`--dir ${dir} is not empty: the loop verifies the log from its first offset, so it needs a new directory`);
  }
  const retention = retentionBytes === -1 ? 'none' : `${retentionBytes} bytes`;
  console.log(`crash loop: ${rounds} rounds, seed ${seed}, retention ${retention}, dir ${dir}`);

  const summary = await runCrashLoop({
    dir,
    rounds,
    seed,
    retentionBytes,
    onRound: (report) => {
      const torn = report.tornTail === undefined ? '' : `, torn tail of ${report.tornTail.bytesCut} bytes cut (${report.tornTail.problem})`;
      const deleted = report.retentionDeletedSegmentCount === 0 ? '' : `, retention deleted ${report.retentionDeletedSegmentCount} segments`;
      if (values.verbose || report.tornTail !== undefined || (report.round + 1) % 10 === 0) {
        console.log(
          `round ${report.round + 1}: ${report.ackedAppendCount} acknowledged appends, ` +
            `${report.survivingAppendCount - report.ackedAppendCount} unacknowledged survived, ` +
            `log [${report.logStartOffset}, ${report.logEndOffset}) in ${report.segmentCount} segments, ` +
            `start-up ${report.startupMs.toFixed(0)} ms, verify ${report.verifyMs.toFixed(0)} ms${torn}${deleted}`,
        );
      }
    },
  });

  console.log('\nsummary');
  console.log(`  seed                               ${summary.seed}`);
  console.log(`  rounds (each ended by SIGKILL)     ${summary.rounds}`);
  console.log(`  acknowledged appends verified      ${summary.ackedAppendCount} (${summary.ackedBatchCount} batches)`);
  console.log(`  unacknowledged appends survived    ${summary.unackedSurvivingAppendCount}`);
  console.log(`  multi-batch appends cut part-way   ${summary.partialAppendCount}`);
  console.log(`  torn tails (log.recovery.tornTail) ${summary.tornTailCount} (${summary.tornTailBytesCut} bytes cut)`);
  console.log(
    `  batches in the log at the end      ${summary.logBatchCount} (offsets [${summary.logStartOffset}, ${summary.logEndOffset}), ${summary.segmentCount} segments)`,
  );
  console.log(`  segments deleted by retention      ${summary.retentionDeletedSegmentCount}`);
  console.log(`  batch verifications (all rounds)   ${summary.batchVerificationCount}`);
  console.log(`  mean child start-up                ${summary.startupMsMean.toFixed(0)} ms`);
  console.log(`  slowest open + verify + close      ${summary.verifyMsMax.toFixed(0)} ms`);
  console.log(`  elapsed                            ${(summary.elapsedMs / 1000).toFixed(1)} s`);
  if (ownDir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
