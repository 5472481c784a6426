/**
 * `npm run bench:gc [-- --value-bytes 1024 --rate 5000 --seconds 10 --runs 3]`: the broker's
 * young-generation collections (scavenges) under bench:compare's latency workload: keyed records
 * offered at a fixed rate by a producer lingering 1 ms, consumed by a group in this process,
 * 8 partitions, `interval` durability, the broker built (`dist/main.js`) and started with the start
 * script's flags.
 *
 * Why: p99 latency at a few thousand records/s is set by pauses, and a scavenge costs in proportion
 * to what survives it. The bytes each scavenge promotes to the old generation barely move when other
 * processes load the machine, unlike p99, so a change that has the broker keep objects longer (or
 * makes V8 keep them: see README, Benchmarks) shows here first. V8 reports each collection with
 * `--trace-gc-nvp` on the broker's standard output; those during the latency run count.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sluiceAdapter } from './compare/sluice.js';
import { median, percentile } from './compare/stats.js';
import { busyMachineWarning, describeEnvironment, formatTable, formatValueBytes, writeJsonResults } from './harness.js';
import { startBrokerProcess } from './grpc-processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PARTITIONS = 8;
const KEYS = 1000;

interface Scavenge {
  pauseMs: number;
  promotedBytes: number;
}

interface Run {
  scavenges: number;
  promotedBytesMedian: number;
  pauseMsP50: number;
  pauseMsP99: number;
  pauseMsMax: number;
  latencyMsP50: number;
  latencyMsP99: number;
}

const { values } = parseArgs({
  options: {
    'value-bytes': { type: 'string', default: '1024' },
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
  },
});
const valueBytes = positiveInteger(values['value-bytes'], '--value-bytes');
const ratePerSecond = positiveInteger(values.rate, '--rate');
const seconds = positiveInteger(values.seconds, '--seconds');
const runCount = positiveInteger(values.runs, '--runs');
if (!fs.existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

const environment = describeEnvironment();
const warning = busyMachineWarning(environment);
if (warning !== undefined) console.log(warning);

const runs: Run[] = [];
for (let run = 1; run <= runCount; run++) {
  const result = await measureRun(run);
  runs.push(result);
  console.log(
    `run ${run}: ${result.scavenges} scavenges, promoted ${kb(result.promotedBytesMedian)} each (median), pause p50 ${result.pauseMsP50.toFixed(2)} ms ` +
      `p99 ${result.pauseMsP99.toFixed(2)} ms; latency p50 ${result.latencyMsP50.toFixed(2)} ms p99 ${result.latencyMsP99.toFixed(2)} ms`,
  );
}

const summary = {
  promotedBytesMedian: median(runs.map((r) => r.promotedBytesMedian)),
  pauseMsP50: median(runs.map((r) => r.pauseMsP50)),
  pauseMsP99: median(runs.map((r) => r.pauseMsP99)),
  latencyMsP99: median(runs.map((r) => r.latencyMsP99)),
};
console.log(
  `\n${formatTable({
    columns: [{ header: 'broker scavenges' }, { header: 'median of runs', align: 'right' }, { header: '(min-max)', align: 'right' }],
    rows: [
      ['promoted per scavenge', kb(summary.promotedBytesMedian), range(runs.map((r) => r.promotedBytesMedian), kb)],
      ['pause p50', ms(summary.pauseMsP50), range(runs.map((r) => r.pauseMsP50), ms)],
      ['pause p99', ms(summary.pauseMsP99), range(runs.map((r) => r.pauseMsP99), ms)],
      ['produce->consume p99', ms(summary.latencyMsP99), range(runs.map((r) => r.latencyMsP99), ms)],
    ],
  })}`,
);
console.log(`${formatValueBytes(valueBytes)} records at ${ratePerSecond}/s for ${seconds} s, ${runCount} runs; load average ${os.loadavg()[0]!.toFixed(1)} on ${environment.cpuCount} CPUs at the end`);
const file = path.join(ROOT, 'bench/results/broker-gc.json');
writeJsonResults(file, { benchmark: 'broker-gc', at: new Date().toISOString(), environment, valueBytes, ratePerSecond, seconds, runs, summary });
console.log(`wrote ${path.relative(ROOT, file)}`);

/** One broker, one latency run; the scavenges reported while it ran. */
async function measureRun(run: number): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-gc-'));
  let measuring = false;
  let pending = '';
  const scavenges: Scavenge[] = [];
  const broker = await startBrokerProcess({
    dataDir: path.join(dir, 'data'),
    build: 'dist',
    nodeFlags: ['--trace-gc-nvp'],
    onStdout: (chunk) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const scavenge = parseScavenge(line);
        if (measuring && scavenge !== undefined) scavenges.push(scavenge);
      }
    },
  });
  try {
    const [host, port] = broker.address.split(':');
    const client = await sluiceAdapter.connect({ host: host!, port: Number(port) });
    try {
      const topic = `gc-${run}`;
      await client.createTopic({ name: topic, partitionCount: PARTITIONS, durability: 'interval' });
      measuring = true;
      const outcome = await client.latency({ topic, group: `gc-${run}`, partitionCount: PARTITIONS, valueBytes, keyCount: KEYS, ratePerSecond, durationMs: seconds * 1000 });
      measuring = false;
      if (outcome.receivedCount < outcome.offeredCount) throw new Error(`run ${run}: ${outcome.receivedCount} of ${outcome.offeredCount} records arrived`);
      const pauses = Float64Array.from(scavenges, (s) => s.pauseMs);
      return {
        scavenges: scavenges.length,
        promotedBytesMedian: median(scavenges.map((s) => s.promotedBytes)),
        pauseMsP50: percentile(pauses, 50),
        pauseMsP99: percentile(pauses, 99),
        pauseMsMax: Math.max(...pauses),
        latencyMsP50: percentile(outcome.latenciesMs, 50),
        latencyMsP99: percentile(outcome.latenciesMs, 99),
      };
    } finally {
      await client.close();
    }
  } finally {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A `--trace-gc-nvp` line of a scavenge (`gc=s`): its pause and the bytes it promoted. */
function parseScavenge(line: string): Scavenge | undefined {
  if (!/\bgc=s\b/.test(line)) return undefined;
  const pause = /\bpause=([\d.]+)/.exec(line);
  const promoted = /\bpromoted=(\d+)/.exec(line);
  if (pause === null || promoted === null) return undefined;
  return { pauseMs: Number(pause[1]), promotedBytes: Number(promoted[1]) };
}

function positiveInteger(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer, got ${text}`);
  return value;
}

function kb(bytes: number): string {
  return `${(bytes / 1000).toFixed(0)} KB`;
}

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

function range(values: readonly number[], format: (value: number) => string): string {
  return `(${format(Math.min(...values))}-${format(Math.max(...values))})`;
}
