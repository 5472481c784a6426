/**
 * `npm run bench [-- --quick]`: runs every benchmark in turn. Each prints its rows beside the baseline
 * it was compared against, checks its targets (PASS/FAIL) and writes JSON results to bench/results/.
 * The exit code is 0 even when a target is missed: a benchmark reports, it does not gate.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGrpcBench } from './grpc-produce.js';
import { parseBenchArgs } from './harness.js';
import { runStorageBench } from './storage-append.js';

const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const options = parseBenchArgs(process.argv.slice(2));

const benchmarks = [
  { name: 'storage', run: () => runStorageBench({ ...options, resultsDir }) },
  { name: 'grpc', run: () => runGrpcBench({ ...options, resultsDir }) },
];

const summary: string[] = [];
for (const benchmark of benchmarks) {
  const { targets } = await benchmark.run();
  const passed = targets.filter((t) => t.pass).length;
  summary.push(`${benchmark.name}: ${passed}/${targets.length} targets met`);
}
console.log(`\n${summary.join('\n')}`);
