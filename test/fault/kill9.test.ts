/**
 * Real-process crash test of the partition log: a child process appends in `always` mode and is killed
 * with SIGKILL, over and over, on the same log. After each kill the log, opened here, must hold every
 * acknowledged append at its acknowledged offsets with the same bytes, offsets contiguous from
 * logStartOffset, and nothing that the child did not write. See test/helpers/crash-harness.ts for the
 * rounds and test/helpers/crash-model.ts for what is checked; `npm run crash-loop` runs it longer.
 *
 * Replay a failure's workload with SLUICE_CRASH_SEED=<seed> (where the kill lands still varies).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCrashLoop } from '../helpers/crash-harness.js';

// About 1 s a round on two cores, mostly the child's start-up (node + tsx) and the log's recovery.
const ROUNDS = 20;

describe('a process killed with SIGKILL while appending', () => {
  it(`keeps every acknowledged append intact across ${ROUNDS} crashes of one log`, async () => {
    const seed = process.env.SLUICE_CRASH_SEED === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Number(process.env.SLUICE_CRASH_SEED);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kill9-'));
    // runCrashLoop's errors name the seed, the round and the directory, which is kept for a look.
    const summary = await runCrashLoop({ dir: path.join(root, 'log'), rounds: ROUNDS, seed, killDelayMsMin: 10, killDelayMsMax: 200 });

    const context = `seed ${seed}`;
    expect(summary.rounds, context).toBe(ROUNDS);
    // The check means something only if the children got appends acknowledged and the log rolled.
    expect(summary.ackedAppendCount, context).toBeGreaterThan(0);
    expect(summary.segmentCount, context).toBeGreaterThan(1);
    expect(summary.logBatchCount, context).toBeGreaterThanOrEqual(summary.ackedBatchCount);
    fs.rmSync(root, { recursive: true, force: true });
  }, 120_000);
});
