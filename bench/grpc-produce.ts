/**
 * Broker benchmark through gRPC: produce throughput, fetch throughput and produce -> subscribe latency
 * of a real broker, each beside the layer below it, so a regression can be traced to its layer:
 * the storage layer alone (SegmentLog, as bench/storage-append.ts measures it) and a bare grpc-js
 * echo server with the same message shapes (bench/echo.proto).
 *
 *   npx tsx bench/grpc-produce.ts [--quick]     (also part of `npm run bench`)
 *
 * The broker runs as a child process (`src/main.ts` under tsx, on a temporary data directory), and so
 * does the echo server: clients and servers never share an event loop. The clients, and the storage
 * baseline, run in this process. Every topic has one partition, so each row is comparable with one
 * SegmentLog. Results go to bench/results/grpc.json (grpc.quick.json with --quick).
 *
 * Targets (printed PASS/FAIL, never failing the process), both design claims of the broker:
 * - group commit reaches through the broker: in `always` mode, 100 B records one per request,
 *   4 producers x produceStream window 8 get >= 4x the records/s of one producer awaiting each
 *   unary call (bench/storage-append.ts holds the log itself to the same 4x);
 * - pipelining pays: in `interval` mode, one produceStream with window 8 gets >= 2x the records/s of
 *   unary calls awaited one by one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SluiceClient } from '../src/client/index.js';
import { type DurabilityMode, brokerSettings } from '../src/config.js';
import {
  type Load,
  brokerFetch,
  brokerLatency,
  brokerProduce,
  echoLatency,
  echoPull,
  echoPush,
  storageAppend,
  storageLatency,
  storageRead,
  valuePool,
} from './grpc-measure.js';
import { type ChildServer, startBrokerProcess, startEchoProcess } from './grpc-processes.js';
import { type FetchRow, type GrpcResults, type LatencyRow, type ProduceRow, formatGrpcReport, rates } from './grpc-report.js';
import { type BenchOptions, KiB, busyMachineWarning, describeEnvironment, parseBenchArgs, withTempDir, writeJsonResults } from './harness.js';
import type { Shape } from './storage-measure.js';
import { type Target, shapeLabel } from './storage-report.js';

const VALUE_BYTES = [100, 1 * KiB] as const;
const RECORDS_PER_REQUEST = [1, 100, 1000] as const;
const DURABILITIES: readonly DurabilityMode[] = ['always', 'interval'];
const STREAM_WINDOW = 8;
const PRODUCER_COUNTS = [1, 4] as const;
/** The broker's default fetch budget is the largest a client may ask for: the "large max_bytes". */
const FETCH_BYTES_MAX = brokerSettings({}).fetchBytesMax;
const LATENCY_RECORDS_PER_SECOND = 5_000;
const LATENCY_VALUE_BYTES = 100;

const TARGET_GROUP_COMMIT_SPEEDUP_MIN = 4;
const TARGET_PIPELINING_SPEEDUP_MIN = 2;

interface Budgets {
  produceWarmUpMs: number;
  produceMs: number;
  echoWarmUpMs: number;
  echoMs: number;
  storageMs: number;
  fetchWarmUpMs: number;
  fetchMs: number;
  /** How long the storage read baseline writes its log first. */
  storageReadWriteMs: number;
  storageReadMs: number;
  latencyWarmUpMs: number;
  latencyMs: number;
  latencyBaselineMs: number;
}

const FULL: Budgets = {
  produceWarmUpMs: 200,
  produceMs: 1200,
  echoWarmUpMs: 300,
  echoMs: 800,
  storageMs: 500,
  fetchWarmUpMs: 150,
  fetchMs: 1000,
  storageReadWriteMs: 300,
  storageReadMs: 500,
  latencyWarmUpMs: 500,
  latencyMs: 6000,
  latencyBaselineMs: 2000,
};

const QUICK: Budgets = {
  produceWarmUpMs: 50,
  produceMs: 150,
  echoWarmUpMs: 50,
  echoMs: 100,
  storageMs: 100,
  fetchWarmUpMs: 50,
  fetchMs: 150,
  storageReadWriteMs: 100,
  storageReadMs: 100,
  latencyWarmUpMs: 200,
  latencyMs: 1000,
  latencyBaselineMs: 500,
};

function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

/** The loads of one shape: a window of 8 on produceStream always; unary (awaiting each, and 8 in flight) for single records. */
function loadsFor(recordsPerBatch: number): Load[] {
  const loads: Load[] = [];
  for (const producers of PRODUCER_COUNTS) {
    loads.push({ mode: 'stream', producers, inFlight: STREAM_WINDOW });
    if (recordsPerBatch === 1) {
      loads.push({ mode: 'unary', producers, inFlight: 1 });
      loads.push({ mode: 'unary', producers, inFlight: STREAM_WINDOW });
    }
  }
  return loads;
}

