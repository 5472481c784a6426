/**
 * The demo's verdict: what the workers reported and what the admin API shows, checked. Pure
 * functions of the observations, so the checks are written in one place and the human summary and
 * the `--json` summary say the same thing.
 *
 * The checks, exactly:
 * - processed: every job the web handler enqueued has at least one `done` report. Delivery is
 *   at-least-once, so a job may be done more than once (a worker that dies after its work and before
 *   its acknowledgment); such duplicates are counted and listed, not failed.
 * - order: for every video and every step k >= 2, every attempt of step k (each `start` report, on
 *   any worker, including attempts that failed or whose worker was killed) began at or after the
 *   first `done` of step k-1. Redeliveries of step k-1 after that do not matter (that work was done
 *   already); a step k-1 that never finished fails the check. Times are the workers' `Date.now()`
 *   on one host, in milliseconds.
 * - crash: the killed worker reported the start of the job it was killed on and never its end; the
 *   job was then done by another worker with deliveryAttempt >= 2.
 * - dead letter: the malformed job failed maxDeliveryAttempts times on workers without the fix, the
 *   DLQ listing showed it (its original partition and offset, attempts, cause), the redrive moved
 *   it, and a worker with the fix then did it from the redriven record (it carries
 *   `sluice.redrive.count`), without failing again.
 * - DLQ drained: a dry run of "redrive everything" (the same cursor as the redrive) would move 0.
 * - queue drained: the group's committed offset equals the high watermark on every partition.
 */
import type { TranscodeJob, WorkerReport } from './jobs.js';
import type { EnqueuedJob } from './web.js';

type JobReport = Extract<WorkerReport, { event: 'start' | 'done' | 'failed' }>;

export interface Observations {
  enqueued: EnqueuedJob[];
  reports: WorkerReport[];
  maxDeliveryAttempts: number;
  malformedJobId: string;
  kill: { worker: string; jobId: string; partition: number; offset: number; attempt: number; atMs: number } | undefined;
  deadLetter: { dlqPartition: number; dlqOffset: number; partition: number; offset: number; attempts: number; cause: string; error: string; errorClass: string } | undefined;
  redrive: { previewCount: number; movedCount: number } | undefined;
  /** After the run: every dead letter in the DLQ topic, and what "redrive all" would still move. */
  dlqAfter: { listedCount: number; leftToRedriveCount: number } | undefined;
  lag: { partition: number; committedOffset: number; highWatermark: number; lagRecords: number }[];
  uploadHandlerMs: number[];
}

export interface Check {
  name: 'processed' | 'order' | 'crash' | 'deadLetter' | 'dlqDrained' | 'queueDrained';
  ok: boolean;
  detail: string;
}

export interface Verdict {
  ok: boolean;
  checks: Check[];
  jobs: { enqueuedCount: number; processedCount: number; completionCount: number; duplicates: { jobId: string; completions: { worker: string; attempt: number }[] }[] };
  order: { videoCount: number; handoffCount: number; crossWorkerHandoffCount: number; violations: string[] };
  redeliveries: { jobId: string; worker: string; attempt: number; outcome: 'done' | 'failed' | 'killed' }[];
  crash: { worker: string; jobId: string; finishedBy: string | undefined; finishedAttempt: number | undefined } | undefined;
  deadLetter: { jobId: string; failedAttempts: { worker: string; attempt: number; redriveCount: number }[]; doneBy: string | undefined; doneFixed: boolean | undefined; redriveCount: number | undefined };
}

const isJobReport = (r: WorkerReport): r is JobReport => r.event === 'start' || r.event === 'done' || r.event === 'failed';

