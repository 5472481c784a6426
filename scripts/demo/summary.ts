/**
 * The human summary at the end of the demo: one line per check (verify.ts), then what the run
 * looked like (the web handler's answer times, redeliveries, each worker's share), then the result.
 */
import type { DemoResult } from './main.js';

const CHECK_TITLES: Record<string, string> = {
  processed: 'every job processed at least once',
  order: 'per-video order held',
  crash: 'a killed worker lost no job',
  deadLetter: 'malformed job dead-lettered, fixed, redriven, done',
  dlqDrained: 'DLQ drained',
  queueDrained: 'queue drained',
};

export function printSummary(result: DemoResult, write: (line: string) => void): void {
  write('');
  write(`Summary (${(result.durationMs / 1000).toFixed(1)} s)`);
  for (const check of result.verdict?.checks ?? []) {
    write(`  ${check.ok ? 'PASS' : 'FAIL'}  ${CHECK_TITLES[check.name] ?? check.name}`);
    write(`        ${check.detail}`);
  }
  const u = result.uploads;
  if (u.count > 0) {
    write(
      `  web handler: ${u.count} uploads answered 202 in ${u.handlerMsMedian} ms median (max ${u.handlerMsMax} ms), each once its jobs were on disk; ` +
        `the ${u.jobCount} jobs took ${(result.workMsTotal / 1000).toFixed(1)} s of worker time`,
    );
  }
  const redeliveries = result.verdict?.redeliveries ?? [];
  if (redeliveries.length > 0) {
    write(`  redeliveries (deliveryAttempt > 1): ${redeliveries.map((r) => `${r.jobId} to ${r.worker} (attempt ${r.attempt}, ${r.outcome})`).join(', ')}`);
  }
  write(`  workers: ${result.workers.map((w) => `${w.name} did ${w.doneCount} jobs${w.exit === undefined ? '' : `, ended by ${w.exit.replace(/^signal /, '')}`}`).join('; ')}`);
  for (const problem of result.problems) write(`  problem: ${problem}`);
  write(result.ok ? 'result: OK, every check passed' : `result: FAILED (${[...result.problems, ...(result.verdict?.checks ?? []).filter((c) => !c.ok).map((c) => c.name)].join('; ')})`);
}
