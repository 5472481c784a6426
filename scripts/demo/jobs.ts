/**
 * The demo's jobs: what the web handler enqueues for an uploaded video, what a worker does with one,
 * and the lines a worker reports to the demo's parent process.
 *
 * An upload becomes three jobs, keyed by the video id so they land in one partition and are
 * delivered in order: probe (read the source's duration and codecs), transcode-720p, and thumbnail
 * (a still at `atSeconds`). Each carries its video's sequence number (1, 2, 3), so a worker, and the
 * demo's checks, can tell the steps of a video apart.
 *
 * The bug the demo fixes: the upload form sends the thumbnail time as typed, and one user typed
 * "0:07". The web handler passes it through unchecked; the workers want a number of seconds and fail
 * that job on every attempt, so it ends in the dead-letter topic. The fix (reading "m:ss" too)
 * shipped dark behind a flag; the operator turns the flag on in the running workers, then redrives
 * the dead letter.
 */

export const STEPS = ['probe', 'transcode-720p', 'thumbnail'] as const;
export type Step = (typeof STEPS)[number];

export interface TranscodeJob {
  /** `v<videoId>-<seq>`: the same job keeps its id through redeliveries and redrives (a new offset). */
  jobId: string;
  videoId: number;
  /** 1-based position of the step among its video's jobs. */
  seq: number;
  stepCount: number;
  step: Step;
  source: string;
  /** For `thumbnail`: where the still is taken. A number of seconds, or, from the buggy form, text. */
  atSeconds?: number | string;
  enqueuedAtMs: number;
}

/** What the web handler is given for one upload. */
export interface Upload {
  videoId: number;
  source: string;
  /** As the form sent it: normally seconds, for one video "m:ss" text. */
  thumbnailAt: number | string;
}

export function jobsForUpload(upload: Upload, nowMs: number): TranscodeJob[] {
  return STEPS.map((step, index) => ({
    jobId: `v${upload.videoId}-${index + 1}`,
    videoId: upload.videoId,
    seq: index + 1,
    stepCount: STEPS.length,
    step,
    source: upload.source,
    ...(step === 'thumbnail' ? { atSeconds: upload.thumbnailAt } : {}),
    enqueuedAtMs: nowMs,
  }));
}

export const videoKey = (videoId: number): string => `video-${videoId}`;

/** Thrown by a worker for a job it cannot read: its record is nacked, retried, then dead-lettered. */
export class MalformedJobError extends Error {
  override readonly name = 'MalformedJobError';
}

/**
 * Checks a job as a worker does: without the fix a thumbnail time must be a number of seconds (the
 * bug); with it, "m:ss" text is read too. Returns the thumbnail time in seconds, if any.
 */
export function readJob(job: TranscodeJob, options: { fixed: boolean }): { atSeconds?: number } {
  if (!Number.isInteger(job.videoId) || !STEPS.includes(job.step) || job.seq !== STEPS.indexOf(job.step) + 1) {
    throw new MalformedJobError(`malformed job ${JSON.stringify(job.jobId)}: unknown step or sequence`);
  }
  if (job.step !== 'thumbnail') return {};
  const at = job.atSeconds;
  if (typeof at === 'number' && Number.isFinite(at) && at >= 0) return { atSeconds: at };
  if (options.fixed && typeof at === 'string') {
    const match = /^(\d+):([0-5]\d)$/.exec(at);
    if (match) return { atSeconds: Number(match[1]) * 60 + Number(match[2]) };
  }
  throw new MalformedJobError(`malformed job ${job.jobId}: thumbnail atSeconds must be a number of seconds, got ${JSON.stringify(at)}`);
}

/**
 * Simulated work: 50-200 ms, the same for a job on every attempt (a hash of its id). Transcoding is
 * the longest (150-200 ms): the demo kills a worker as it starts one, and the margin keeps that kill
 * in the middle of the job even on a loaded machine.
 */
export function workMs(job: Pick<TranscodeJob, 'jobId' | 'step'>, seed: number): number {
  const [min, max] = job.step === 'transcode-720p' ? [150, 200] : [50, 100];
  let hash = 2166136261 ^ seed;
  for (const char of job.jobId) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619);
  return min + ((hash >>> 0) % (max - min + 1));
}

// ---- what workers report to the parent: one JSON object per line on standard output ----

interface JobFields {
  worker: string;
  /** Whether the worker had the fix turned on. */
  fixed: boolean;
  jobId: string;
  videoId: number;
  seq: number;
  step: string;
  partition: number;
  offset: number;
  /** The record's deliveryAttempt for the group. */
  attempt: number;
  /** The `sluice.redrive.count` header: 0 for a record that was never redriven. */
  redriveCount: number;
}

export type WorkerReport =
  | { event: 'ready'; worker: string; pid: number; memberId: string; atMs: number }
  | { event: 'assignment'; worker: string; partitions: number[]; atMs: number }
  | { event: 'fixed'; worker: string; atMs: number }
  | ({ event: 'start'; atMs: number } & JobFields)
  | ({ event: 'done'; startedAtMs: number; atMs: number } & JobFields)
  | ({ event: 'failed'; error: string; errorClass: string; atMs: number } & JobFields)
  | { event: 'stopped'; worker: string; atMs: number };

export function parseReport(line: string): WorkerReport | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'event' in parsed && 'worker' in parsed) return parsed as WorkerReport;
  } catch {
    // not a report
  }
  return undefined;
}
