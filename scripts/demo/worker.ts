/**
 * One transcoding worker of the demo, as its own process (so the demo can SIGKILL it): a member of
 * the consumer group that takes one job at a time (`inFlightMax: 1`, no prefetch), "works" 50-200 ms
 * and returns, which acknowledges the job. A job it cannot read throws: the consumer nacks it, the
 * group retries it after `retryBackoffMs` (doubling), and at the topic's maxDeliveryAttempts the
 * broker moves it to the dead-letter topic.
 *
 * It reports to the parent on standard output, one JSON object per line (jobs.ts `WorkerReport`):
 * `start` before working on a job and `done` after the work and before the acknowledgment, so a
 * process killed between the two has done work that will be done again (at-least-once).
 * SIGTERM stops it gracefully: the running job finishes and is acknowledged, the member leaves.
 *
 * Standard input is its control line from the parent: `fix` turns on the fix (the feature flag of
 * the story, jobs.ts); the end of the input means the parent is gone, and so the worker exits.
 *
 *   node --import tsx scripts/demo/worker.ts --broker 127.0.0.1:7070 --name w1
 */
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Sluice, json } from '../../src/client/index.js';
import { type TranscodeJob, type WorkerReport, readJob, workMs } from './jobs.js';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    topic: { type: 'string', default: 'transcode' },
    group: { type: 'string', default: 'transcoders' },
    name: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'retry-backoff-ms': { type: 'string', default: '100' },
  },
});
if (values.broker === undefined || values.name === undefined) {
  process.stderr.write('usage: worker.ts --broker host:port --name NAME [--topic T] [--group G] [--seed S] [--retry-backoff-ms MS]\n');
  process.exit(2);
}
const worker = values.name;
const seed = Number(values.seed);
let fixed = false;

readline
  .createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() !== 'fix') return;
    fixed = true;
    report({ event: 'fixed', worker, atMs: Date.now() });
  })
  // The parent holds our standard input open; when it ends, the demo is gone and so is our reason to run.
  .on('close', () => process.exit(3));

function report(line: WorkerReport): void {
  // Standard output to a pipe is written synchronously on Linux: a report is out before the next
  // statement runs, even if the process is killed right after.
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const sluice = new Sluice({ brokers: [values.broker], clientId: `demo-${worker}` });
const consumer = sluice.consumer<TranscodeJob>({
  groupId: values.group,
  topics: [values.topic],
  deserializer: json<TranscodeJob>(),
  // One job at a time and no prefetch: a worker that dies holds only the job it was working on.
  inFlightMax: 1,
  retryBackoffMs: Number(values['retry-backoff-ms']),
  // A stream broken by a crash is noticed at once; this bounds a silent (hung) worker.
  sessionTimeoutMs: 4_000,
  ackTimeoutMs: 10_000,
  handleSignals: true,
});

consumer.on('assignment', ({ partitions }) => {
  report({ event: 'assignment', worker, partitions: partitions.map((p) => p.partition).sort((a, b) => a - b), atMs: Date.now() });
});
consumer.on('stop', () => report({ event: 'stopped', worker, atMs: Date.now() }));
consumer.on('warning', ({ error }) => process.stderr.write(`${worker}: warning: ${error.code}: ${error.message}\n`));
consumer.on('reconnecting', ({ attempt, delayMs, error }) => {
  process.stderr.write(`${worker}: rejoining (attempt ${attempt}, in ${delayMs} ms) after ${error ? `${error.code}: ${error.message}` : 'a lost session'}\n`);
});
// A consumer that stopped on an error it cannot recover from is no worker any more: exit, so the
// parent sees it (the control line on standard input would keep the process alive otherwise).
consumer.on('crash', ({ error }) => {
  process.stderr.write(`${worker}: consumer crashed: ${error.code}: ${error.message}\n`);
  process.exit(1);
});

await consumer.run({
  eachMessage: async ({ partition, message }) => {
    const job = message.value!;
    const redrive = message.headers.find((h) => h.key === 'sluice.redrive.count')?.value;
    const fields = {
      worker,
      fixed,
      jobId: job.jobId,
      videoId: job.videoId,
      seq: job.seq,
      step: job.step,
      partition,
      offset: message.offset,
      attempt: message.deliveryAttempt,
      redriveCount: redrive ? Number(redrive.toString()) : 0,
    };
    const startedAtMs = Date.now();
    report({ event: 'start', ...fields, atMs: startedAtMs });
    try {
      readJob(job, { fixed: fields.fixed });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      report({ event: 'failed', ...fields, error: failure.message, errorClass: failure.name, atMs: Date.now() });
      throw failure; // nack: retried after the backoff, dead-lettered at the last attempt
    }
    await new Promise((resolve) => setTimeout(resolve, workMs(job, seed)));
    report({ event: 'done', ...fields, startedAtMs, atMs: Date.now() });
  },
});
report({ event: 'ready', worker, pid: process.pid, memberId: consumer.memberId ?? '', atMs: Date.now() });
