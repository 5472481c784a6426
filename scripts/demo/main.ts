/**
 * The demo of the scenario Sluice exists for (README "Demo"): users upload videos, a web handler
 * enqueues their transcoding jobs and answers at once, competing workers do the jobs, one worker is
 * killed in the middle of a job, a malformed job ends in the dead-letter topic, the operator turns on
 * the fix and redrives it; then the demo checks that every job was done at least once, in order per
 * video, and that nothing is left in the queue or to redrive (verify.ts says exactly what is
 * checked).
 *
 *   npm run demo                        # 10-20 s
 *   npm run demo -- --videos 40 --verbose
 *   npm run demo -- --json              # the story on stderr, one JSON summary on stdout
 *
 * Everything goes through the public client library (`Sluice`: producer, consumer, admin) against a
 * broker this script starts as a child process on a temporary data directory and free ports. The
 * workers are child processes too (worker.ts), reporting what they do as JSON lines. Exit code 0
 * when every check passes, 1 with the reason otherwise.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { type Admin, Sluice } from '../../src/client/index.js';
import { STEPS, type Upload, type WorkerReport } from './jobs.js';
import { type BrokerProcess, type Exit, type WorkerProcess, describeExit, killChildren, sleep, startBroker, startWorker } from './processes.js';
import { printSummary } from './summary.js';
import { type Observations, type Verdict, percentile, verify } from './verify.js';
import { type EnqueuedJob, type WebHandler, postUpload, startWebHandler } from './web.js';

const TOPIC = 'transcode';
const GROUP = 'transcoders';
/** The first video id; the rest follow. */
const FIRST_VIDEO_ID = 4827;

export interface DemoOptions {
  videos: number;
  workers: number;
  partitions: number;
  maxAttempts: number;
  uploadIntervalMs: number;
  retryBackoffMs: number;
  seed: number;
  timeoutMs: number;
  skipFix: boolean;
  json: boolean;
  verbose: boolean;
  keepData: boolean;
}

/** The `--json` summary. */
export interface DemoResult {
  ok: boolean;
  /** Why the demo failed, beyond the failed checks (a step that timed out, a process that died). */
  problems: string[];
  durationMs: number;
  /** The temporary directory (broker data and log): removed after a successful run unless --keep-data. */
  workDir: string;
  options: Omit<DemoOptions, 'json' | 'verbose' | 'keepData'>;
  broker: { grpc: string; http: string; dataDir: string; exit: string | undefined } | undefined;
  uploads: { count: number; jobCount: number; handlerMsMedian: number; handlerMsMax: number; enqueuedInMs: number };
  /** Time the workers spent on jobs that they finished (the simulated 50-200 ms each), summed. */
  workMsTotal: number;
  workers: { name: string; doneCount: number; exit: string | undefined }[];
  kill: Observations['kill'];
  deadLetter: Observations['deadLetter'];
  redrive: Observations['redrive'];
  dlqAfter: Observations['dlqAfter'];
  verdict: Verdict | undefined;
  timeline: { atMs: number; text: string }[];
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
}

function parseOptions(argv: readonly string[]): DemoOptions {
  const program = new Command('demo')
    .description('Video transcoding with Sluice: a web handler enqueues jobs, workers compete for them, one is killed, a malformed job is dead-lettered, fixed and redriven; then everything is checked.')
    .option('--videos <n>', 'videos uploaded (3 jobs each)', integer(6, 2000), 20)
    .option('--workers <n>', 'worker processes (one is killed)', integer(2, 16), 3)
    .option('--partitions <n>', 'partitions of the topic', integer(1, 64), 6)
    .option('--max-attempts <n>', "the topic's maxDeliveryAttempts", integer(1, 20), 3)
    .option('--upload-interval-ms <ms>', 'time between two uploads', integer(0, 10_000), 40)
    .option('--retry-backoff-ms <ms>', 'first retry delay of a failed job (doubles per attempt)', integer(0, 10_000), 100)
    .option('--seed <n>', 'seed of the simulated work times', integer(0), 1)
    .option('--timeout-ms <ms>', 'give up (and fail) after this long', integer(1_000), 120_000)
    .option('--skip-fix', 'redrive without turning on the fix first: the job is dead-lettered again and the demo fails', false)
    .option('--json', 'print the story on stderr and a JSON summary on stdout', false)
    .option('--verbose', 'print every job start and end', false)
    .option('--keep-data', "keep the broker's temporary data directory", false)
    .parse(argv, { from: 'user' });
  return program.opts<DemoOptions>();
}