function topicName(durability: DurabilityMode, shape: Shape, load: Load): string {
  return `bench-${durability}-${shape.valueBytes}b-x${shape.recordsPerBatch}-${load.mode}${load.inFlight}-p${load.producers}`;
}

/** Memoizes a baseline by key, so each is measured once, right before the first broker row needing it. */
function memo<T>(): (key: string, measure: () => Promise<T>) => Promise<T> {
  const cache = new Map<string, T>();
  return async (key, measure) => {
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const value = await measure();
    cache.set(key, value);
    return value;
  };
}

interface Servers {
  broker: ChildServer;
  echo: ChildServer;
  admin: SluiceClient;
}

async function measureProduce(servers: Servers, dir: string, budgets: Budgets): Promise<{ rows: ProduceRow[]; fetchTopics: Map<string, Shape> }> {
  const rows: ProduceRow[] = [];
  const fetchTopics = new Map<string, Shape>();
  const storageRun = memo<ReturnType<typeof rates>>();
  for (const durability of DURABILITIES) {
    for (const valueBytes of VALUE_BYTES) {
      for (const recordsPerBatch of RECORDS_PER_REQUEST) {
        const shape = { valueBytes, recordsPerBatch };
        const pool = valuePool(shape);
        for (const load of loadsFor(recordsPerBatch)) {
          const label = `${durability} ${shapeLabel(shape)} ${load.producers} x ${load.mode} ${load.inFlight}`;
          const appenders = load.producers * load.inFlight;
          progress(`produce ${label}: storage baseline`);
          const storage = await storageRun(`${durability}/${shapeLabel(shape)}/${appenders}`, async () =>
            rates(await storageAppend({ dir, shape, durability, appenders, durationMs: budgets.storageMs })),
          );
          // Measured next to every broker row (not once per shape): unary round trips on a small
          // machine drift by tens of percent over a minute, more than the gaps worth showing.
          progress(`produce ${label}: echo baseline`);
          const echo = rates(await echoPush({ address: servers.echo.address, shape, pool, load, warmUpMs: budgets.echoWarmUpMs, durationMs: budgets.echoMs }));
          progress(`produce ${label}: broker`);
          const topic = topicName(durability, shape, load);
          await servers.admin.createTopic({ name: topic, partitionCount: 1, config: { durability } });
          const broker = rates(
            await brokerProduce({ address: servers.broker.address, topic, shape, pool, load, warmUpMs: budgets.produceWarmUpMs, durationMs: budgets.produceMs }),
          );
          // The interval topics of the widest load stay as the fetch benchmark's backlog.
          if (durability === 'interval' && load.mode === 'stream' && load.producers === PRODUCER_COUNTS[PRODUCER_COUNTS.length - 1]) fetchTopics.set(topic, shape);
          else await servers.admin.deleteTopic(topic);
          rows.push({
            ...shape,
            durability,
            ...load,
            broker,
            storage: { ...storage, appenders },
            echo,
            brokerToStorage: broker.recordsPerSecond / storage.recordsPerSecond,
            brokerToEcho: broker.recordsPerSecond / echo.recordsPerSecond,
          });
        }
      }
    }
  }
  return { rows, fetchTopics };
}

async function measureFetch(servers: Servers, dir: string, budgets: Budgets, topics: Map<string, Shape>): Promise<FetchRow[]> {
  const rows: FetchRow[] = [];
  for (const [topic, shape] of topics) {
    progress(`fetch ${shapeLabel(shape)}: broker`);
    const [end] = await servers.admin.listOffsets({ topic, partitions: [0], spec: 'latest' });
    const brokerRun = await brokerFetch({ address: servers.broker.address, topic, maxBytes: FETCH_BYTES_MAX, warmUpMs: budgets.fetchWarmUpMs, durationMs: budgets.fetchMs });
    const broker = rates(brokerRun);
    const recordsPerFetch = broker.records / Math.max(1, broker.requests);
    progress(`fetch ${shapeLabel(shape)}: echo baseline`);
    const echo = rates(
      await echoPull({
        address: servers.echo.address,
        entryCount: Math.max(1, Math.round(recordsPerFetch)),
        valueBytes: shape.valueBytes,
        warmUpMs: budgets.fetchWarmUpMs,
        durationMs: budgets.fetchMs,
      }),
    );
    progress(`fetch ${shapeLabel(shape)}: storage baseline`);
    const storage = rates(await storageRead({ dir, shape, maxBytes: FETCH_BYTES_MAX, writeMs: budgets.storageReadWriteMs, durationMs: budgets.storageReadMs }));
    await servers.admin.deleteTopic(topic);
    rows.push({
      ...shape,
      backlogRecords: end!.highWatermark,
      maxBytes: FETCH_BYTES_MAX,
      recordsPerFetch,
      passes: brokerRun.passes,
      broker,
      storage,
      echo,
      brokerToStorage: broker.recordsPerSecond / storage.recordsPerSecond,
      brokerToEcho: broker.recordsPerSecond / echo.recordsPerSecond,
    });
  }
  return rows;
}

