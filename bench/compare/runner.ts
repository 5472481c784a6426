/**
 * Runs the selected workloads against one system at one durability level: starts its server on a
 * temporary directory, runs each workload `runs` times on a fresh topic (stream) each time, adds the
 * samples to the figures, and stops the server. Systems run one after another, never side by side,
 * so that each has the machine's two cores to itself (less whatever else the machine is doing).
 *
 * Producers run as child processes (producer-worker.ts), one per producer, each warmed up with
 * records that are not measured (`produceWarmupRecords`) and then released together; the consumer,
 * latency and memory workloads run their clients in this process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompareOptions } from './options.js';
import { type Child, makeTempDir, removeTempDir, sampleMemory, startChild } from './processes.js';
import { GO_LINE, type ProducerWorkerArgs, READY_LINE } from './producer-worker.js';
import { type FigureGroup, type Figures, percentile, type WorkloadName } from './stats.js';
import type { Durability, DurabilitySetting, Endpoint, ProduceOutcome, ServerHandle, SystemAdapter, SystemClient, SystemName } from './workload.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = path.join(ROOT, 'bench/compare/producer-worker.ts');
const MB = 1_000_000;
const WORKER_CONNECT_TIMEOUT_MS = 60_000;

export interface SkippedRow {
  system: SystemName;
  durability: Durability;
  reason: string;
}

export interface RunContext {
  options: CompareOptions;
  figures: Figures;
  skipped: SkippedRow[];
  /** Errors of runs that failed (the benchmark goes on with the next figure). */
  failures: string[];
  settings: { system: SystemName; durability: Durability; setting: DurabilitySetting }[];
}

let topicSequence = 0;