class Demo {
  private readonly t0 = Date.now();
  private readonly deadlineMs: number;
  private readonly timeline: DemoResult['timeline'] = [];
  private readonly reports: WorkerReport[] = [];
  private readonly workers = new Map<string, WorkerProcess>();
  private readonly expectedExits = new Set<string>();
  private readonly problems: string[] = [];
  private failure: Error | undefined;
  private broker: BrokerProcess | undefined;
  private web: WebHandler | undefined;
  private admin: Admin | undefined;
  private doneCount = 0;
  /** Assignment changes are told while the survivors take over a killed worker's partitions. */
  private announceAssignments = false;
  private readonly killAfterDoneCount: number;
  private kill: Observations['kill'];
  private readonly malformedVideoId: number;
  private readonly malformedJobId: string;
  private deadLetter: Observations['deadLetter'];
  private redrive: Observations['redrive'];
  private dlqAfter: Observations['dlqAfter'];
  private lag: Observations['lag'] = [];
  private uploadHandlerMs: number[] = [];
  private enqueuedInMs = 0;
  private brokerExit: Exit | undefined;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-demo-'));

  constructor(private readonly options: DemoOptions) {
    this.deadlineMs = this.t0 + options.timeoutMs;
    this.killAfterDoneCount = Math.max(1, Math.floor((options.videos * STEPS.length) / 4));
    this.malformedVideoId = FIRST_VIDEO_ID + Math.floor(options.videos / 4);
    this.malformedJobId = `v${this.malformedVideoId}-${STEPS.indexOf('thumbnail') + 1}`;
  }

  /** On SIGINT, SIGTERM or SIGHUP: no clean-up beyond killing the children and removing the data. */
  interrupted(signal: NodeJS.Signals): void {
    killChildren();
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.say(`interrupted by ${signal}: stopped every child process`);
  }

  say(text: string): void {
    const atMs = Date.now() - this.t0;
    this.timeline.push({ atMs, text });
    const line = `[${(atMs / 1000).toFixed(2).padStart(6)}s] ${text}\n`;
    if (this.options.json) process.stderr.write(line);
    else process.stdout.write(line);
  }