export function verify(o: Observations): Verdict {
  const jobReports = o.reports.filter(isJobReport);
  const done = jobReports.filter((r): r is Extract<JobReport, { event: 'done' }> => r.event === 'done');
  const doneByJob = groupBy(done, (r) => r.jobId);
  const checks: Check[] = [];

  // processed
  const jobs = new Map<string, TranscodeJob>(o.enqueued.map((e) => [e.job.jobId, e.job]));
  const missing = [...jobs.keys()].filter((id) => !doneByJob.has(id));
  const duplicates = [...doneByJob].filter(([, list]) => list.length > 1).map(([jobId, list]) => ({ jobId, completions: list.map((r) => ({ worker: r.worker, attempt: r.attempt })) }));
  const processedCount = jobs.size - missing.length;
  checks.push({
    name: 'processed',
    ok: jobs.size > 0 && missing.length === 0,
    detail:
      `${processedCount} of ${jobs.size} jobs processed, ${done.length} completions, ${duplicates.length} done more than once` +
      (duplicates.length === 0 ? '' : ` (at-least-once redeliveries: ${duplicates.map((d) => `${d.jobId} by ${d.completions.map((c) => `${c.worker}#${c.attempt}`).join(', ')}`).join('; ')})`) +
      (missing.length === 0 ? '' : `; never done: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`),
  });

  // order
  const byVideo = groupBy(jobReports, (r) => r.videoId);
  const violations: string[] = [];
  let handoffCount = 0;
  let crossWorkerHandoffCount = 0;
  const videoIds = [...new Set(o.enqueued.map((e) => e.job.videoId))];
  for (const videoId of videoIds) {
    const reports = byVideo.get(videoId) ?? [];
    const stepCount = o.enqueued.find((e) => e.job.videoId === videoId)!.job.stepCount;
    for (let seq = 2; seq <= stepCount; seq++) {
      const previousDone = reports.filter((r) => r.seq === seq - 1 && r.event === 'done').sort((a, b) => a.atMs - b.atMs)[0];
      const starts = reports.filter((r) => r.seq === seq && r.event === 'start');
      if (starts.length === 0) continue; // never started: the processed check reports it
      handoffCount++;
      if (previousDone === undefined) {
        violations.push(`video ${videoId}: step ${seq} started but step ${seq - 1} never finished`);
        continue;
      }
      const early = starts.filter((s) => s.atMs < previousDone.atMs);
      for (const s of early) violations.push(`video ${videoId}: step ${seq} (${s.step}) started on ${s.worker} at ${s.atMs}, before step ${seq - 1} was done at ${previousDone.atMs}`);
      const firstDone = reports.filter((r) => r.seq === seq && r.event === 'done').sort((a, b) => a.atMs - b.atMs)[0];
      if (firstDone !== undefined && firstDone.worker !== previousDone.worker) crossWorkerHandoffCount++;
    }
  }
  checks.push({
    name: 'order',
    ok: violations.length === 0 && handoffCount > 0,
    detail:
      `${videoIds.length} videos: in ${handoffCount} step-to-step handoffs (${crossWorkerHandoffCount} done by another worker than the step before) no step began before the previous step of its video was done` +
      (violations.length === 0 ? '' : `; violations: ${violations.slice(0, 5).join('; ')}`),
  });

  // redeliveries, for the summary
  const redeliveries: Verdict['redeliveries'] = jobReports
    .filter((r) => r.event === 'start' && r.attempt > 1)
    .map((s) => {
      const end = jobReports.find((r) => r.worker === s.worker && r.jobId === s.jobId && r.offset === s.offset && r.attempt === s.attempt && r.event !== 'start');
      return { jobId: s.jobId, worker: s.worker, attempt: s.attempt, outcome: end === undefined ? 'killed' : end.event === 'done' ? 'done' : 'failed' };
    });

  // crash
  let crash: Verdict['crash'];
  if (o.kill === undefined) {
    checks.push({ name: 'crash', ok: false, detail: 'no worker was killed' });
  } else {
    const kill = o.kill;
    const victimDone = (doneByJob.get(kill.jobId) ?? []).some((r) => r.worker === kill.worker && r.offset === kill.offset);
    const finished = (doneByJob.get(kill.jobId) ?? []).find((r) => r.worker !== kill.worker && r.offset === kill.offset && r.attempt >= 2);
    crash = { worker: kill.worker, jobId: kill.jobId, finishedBy: finished?.worker, finishedAttempt: finished?.attempt };
    const ok = !victimDone && finished !== undefined;
    checks.push({
      name: 'crash',
      ok,
      detail: victimDone
        ? `${kill.worker} finished ${kill.jobId} before the SIGKILL landed: it was not killed mid-job`
        : finished === undefined
          ? `${kill.jobId}, held by ${kill.worker} when it was killed, was not done by another worker with deliveryAttempt >= 2`
          : `${kill.worker} was SIGKILLed in the middle of ${kill.jobId}; ${finished.worker} did it with deliveryAttempt ${finished.attempt}`,
    });
  }

  // dead letter and redrive
  const malformed = jobReports.filter((r) => r.jobId === o.malformedJobId);
  const failedAttempts = malformed.filter((r) => r.event === 'failed').map((r) => ({ worker: r.worker, attempt: r.attempt, fixed: r.fixed, redriveCount: r.redriveCount }));
  const fixedDone = malformed.find((r) => r.event === 'done' && r.fixed);
  const malformedEnqueued = o.enqueued.find((e) => e.job.jobId === o.malformedJobId);
  const deadLetterProblems: string[] = [];
  const expectedAttempts = Array.from({ length: o.maxDeliveryAttempts }, (_, i) => i + 1);
  const firstAttempts = failedAttempts.filter((f) => !f.fixed && f.redriveCount === 0).map((f) => f.attempt);
  if (firstAttempts.join() !== expectedAttempts.join()) deadLetterProblems.push(`the workers failed it on attempts [${firstAttempts.join(', ')}], expected [${expectedAttempts.join(', ')}]`);
  const afterRedrive = failedAttempts.filter((f) => f.redriveCount > 0);
  if (afterRedrive.length > 0) {
    deadLetterProblems.push(`after the redrive it failed again ${afterRedrive.length} time(s) (${afterRedrive.map((f) => `${f.worker}${f.fixed ? ' with the fix' : ' without the fix'}`).join(', ')})`);
  }
  if (o.deadLetter === undefined) deadLetterProblems.push('it never showed up in the DLQ listing');
  else {
    if (o.deadLetter.attempts !== o.maxDeliveryAttempts) deadLetterProblems.push(`its provenance says ${o.deadLetter.attempts} attempts`);
    if (malformedEnqueued !== undefined && (o.deadLetter.partition !== malformedEnqueued.partition || o.deadLetter.offset !== malformedEnqueued.offset)) {
      deadLetterProblems.push(`its provenance names ${o.deadLetter.partition}@${o.deadLetter.offset}, it was enqueued at ${malformedEnqueued.partition}@${malformedEnqueued.offset}`);
    }
  }
  if (o.redrive === undefined || o.redrive.movedCount !== 1) deadLetterProblems.push(`the redrive moved ${o.redrive?.movedCount ?? 'nothing'}, expected 1`);
  if (fixedDone === undefined) deadLetterProblems.push('no worker with the fix did it after the redrive');
  else if (fixedDone.redriveCount < 1) deadLetterProblems.push(`${fixedDone.worker} did it from a record without sluice.redrive.count`);
  checks.push({
    name: 'deadLetter',
    ok: deadLetterProblems.length === 0,
    detail:
      deadLetterProblems.length === 0 && o.deadLetter !== undefined && fixedDone !== undefined
        ? `${o.malformedJobId} failed attempts ${firstAttempts.join(', ')} and was dead-lettered (cause ${o.deadLetter.cause}: ${o.deadLetter.error}); ` +
          `after the fix and the redrive ${fixedDone.worker} did it (sluice.redrive.count ${fixedDone.redriveCount})`
        : `${o.malformedJobId}: ${deadLetterProblems.join('; ')}`,
  });

  // DLQ drained
  checks.push({
    name: 'dlqDrained',
    ok: o.dlqAfter !== undefined && o.dlqAfter.leftToRedriveCount === 0,
    detail:
      o.dlqAfter === undefined
        ? 'the DLQ was not listed after the run'
        : `${o.dlqAfter.listedCount} dead letter(s) listed in the DLQ topic (a log: redriven records stay in it), ${o.dlqAfter.leftToRedriveCount} left to redrive`,
  });

  // queue drained
  const lagging = o.lag.filter((p) => p.lagRecords !== 0);
  checks.push({
    name: 'queueDrained',
    ok: o.lag.length > 0 && lagging.length === 0,
    detail:
      lagging.length === 0
        ? `committed offset = high watermark on all ${o.lag.length} partitions (lag 0)`
        : `lag left: ${lagging.map((p) => `partition ${p.partition}: ${p.lagRecords} (committed ${p.committedOffset}, high watermark ${p.highWatermark})`).join(', ')}`,
  });

  return {
    ok: checks.every((c) => c.ok),
    checks,
    jobs: { enqueuedCount: jobs.size, processedCount, completionCount: done.length, duplicates },
    order: { videoCount: videoIds.length, handoffCount, crossWorkerHandoffCount, violations },
    redeliveries,
    crash,
    deadLetter: {
      jobId: o.malformedJobId,
      failedAttempts: failedAttempts.map(({ worker, attempt, redriveCount }) => ({ worker, attempt, redriveCount })),
      doneBy: fixedDone?.worker,
      doneFixed: fixedDone?.fixed,
      redriveCount: fixedDone?.redriveCount,
    },
  };
}

function groupBy<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [item]);
    else list.push(item);
  }
  return groups;
}

export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}