function nextTopic(workload: WorkloadName): string {
  return `bench-${workload}-${++topicSequence}`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts one producer process per spec, lets each send `warmupRecords` unmeasured, releases them
 * together, and returns their outcomes. Backlog fills pass no warm-up: their record count is exact.
 */
async function runProducerProcesses(
  system: SystemName,
  endpoint: Endpoint,
  specs: ProducerWorkerArgs['spec'][],
  { warmupRecords = 0, readyTimeoutMs = WORKER_CONNECT_TIMEOUT_MS } = {},
): Promise<ProduceOutcome[]> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SLUICE_')));
  const workers = specs.map((spec) => {
    const args: ProducerWorkerArgs = { system, endpoint, spec, warmupRecords };
    const child = startChild(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(args)], { cwd: ROOT, env, stdin: 'pipe' });
    const lines: string[] = [];
    let pending = '';
    let onLine: (() => void) | undefined;
    child.child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop()!;
      lines.push(...parts);
      onLine?.();
    });
    const ready = new Promise<void>((resolve, reject) => {
      onLine = () => lines.includes(READY_LINE) && resolve();
      void child.exited.then(() => reject(new Error(`a ${system} producer exited before it was ready:\n${child.output()}`)));
      setTimeout(() => reject(new Error(`a ${system} producer was not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs).unref();
    });
    return { child, lines, ready };
  });
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const worker of workers) worker.child.child.stdin!.write(`${GO_LINE}\n`);
    await Promise.all(workers.map((w) => w.child.exited));
    return workers.map((worker) => outcomeOf(system, worker.child, worker.lines));
  } finally {
    await Promise.all(workers.map((w) => w.child.stop()));
  }
}

function outcomeOf(system: SystemName, child: Child, lines: string[]): ProduceOutcome {
  if (child.child.exitCode !== 0) throw new Error(`a ${system} producer failed (exit ${child.child.exitCode}):\n${child.output()}`);
  const last = lines.filter((line) => line.startsWith('{')).pop();
  if (last === undefined) throw new Error(`a ${system} producer printed no result:\n${child.output()}`);
  return JSON.parse(last) as ProduceOutcome;
}

class SystemRun {
  constructor(
    private readonly adapter: SystemAdapter,
    private readonly durability: Durability,
    private readonly server: ServerHandle,
    private readonly client: SystemClient,
    private readonly context: RunContext,
  ) {}

  private get options(): CompareOptions {
    return this.context.options;
  }

  private log(message: string): void {
    console.log(`[${this.adapter.name} ${this.durability}] ${message}`);
  }

  private add(group: FigureGroup, metric: string, unit: string, better: 'higher' | 'lower', value: number): void {
    this.context.figures.add({ ...group, system: this.adapter.name, metric, unit, better, value });
  }

  /** Runs `body` `count` times; a failed or timed-out run is recorded and ends this figure's runs. */
  private async repeat(what: string, count: number, body: (run: number) => Promise<void>): Promise<void> {
    for (let run = 1; run <= count; run++) {
      try {
        await withTimeout(body(run), this.options.runTimeoutSeconds * 1000, what);
      } catch (error) {
        const message = `${this.adapter.name} ${this.durability} ${what} run ${run}: ${error instanceof Error ? error.message : String(error)}`;
        this.context.failures.push(message);
        console.error(`FAILED ${message}`);
        return;
      }
    }
  }

  private async withTopic<T>(workload: WorkloadName, body: (topic: string) => Promise<T>): Promise<T> {
    const topic = nextTopic(workload);
    await this.client.createTopic({ name: topic, partitionCount: this.options.partitionCount, durability: this.durability });
    try {
      return await body(topic);
    } finally {
      await this.client.deleteTopic(topic).catch(() => undefined);
    }
  }

  private produceSpecs(topic: string, valueBytes: number, producers: number, recordsEach: number): ProducerWorkerArgs['spec'][] {
    const { keyCount, partitionCount } = this.options;
    return Array.from({ length: producers }, (_, i) => ({
      topic,
      partitionCount,
      recordCount: recordsEach,
      valueBytes,
      keyCount,
      firstKey: Math.floor((i * keyCount) / producers),
    }));
  }

  async produce(valueBytes: number, producers: number): Promise<void> {
    const workload: WorkloadName = producers === 1 ? 'produce-1' : 'produce-4';
    const group: FigureGroup = { workload, valueBytes, durability: this.durability };
    await this.repeat(`${workload} ${valueBytes} B`, this.options.runs, (run) =>
      this.withTopic(workload, async (topic) => {
        const { produceRecords, produceWarmupRecords, runTimeoutSeconds } = this.options;
        const specs = this.produceSpecs(topic, valueBytes, producers, produceRecords);
        // Connecting takes seconds at most; the warm-up is bounded like a run.
        const readyTimeoutMs = WORKER_CONNECT_TIMEOUT_MS + (produceWarmupRecords > 0 ? runTimeoutSeconds * 1000 : 0);
        const outcomes = await runProducerProcesses(this.adapter.name, this.server.endpoint, specs, { warmupRecords: produceWarmupRecords, readyTimeoutMs });
        const records = outcomes.reduce((sum, o) => sum + o.recordCount, 0);
        const elapsedMs = Math.max(...outcomes.map((o) => o.endedAtMs)) - Math.min(...outcomes.map((o) => o.startedAtMs));
        const perSecond = (records * 1000) / elapsedMs;
        this.add(group, 'throughput', 'records/s', 'higher', perSecond);
        this.add(group, 'bandwidth', 'MB/s', 'higher', (perSecond * valueBytes) / MB);
        this.log(`${workload} ${valueBytes} B run ${run}: ${Math.round(perSecond)} records/s (${records} records in ${Math.round(elapsedMs)} ms)`);
      }),
    );
  }

  async consume(valueBytes: number): Promise<void> {
    const group: FigureGroup = { workload: 'consume', valueBytes, durability: this.durability };
    const what = `consume ${valueBytes} B`;
    await this.repeat(`${what} (backlog)`, 1, () =>
      this.withTopic('consume', async (topic) => {
        const fillStarted = performance.now();
        await runProducerProcesses(this.adapter.name, this.server.endpoint, this.produceSpecs(topic, valueBytes, 1, this.options.backlogRecords));
        this.log(`${what}: backlog of ${this.options.backlogRecords} records written in ${Math.round(performance.now() - fillStarted)} ms`);
        await this.repeat(what, this.options.runs, async (run) => {
          const outcome = await this.client.consume({ topic, partitionCount: this.options.partitionCount, group: `bench-group-${run}`, recordCount: this.options.backlogRecords });
          const perSecond = (outcome.recordCount * 1000) / outcome.elapsedMs;
          this.add(group, 'throughput', 'records/s', 'higher', perSecond);
          this.add(group, 'bandwidth', 'MB/s', 'higher', (perSecond * valueBytes) / MB);
          this.add(group, 'first record', 'ms', 'lower', outcome.firstRecordMs);
          this.log(`${what} run ${run}: ${Math.round(perSecond)} records/s (first record after ${Math.round(outcome.firstRecordMs)} ms)`);
        });
      }),
    );
  }

  async latency(valueBytes: number, ratePerSecond: number): Promise<void> {
    const group: FigureGroup = { workload: 'latency', valueBytes, durability: this.durability, ratePerSecond };
    const what = `latency ${valueBytes} B at ${ratePerSecond}/s`;
    await this.repeat(what, this.options.runs, (run) =>
      this.withTopic('latency', async (topic) => {
        const outcome = await this.client.latency({
          topic,
          partitionCount: this.options.partitionCount,
          group: `bench-latency-${run}`,
          ratePerSecond,
          durationMs: this.options.latencySeconds * 1000,
          valueBytes,
          keyCount: this.options.keyCount,
        });
        const [p50, p99, p999] = [50, 99, 99.9].map((p) => percentile(outcome.latenciesMs, p)) as [number, number, number];
        this.add(group, 'p50', 'ms', 'lower', p50);
        this.add(group, 'p99', 'ms', 'lower', p99);
        this.add(group, 'p99.9', 'ms', 'lower', p999);
        this.add(group, 'delivered', '%', 'higher', (100 * outcome.receivedCount) / outcome.offeredCount);
        this.log(
          `${what} run ${run}: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, p99.9 ${p999.toFixed(2)} ms; ` +
            `${outcome.receivedCount}/${outcome.offeredCount} delivered within the drain wait`,
        );
      }),
    );
  }

  async memory(valueBytes: number): Promise<void> {
    const group: FigureGroup = { workload: 'memory', valueBytes, durability: this.durability };
    const what = `memory ${valueBytes} B, ${this.options.memoryRecords} records`;
    await this.repeat(what, this.options.memoryRuns, (run) =>
      this.withTopic('memory', async (topic) => {
        const sampler = sampleMemory(this.server.pid);
        await runProducerProcesses(this.adapter.name, this.server.endpoint, this.produceSpecs(topic, valueBytes, 1, this.options.memoryRecords));
        const consumed = await this.client.slowConsume({
          topic,
          partitionCount: this.options.partitionCount,
          group: `bench-slow-${run}`,
          ratePerSecond: this.options.slowConsumerRate,
          durationMs: this.options.slowConsumerSeconds * 1000,
        });
        const memory = sampler.stop();
        this.add(group, 'peak RSS', 'MB', 'lower', memory.peakRssBytes / MB);
        this.add(group, 'RSS after', 'MB', 'lower', memory.lastRssBytes / MB);
        this.log(`${what} run ${run}: peak RSS ${Math.round(memory.peakRssBytes / MB)} MB, ${Math.round(memory.lastRssBytes / MB)} MB at the end; the slow consumer read ${consumed}`);
      }),
    );
  }
}

/** Runs every selected workload against `adapter` at `durability`; the server is stopped and its data removed afterwards. */
export async function runSystem(adapter: SystemAdapter, durability: Durability, context: RunContext): Promise<void> {
  const { options } = context;
  const setting = adapter.describeDurability(durability);
  context.settings.push({ system: adapter.name, durability, setting });
  if (!setting.matched) {
    context.skipped.push({ system: adapter.name, durability, reason: setting.note ?? setting.label });
    console.log(`[${adapter.name} ${durability}] not run: ${setting.note ?? setting.label}`);
    return;
  }
  const selected = new Set(options.workloads);
  if (options.workloads.some((workload) => workload !== 'memory')) {
    await withServer(adapter, durability, context, async (run) => {
      for (const valueBytes of options.valueSizes) {
        if (selected.has('produce-1')) await run.produce(valueBytes, 1);
        if (selected.has('produce-4')) await run.produce(valueBytes, options.concurrentProducers);
        if (selected.has('consume')) await run.consume(valueBytes);
        if (selected.has('latency')) for (const rate of options.latencyRates) await run.latency(valueBytes, rate);
      }
    });
  }
  // Memory once per system, at the lighter durability (the workload is about what is kept in memory,
  // not fsync), on a server of its own: VmHWM is the peak since the process started.
  const memoryDurability = options.durabilities.includes('interval') ? 'interval' : options.durabilities[0];
  if (selected.has('memory') && durability === memoryDurability) await withServer(adapter, durability, context, (run) => run.memory(options.valueSizes[0]!));
}

/** Starts the server on a fresh temporary directory, runs `body`, then stops it and removes the data. */
async function withServer(adapter: SystemAdapter, durability: Durability, context: RunContext, body: (run: SystemRun) => Promise<void>): Promise<void> {
  const setting = adapter.describeDurability(durability);
  const dataDir = makeTempDir(`sluice-compare-${adapter.name}-`);
  let server: ServerHandle | undefined;
  let client: SystemClient | undefined;
  try {
    server = await adapter.start({ durability, dataDir });
    client = await adapter.connect(server.endpoint);
    console.log(`[${adapter.name} ${durability}] started (pid ${server.pid}, port ${server.endpoint.port}): ${setting.label}`);
    await body(new SystemRun(adapter, durability, server, client, context));
  } catch (error) {
    const message = `${adapter.name} ${durability}: ${error instanceof Error ? error.message : String(error)}`;
    context.failures.push(message);
    console.error(`FAILED ${message}`);
  } finally {
    await client?.close().catch(() => undefined);
    await server?.stop();
    removeTempDir(dataDir);
  }
}