  async run(): Promise<DemoResult> {
    try {
      await this.story();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.problems.push(message);
      this.say(`FAILED: ${message}`);
      await this.collectFinalState().catch((e: unknown) => this.problems.push(`could not read the final state: ${String(e)}`));
    } finally {
      await this.shutdown();
    }
    const verdict = this.verdict();
    const ok = this.problems.length === 0 && verdict.ok;
    const result = this.result(ok, verdict);
    if (!ok || this.options.keepData) this.say(`data directory kept: ${this.dir} (broker log: ${path.join(this.dir, 'broker.log')})`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    return result;
  }

  // ---- the story ----

  private async story(): Promise<void> {
    const o = this.options;
    this.say(`Sluice demo: ${o.videos} videos (${o.videos * STEPS.length} jobs: ${STEPS.join(', ')}), ${o.workers} workers, ${o.partitions} partitions`);
    this.broker = await startBroker(this.dir, this.deadlineMs);
    void this.broker.exited.then((exit) => {
      this.brokerExit = exit;
      if (!this.expectedExits.has('broker')) this.failure ??= new Error(`the broker exited unexpectedly (${describeExit(exit)}); see ${this.broker!.logFile}`);
    });
    this.say(`broker up: gRPC ${this.broker.grpcAddress}, admin ${this.broker.httpAddress}, data in ${path.join(this.dir, 'data')}`);

    const sluice = new Sluice({ brokers: [this.broker.grpcAddress], clientId: 'demo' });
    const admin = (this.admin = sluice.admin());
    await admin.createTopic({ name: TOPIC, partitionCount: o.partitions, config: { maxDeliveryAttempts: o.maxAttempts } });
    this.say(`topic "${TOPIC}": ${o.partitions} partitions, maxDeliveryAttempts ${o.maxAttempts}; dead letters go to "${TOPIC}.dlq"`);

    this.web = await startWebHandler(sluice, TOPIC);
    this.say(`web handler: POST ${this.web.url} enqueues a video's jobs and answers 202`);

    for (let i = 1; i <= o.workers; i++) this.spawn(`w${i}`);
    await this.joined();

    await this.upload();

    await this.waitFor('a worker killed in the middle of a job', () => {
      if (this.kill === undefined && this.transcodeStartCount() === o.videos) throw new Error('every transcode job started before one could be interrupted: nothing left to kill a worker in');
      return this.kill !== undefined && this.workers.get(this.kill.worker)!.exit !== undefined;
    });
    const kill = this.kill!;
    await this.waitFor('the killed job done by another worker', () => {
      const done = this.reports.filter((r) => r.event === 'done' && r.jobId === kill.jobId);
      if (done.some((r) => r.worker === kill.worker)) throw new Error(`${kill.worker} finished ${kill.jobId} before the SIGKILL landed: it was not killed mid-job`);
      return done.some((r) => r.worker !== kill.worker);
    });
    await this.waitForDeadLetter(admin);

    this.announceAssignments = false;
    if (o.skipFix) this.say(`operator: (--skip-fix) the fix stays off; redriving anyway`);
    else await this.turnOnFix();

    const preview = await admin.redrive({ topic: TOPIC, dryRun: true });
    const moves = preview.preview.map((p) => `${preview.dlqTopic}/${p.dlqPartition}@${p.dlqOffset} -> ${p.toTopic}/${p.toPartition}`);
    this.say(`operator: redrive dry run: ${preview.movedCount} would move (${moves.join(', ')})`);
    const moved = await admin.redrive({ topic: TOPIC });
    this.redrive = { previewCount: preview.movedCount, movedCount: moved.movedCount };
    this.say(`operator: redrive: moved ${moved.movedCount} back to "${TOPIC}" (job ${moved.jobId})`);

    const allJobIds = () => this.web!.enqueued.map((e) => e.job.jobId);
    await this.waitFor('every job done', () => {
      const done = new Set(this.reports.flatMap((r) => (r.event === 'done' ? [r.jobId] : [])));
      if (this.deadLetteredAgain()) return allJobIds().every((id) => id === this.malformedJobId || done.has(id));
      return allJobIds().every((id) => done.has(id));
    });
    if (this.deadLetteredAgain()) {
      await this.waitFor('the second dead letter', async () => (await admin.listDeadLetters({ topic: TOPIC })).deadLetters.length > 1);
      this.say(`${this.malformedJobId} failed ${o.maxAttempts} more times after the redrive and is a dead letter again`);
    } else {
      this.say(`all ${allJobIds().length} jobs done`);
    }
    await this.collectFinalState();
  }

  private spawn(name: string): WorkerProcess {
    const worker = startWorker({
      broker: this.broker!.grpcAddress,
      topic: TOPIC,
      group: GROUP,
      name,
      seed: this.options.seed,
      retryBackoffMs: this.options.retryBackoffMs,
      onReport: (report) => this.onReport(report),
      onOutput: (line) => {
        if (this.options.verbose) this.say(`${name}: ${line}`);
      },
    });
    this.workers.set(name, worker);
    void worker.exited.then((exit) => {
      if (this.expectedExits.has(name)) {
        if (name === this.kill?.worker) this.say(`${name} is gone (${describeExit(exit)})`);
        return;
      }
      this.failure ??= new Error(`worker ${name} exited unexpectedly (${describeExit(exit)}): ${worker.stderrTail.slice(-5).join(' | ')}`);
    });
    return worker;
  }

  /** Waits until the workers joined and the group's partitions are all owned by them. */
  private async joined(): Promise<void> {
    const names = [...this.workers.keys()];
    await this.waitFor('the workers ready', () => names.every((name) => this.reports.some((r) => r.event === 'ready' && r.worker === name)));
    let owners = new Map<string, number[]>();
    await this.waitFor('the partitions assigned to the workers', async () => {
      const group = await this.admin!.describeGroup(GROUP);
      const byMember = new Map(group.members.map((m) => [m.memberId, m.clientId.replace(/^demo-/, '')]));
      owners = new Map();
      for (const p of group.partitions) {
        const owner = p.ownerMemberId === undefined ? undefined : byMember.get(p.ownerMemberId);
        if (owner !== undefined) owners.set(owner, [...(owners.get(owner) ?? []), p.partition]);
      }
      const ownedByGeneration = group.partitions.every((p) => p.ownerMemberId !== undefined && names.includes(byMember.get(p.ownerMemberId) ?? ''));
      return group.partitions.length === this.options.partitions && ownedByGeneration && names.every((n) => owners.has(n) || this.options.partitions < names.length);
    });
    const shares = [...owners].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([w, p]) => `${w} partitions [${p.join(', ')}]`);
    this.say(`workers joined group "${GROUP}": ${shares.join(', ')}`);
  }

