/**
 * The command line of `npm run bench:compare`. Defaults follow issue 6 (1M-record backlog, 10M-record
 * memory backlog, 5,000 and 50,000 records/s for 10 s, 3 runs); `--quick` shrinks every count for a
 * smoke run of a few minutes. Every other flag overrides one setting.
 */
import { WORKLOAD_NAMES, type WorkloadName } from './stats.js';
import { DURABILITIES, type Durability, SYSTEM_NAMES, type SystemName } from './workload.js';

export interface CompareOptions {
  quick: boolean;
  systems: SystemName[];
  workloads: WorkloadName[];
  durabilities: Durability[];
  valueSizes: number[];
  runs: number;
  keyCount: number;
  partitionCount: number;
  /** Records per producer in the produce workloads. */
  produceRecords: number;
  /**
   * Records each producer sends before the measured ones, uncounted: a fresh process's first records pay
   * for faulting in its memory and compiling its hot code, which a long-lived producer paid long ago.
   */
  produceWarmupRecords: number;
  concurrentProducers: number;
  backlogRecords: number;
  latencyRates: number[];
  latencySeconds: number;
  memoryRecords: number;
  memoryRuns: number;
  slowConsumerRate: number;
  slowConsumerSeconds: number;
  /** One run (or one backlog fill) taking longer than this fails the figure instead of hanging the benchmark. */
  runTimeoutSeconds: number;
  resultsName: string;
}

const FULL: CompareOptions = {
  quick: false,
  systems: [...SYSTEM_NAMES],
  workloads: [...WORKLOAD_NAMES],
  durabilities: [...DURABILITIES],
  valueSizes: [100, 1024],
  runs: 3,
  keyCount: 1000,
  partitionCount: 8,
  produceRecords: 200_000,
  produceWarmupRecords: 50_000,
  concurrentProducers: 4,
  backlogRecords: 1_000_000,
  latencyRates: [5_000, 50_000],
  latencySeconds: 10,
  memoryRecords: 10_000_000,
  memoryRuns: 1,
  slowConsumerRate: 100,
  slowConsumerSeconds: 10,
  runTimeoutSeconds: 600,
  resultsName: 'compare',
};

/** A smoke run: one run per figure (so no spread), small counts, the 5,000 records/s latency rate only. */
const QUICK: Partial<CompareOptions> = {
  quick: true,
  runs: 1,
  latencyRates: [5_000],
  produceRecords: 20_000,
  produceWarmupRecords: 5_000,
  backlogRecords: 30_000,
  latencySeconds: 2,
  memoryRecords: 200_000,
  slowConsumerSeconds: 2,
  runTimeoutSeconds: 120,
  resultsName: 'compare.quick',
};

export const USAGE = `usage: npm run bench:compare -- [options]
  --quick                       1 run, small counts, latency at 5k/s only: a smoke run of a few minutes (compare.quick.*)
  --systems sluice,redis,nats   systems to run (default all)
  --workloads LIST              produce-1,produce-4,consume,latency,memory (default all)
  --durability always,interval  durability levels (default both)
  --sizes 100,1024              value sizes in bytes (default 100,1024)
  --runs N                      runs per figure; the median, min and max are reported (default 3, --quick 1)
  --produce-records N           records per producer per produce run (default 200000)
  --produce-warmup-records N    records each producer sends first, not measured (default 50000; 0 for none)
  --producers N                 producer processes of produce-4 (default 4)
  --backlog-records N           backlog of the consume workload (default 1000000)
  --latency-rates 5000,50000    offered rates of the latency workload, records/s
  --latency-seconds N           how long each latency run offers records (default 10)
  --memory-records N            backlog of the memory workload (default 10000000)
  --memory-runs N               runs of the memory workload (default 1: a 10M fill takes minutes per system)
  --run-timeout-seconds N       one run longer than this fails (default 600)
  --results-name NAME           write bench/results/NAME.json and NAME.svg (default compare, --quick compare.quick)`;

function list(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function oneOf<T extends string>(flag: string, values: string[], allowed: readonly T[]): T[] {
  for (const value of values) if (!allowed.includes(value as T)) throw new Error(`${flag}: unknown ${value}; one of ${allowed.join(', ')}`);
  return values as T[];
}

function positiveInteger(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new Error(`${flag} needs a positive integer, got ${value}`);
  return number;
}

export function parseCompareArgs(argv: readonly string[]): CompareOptions {
  const quick = argv.includes('--quick');
  const options: CompareOptions = { ...FULL, ...(quick ? QUICK : {}) };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--quick') continue;
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    switch (flag) {
      case '--systems':
        options.systems = oneOf(flag, list(value), SYSTEM_NAMES);
        break;
      case '--workloads':
        options.workloads = oneOf(flag, list(value), WORKLOAD_NAMES);
        break;
      case '--durability':
        options.durabilities = oneOf(flag, list(value), DURABILITIES);
        break;
      case '--sizes':
        options.valueSizes = list(value).map((v) => positiveInteger(flag, v));
        break;
      case '--runs':
        options.runs = positiveInteger(flag, value);
        break;
      case '--produce-records':
        options.produceRecords = positiveInteger(flag, value);
        break;
      case '--produce-warmup-records':
        options.produceWarmupRecords = value === '0' ? 0 : positiveInteger(flag, value);
        break;
      case '--producers':
        options.concurrentProducers = positiveInteger(flag, value);
        break;
      case '--backlog-records':
        options.backlogRecords = positiveInteger(flag, value);
        break;
      case '--latency-rates':
        options.latencyRates = list(value).map((v) => positiveInteger(flag, v));
        break;
      case '--latency-seconds':
        options.latencySeconds = positiveInteger(flag, value);
        break;
      case '--memory-records':
        options.memoryRecords = positiveInteger(flag, value);
        break;
      case '--memory-runs':
        options.memoryRuns = positiveInteger(flag, value);
        break;
      case '--results-name':
        if (!/^[\w.-]+$/.test(value)) throw new Error(`${flag} needs a file name stem, got ${value}`);
        options.resultsName = value;
        break;
      case '--run-timeout-seconds':
        options.runTimeoutSeconds = positiveInteger(flag, value);
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return options;
}