async function measureLatency(servers: Servers, dir: string, budgets: Budgets): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  const common = { valueBytes: LATENCY_VALUE_BYTES, recordsPerSecond: LATENCY_RECORDS_PER_SECOND, warmUpMs: budgets.latencyWarmUpMs };
  progress(`latency: echo baseline`);
  const echo = await echoLatency({ address: servers.echo.address, ...common, inFlight: STREAM_WINDOW, durationMs: budgets.latencyBaselineMs });
  for (const durability of DURABILITIES) {
    progress(`latency ${durability}: storage baseline`);
    const storage = await storageLatency({ dir, durability, ...common, durationMs: budgets.latencyBaselineMs });
    progress(`latency ${durability}: broker`);
    const topic = `bench-latency-${durability}`;
    await servers.admin.createTopic({ name: topic, partitionCount: 1, config: { durability } });
    const broker = await brokerLatency({ address: servers.broker.address, topic, ...common, inFlight: STREAM_WINDOW, durationMs: budgets.latencyMs });
    await servers.admin.deleteTopic(topic);
    rows.push({
      durability,
      valueBytes: LATENCY_VALUE_BYTES,
      recordsPerSecond: LATENCY_RECORDS_PER_SECOND,
      durationMs: budgets.latencyMs,
      inFlight: STREAM_WINDOW,
      sent: broker.sent,
      recordsPerRequest: broker.sent / Math.max(1, broker.requests),
      delivered: broker.delivered,
      acknowledged: broker.acknowledged,
      storage,
      echo,
    });
  }
  return rows;
}

function evaluateTargets(rows: readonly ProduceRow[]): Target[] {
  const find = (durability: DurabilityMode, load: Load): ProduceRow | undefined =>
    rows.find(
      (r) =>
        r.durability === durability &&
        r.valueBytes === 100 &&
        r.recordsPerBatch === 1 &&
        r.mode === load.mode &&
        r.producers === load.producers &&
        r.inFlight === load.inFlight,
    );
  const targets: Target[] = [];
  const groupBase = find('always', { mode: 'unary', producers: 1, inFlight: 1 });
  const groupWide = find('always', { mode: 'stream', producers: 4, inFlight: STREAM_WINDOW });
  if (groupBase !== undefined && groupWide !== undefined) {
    const measured = groupWide.broker.recordsPerSecond / groupBase.broker.recordsPerSecond;
    targets.push({
      name: `always 100 B x1: 4 x produceStream window ${STREAM_WINDOW} >= ${TARGET_GROUP_COMMIT_SPEEDUP_MIN}x the records/s of 1 x unary awaiting each (group commit)`,
      measured,
      required: TARGET_GROUP_COMMIT_SPEEDUP_MIN,
      pass: measured >= TARGET_GROUP_COMMIT_SPEEDUP_MIN,
    });
  }
  const unary = find('interval', { mode: 'unary', producers: 1, inFlight: 1 });
  const stream = find('interval', { mode: 'stream', producers: 1, inFlight: STREAM_WINDOW });
  if (unary !== undefined && stream !== undefined) {
    const measured = stream.broker.recordsPerSecond / unary.broker.recordsPerSecond;
    targets.push({
      name: `interval 100 B x1: 1 x produceStream window ${STREAM_WINDOW} >= ${TARGET_PIPELINING_SPEEDUP_MIN}x the records/s of 1 x unary awaiting each (pipelining)`,
      measured,
      required: TARGET_PIPELINING_SPEEDUP_MIN,
      pass: measured >= TARGET_PIPELINING_SPEEDUP_MIN,
    });
  }
  return targets;
}