  private async upload(): Promise<void> {
    const o = this.options;
    const startedAt = Date.now();
    const uploads: Upload[] = Array.from({ length: o.videos }, (_, i) => {
      const videoId = FIRST_VIDEO_ID + i;
      return { videoId, source: `s3://uploads/${videoId}.mov`, thumbnailAt: videoId === this.malformedVideoId ? '0:07' : 3 + (i % 5) };
    });
    this.say(`users upload ${o.videos} videos, one every ${o.uploadIntervalMs} ms (video ${this.malformedVideoId}'s form sends its thumbnail time as "0:07")`);
    const answers = await Promise.all(
      uploads.map(async (upload, i) => {
        await sleep(i * o.uploadIntervalMs);
        return postUpload(this.web!.url, upload);
      }),
    );
    this.enqueuedInMs = Date.now() - startedAt;
    this.uploadHandlerMs = answers.map((a) => a.handlerMs);
    const jobCount = answers.reduce((n, a) => n + a.jobs.length, 0);
    const waiting = (await this.admin!.describeGroup(GROUP)).partitions.reduce((n, p) => n + p.lagRecords, 0);
    this.say(
      `web handler answered all ${answers.length} uploads with 202 (median ${percentile(this.uploadHandlerMs, 0.5).toFixed(1)} ms, max ${Math.max(...this.uploadHandlerMs).toFixed(1)} ms): ` +
        `${jobCount} jobs enqueued in ${(this.enqueuedInMs / 1000).toFixed(1)} s, ${this.doneCount} done so far, ${waiting} waiting in the queue`,
    );
  }

  private onReport(report: WorkerReport): void {
    this.reports.push(report);
    const o = this.options;
    switch (report.event) {
      case 'assignment':
        if (this.announceAssignments) this.say(`${report.worker} now owns partitions [${report.partitions.join(', ')}]`);
        break;
      case 'start':
        if (o.verbose) this.say(`${report.worker} started ${report.jobId} ${report.step} (partition ${report.partition}@${report.offset}, attempt ${report.attempt})`);
        if (this.kill === undefined && report.step === 'transcode-720p' && report.attempt === 1 && this.doneCount >= this.killAfterDoneCount) {
          this.killWorker(report);
        }
        break;
      case 'done':
        this.doneCount++;
        if (o.verbose) this.say(`${report.worker} done ${report.jobId} ${report.step} in ${report.atMs - report.startedAtMs} ms`);
        if (report.attempt > 1 && report.jobId === this.kill?.jobId) {
          this.say(`${report.worker} did ${report.jobId} (the killed worker's job) with deliveryAttempt ${report.attempt}`);
        }
        if (report.redriveCount > 0) this.say(`${report.worker} did the redriven ${report.jobId} ${report.step}${report.fixed ? ', with the fix' : ''}`);
        break;
      case 'failed':
        this.say(`${report.worker} failed ${report.jobId} ${report.step}, attempt ${report.attempt} of ${o.maxAttempts}: ${report.errorClass}: ${report.error}`);
        break;
      case 'fixed':
        if (o.verbose) this.say(`${report.worker} has the fix on`);
        break;
      default:
        break;
    }
  }

  private killWorker(report: Extract<WorkerReport, { event: 'start' }>): void {
    const victim = this.workers.get(report.worker);
    if (victim === undefined || victim.exit !== undefined) return;
    this.expectedExits.add(victim.name);
    victim.child.kill('SIGKILL');
    this.kill = { worker: report.worker, jobId: report.jobId, partition: report.partition, offset: report.offset, attempt: report.attempt, atMs: Date.now() };
    this.announceAssignments = true;
    this.say(`SIGKILL ${report.worker} in the middle of ${report.jobId} ${report.step} (partition ${report.partition}@${report.offset}, attempt ${report.attempt}), after ${this.doneCount} jobs were done`);
  }

  private async waitForDeadLetter(admin: Admin): Promise<void> {
    await this.waitFor(`${this.malformedJobId} in the DLQ`, async () => {
      const listing = await admin.listDeadLetters({ topic: TOPIC });
      const letter = listing.deadLetters.find((d) => d.provenance !== null);
      if (letter === undefined || letter.provenance === null) return false;
      const p = letter.provenance;
      this.deadLetter = { dlqPartition: letter.partition, dlqOffset: letter.offset, partition: p.partition, offset: p.offset, attempts: p.attempts, cause: p.cause, error: p.error, errorClass: p.errorClass };
      this.say(`operator: ${listing.dlqTopic} holds ${listing.deadLetters.length} dead letter: ${TOPIC}/${p.partition}@${p.offset} ("${letter.key?.toString() ?? ''}"), ${p.attempts} attempts, cause ${p.cause}, last error ${p.errorClass}: ${p.error}`);
      return true;
    });
  }

  /**
   * The fix (reading "m:ss" thumbnail times) shipped behind a flag: the operator turns it on in every
   * running worker, and waits until each confirmed before redriving.
   */
  private async turnOnFix(): Promise<void> {
    const live = [...this.workers.values()].filter((w) => w.exit === undefined);
    this.say(`operator: turning on the fix in ${live.map((w) => w.name).join(', ')}: thumbnail times may be "m:ss"`);
    for (const worker of live) worker.send('fix');
    await this.waitFor('the fix on in every worker', () => live.every((w) => this.reports.some((r) => r.event === 'fixed' && r.worker === w.name)));
  }

  private transcodeStartCount(): number {
    return this.reports.filter((r) => r.event === 'start' && r.step === 'transcode-720p' && r.attempt === 1).length;
  }

  private deadLetteredAgain(): boolean {
    return this.reports.some((r) => r.event === 'failed' && r.jobId === this.malformedJobId && r.redriveCount > 0 && r.attempt >= this.options.maxAttempts);
  }

  private async collectFinalState(): Promise<void> {
    const admin = this.admin;
    if (admin === undefined || this.brokerExit !== undefined) return;
    const deadline = Math.min(this.deadlineMs, Date.now() + 10_000);
    const readLag = async (): Promise<boolean> => {
      this.lag = (await admin.describeGroup(GROUP)).partitions.map((p) => ({ partition: p.partition, committedOffset: p.committedOffset, highWatermark: p.highWatermark, lagRecords: p.lagRecords }));
      return this.lag.every((p) => p.lagRecords === 0);
    };
    // Acknowledgments trail the last `done` report by a moment.
    while (!(await readLag()) && Date.now() < deadline) await sleep(100);
    const listing = await admin.listDeadLetters({ topic: TOPIC });
    const left = await admin.redrive({ topic: TOPIC, dryRun: true });
    this.dlqAfter = { listedCount: listing.deadLetters.length, leftToRedriveCount: left.movedCount };
    this.say(
      `queue: lag ${this.lag.reduce((n, p) => n + p.lagRecords, 0)} on ${this.lag.length} partitions; ` +
        `${listing.dlqTopic}: ${listing.deadLetters.length} dead letter(s) listed, ${left.movedCount} left to redrive`,
    );
  }

  private async shutdown(): Promise<void> {
    const live = [...this.workers.values()].filter((w) => w.exit === undefined);
    for (const worker of live) {
      this.expectedExits.add(worker.name);
      worker.child.kill('SIGTERM');
    }
    const graceful = await Promise.race([Promise.all(live.map((w) => w.exited)).then(() => true), sleep(15_000).then(() => false)]);
    if (!graceful) for (const worker of live) worker.child.kill('SIGKILL');
    await this.web?.close().catch(() => undefined);
    await this.admin?.disconnect();
    if (this.broker !== undefined) {
      this.expectedExits.add('broker');
      const stopped = this.broker.stop();
      const exit = await Promise.race([stopped, sleep(20_000).then(() => undefined)]);
      if (exit === undefined) {
        this.broker.child.kill('SIGKILL');
        this.brokerExit = await stopped;
        this.problems.push('the broker did not stop within 20 s of SIGTERM');
      } else {
        this.brokerExit = exit;
        if (exit.code !== 0) this.problems.push(`the broker did not stop cleanly (${describeExit(exit)}); see ${this.broker.logFile}`);
      }
      if (live.length > 0) this.say(`stopped ${live.map((w) => w.name).join(', ')} (SIGTERM) and the broker (${describeExit(this.brokerExit)})`);
    }
  }