export async function runGrpcBench(options: BenchOptions & { resultsDir: string }): Promise<{ targets: Target[] }> {
  const budgets = options.quick ? QUICK : FULL;
  const startedAt = new Date();
  const startMs = performance.now();
  const environmentAtStart = describeEnvironment();
  console.log(
    `gRPC broker benchmark${options.quick ? ' (quick)' : ''}: the broker runs in a child process (node --import tsx src/main.ts, ` +
      'temporary data directory) and the echo server in another, so clients and servers do not share an event loop; the clients ' +
      `and the storage baseline run in this process. ${environmentAtStart.cpuCount} CPUs (${environmentAtStart.cpuModel}) shared by all three.`,
  );
  // The harness's threshold, in words that fit these tables (they have no range columns).
  if (busyMachineWarning(environmentAtStart) !== undefined) {
    console.log(
      `warning: load average ${environmentAtStart.loadAverage1m.toFixed(1)} on ${environmentAtStart.cpuCount} CPUs before the start: other ` +
        'processes compete for CPU and disk, so expect noisy numbers (rerun on a quiet machine)',
    );
  }

  const results = await withTempDir('sluice-grpc-bench-', async (dir): Promise<GrpcResults> => {
    progress(`working in ${dir}`);
    const storageDir = path.join(dir, 'storage');
    fs.mkdirSync(storageDir);
    const [broker, echo] = await Promise.all([startBrokerProcess({ dataDir: path.join(dir, 'broker') }), startEchoProcess()]);
    progress(`broker pid ${broker.pid} at ${broker.address}; echo server pid ${echo.pid} at ${echo.address}`);
    const admin = await SluiceClient.connect({ broker: broker.address });
    const servers = { broker, echo, admin };
    try {
      // Warm up the JIT on both sides of the produce path before anything is measured.
      const warmUpShape = { valueBytes: 100, recordsPerBatch: 10 };
      const warmUpLoad: Load = { mode: 'stream', producers: 1, inFlight: STREAM_WINDOW };
      await admin.createTopic({ name: 'bench-warm-up', partitionCount: 1, config: { durability: 'never' } });
      await brokerProduce({ address: broker.address, topic: 'bench-warm-up', shape: warmUpShape, pool: valuePool(warmUpShape), load: warmUpLoad, warmUpMs: 0, durationMs: budgets.produceMs });
      await echoPush({ address: echo.address, shape: warmUpShape, pool: valuePool(warmUpShape), load: warmUpLoad, warmUpMs: 0, durationMs: budgets.echoMs });
      await admin.deleteTopic('bench-warm-up');

      const produce = await measureProduce(servers, storageDir, budgets);
      const fetch = await measureFetch(servers, storageDir, budgets, produce.fetchTopics);
      const latency = await measureLatency(servers, storageDir, budgets);
      return { produce: produce.rows, fetch, latency, targets: evaluateTargets(produce.rows) };
    } finally {
      admin.close();
      await Promise.all([broker.stop(), echo.stop()]);
    }
  });

  const durationMs = performance.now() - startMs;
  // No busy-machine check at the end: this benchmark itself keeps both the broker's and the
  // clients' CPUs busy, so the load average then says nothing about other work.
  const environmentAtEnd = describeEnvironment();
  console.log('');
  console.log(formatGrpcReport(results, { fetchBytesMax: FETCH_BYTES_MAX }));
  const file = path.join(options.resultsDir, options.quick ? 'grpc.quick.json' : 'grpc.json');
  writeJsonResults(file, {
    benchmark: 'grpc',
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    quick: options.quick,
    environment: environmentAtStart,
    loadAverage1mAtEnd: environmentAtEnd.loadAverage1m,
    budgets,
    setup: {
      broker: 'child process: node --import tsx src/main.ts --data-dir <temp> --grpc-port 0 --http-port 0 --log-level warn (default settings)',
      echo: 'child process: node --import tsx bench/echo-server.ts (bench/echo.proto, grpc-js, same proto-loader options as the broker)',
      clients: 'this process: one SluiceClient (one connection) per producer; one EchoClient per producer for the echo rows',
      topics: 'one partition each, created with the row durability; keyless records with a random value, explicit partition 0',
      streamWindow: STREAM_WINDOW,
      fetchBytesMax: FETCH_BYTES_MAX,
      megabytes: '10^6 bytes of record values per second (protocol and batch overhead not counted)',
    },
    baselines: {
      storage: 'log.append (SegmentLog, this process) of the same shape pre-encoded, same durability, producers x in-flight concurrent appenders; fetch: log.read with the same maxBytes',
      echo: 'bare grpc-js server in a child process: Push (unary) / PushStream (bidi, in order) with the same entries and concurrency; fetch: Pull replies of records/fetch entries',
      latency: 'storage: log.append at the same rate in this process; echo: PushStream round trip at the same rate and window',
    },
    ...results,
  });
  console.log(`\nresults written to ${path.relative(process.cwd(), file)} (${(durationMs / 1000).toFixed(0)} s)`);
  return { targets: [...results.targets] };
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  await runGrpcBench({ ...parseBenchArgs(process.argv.slice(2)), resultsDir });
}