  /** Polls `condition` until it holds; fails on the deadline, or as soon as a process died unexpectedly. */
  private async waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (await condition()) return;
      if (Date.now() > this.deadlineMs) throw new Error(`timed out waiting for ${what} (--timeout-ms ${this.options.timeoutMs}); ${this.diagnosis()}`);
      await sleep(25);
    }
  }

  /** Where things stand, for a failure message. */
  private diagnosis(): string {
    const now = Date.now();
    const workers = [...this.workers.values()].map((w) => {
      const last = this.reports.filter((r) => r.worker === w.name).at(-1);
      const lastText = last === undefined ? 'no report' : `last report ${((now - last.atMs) / 1000).toFixed(1)} s ago: ${last.event}${'jobId' in last ? ` ${last.jobId}` : ''}`;
      const state = w.exit === undefined ? 'running' : describeExit(w.exit);
      return `${w.name} ${state}, ${lastText}${w.stderrTail.length === 0 ? '' : `, stderr: ${w.stderrTail.slice(-3).join(' | ')}`}`;
    });
    const done = new Set(this.reports.flatMap((r) => (r.event === 'done' ? [r.jobId] : [])));
    const missing = (this.web?.enqueued ?? []).filter((e) => !done.has(e.job.jobId)).map((e) => `${e.job.jobId}@${e.partition}/${e.offset}`);
    return `workers: ${workers.join('; ')}; jobs not done: ${missing.length === 0 ? 'none' : missing.slice(0, 12).join(', ')}`;
  }

  // ---- the verdict ----

  private verdict(): Verdict {
    const enqueued: EnqueuedJob[] = this.web?.enqueued ?? [];
    return verify({
      enqueued,
      reports: this.reports,
      maxDeliveryAttempts: this.options.maxAttempts,
      malformedJobId: this.malformedJobId,
      kill: this.kill,
      deadLetter: this.deadLetter,
      redrive: this.redrive,
      dlqAfter: this.dlqAfter,
      lag: this.lag,
      uploadHandlerMs: this.uploadHandlerMs,
    });
  }

  private result(ok: boolean, verdict: Verdict): DemoResult {
    const { json: _json, verbose: _verbose, keepData: _keepData, ...options } = this.options;
    return {
      ok,
      problems: this.problems,
      durationMs: Date.now() - this.t0,
      workDir: this.dir,
      options,
      broker:
        this.broker === undefined
          ? undefined
          : { grpc: this.broker.grpcAddress, http: this.broker.httpAddress, dataDir: path.join(this.dir, 'data'), exit: this.brokerExit && describeExit(this.brokerExit) },
      uploads: {
        count: this.uploadHandlerMs.length,
        jobCount: this.web?.enqueued.length ?? 0,
        handlerMsMedian: round(percentile(this.uploadHandlerMs, 0.5)),
        handlerMsMax: round(Math.max(0, ...this.uploadHandlerMs)),
        enqueuedInMs: this.enqueuedInMs,
      },
      workMsTotal: this.reports.reduce((sum, r) => sum + (r.event === 'done' ? r.atMs - r.startedAtMs : 0), 0),
      workers: [...this.workers.values()].map((w) => ({
        name: w.name,
        doneCount: this.reports.filter((r) => r.event === 'done' && r.worker === w.name).length,
        exit: w.exit && describeExit(w.exit),
      })),
      kill: this.kill,
      deadLetter: this.deadLetter,
      redrive: this.redrive,
      dlqAfter: this.dlqAfter,
      verdict,
      timeline: this.timeline,
    };
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

// A closed output (`npm run demo | head`) must not stop the demo half-way with its children running.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);
process.on('exit', killChildren);

const options = parseOptions(process.argv.slice(2));
const demo = new Demo(options);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    demo.interrupted(signal);
    process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
  });
}
const result = await demo.run();
if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else printSummary(result, (line) => process.stdout.write(`${line}\n`));
if (options.json) printSummary(result, (line) => process.stderr.write(`${line}\n`));
process.exit(result.ok ? 0 : 1);
