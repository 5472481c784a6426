/**
 * `npm run bench:compare [-- --quick] [options]`: Sluice against Redis Streams and NATS JetStream on
 * this machine, in one run, at matched durability (issue 6). Each system's server is started here on
 * 127.0.0.1 with a temporary data directory, run alone, and stopped; the results are one table on
 * standard output, issue 6's targets as PASS/FAIL, and bench/results/compare.json + compare.svg
 * (compare.quick.* with --quick). The exit code is 0 even when a target is missed.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyMachineWarning, describeEnvironment } from '../harness.js';
import { ADAPTERS } from './adapters.js';
import { parseCompareArgs } from './options.js';
import { installCleanup } from './processes.js';
import { checkTargets, formatTable, writeResults } from './report.js';
import { type RunContext, runSystem } from './runner.js';
import { Figures } from './stats.js';

const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

async function main(): Promise<void> {
  const options = parseCompareArgs(process.argv.slice(2));
  installCleanup();
  const startedAt = performance.now();
  const environment = describeEnvironment();
  const warning = busyMachineWarning(environment);
  if (warning !== undefined) console.log(warning);
  console.log(
    `comparing ${options.systems.join(', ')} (${options.workloads.join(', ')}; ${options.durabilities.join(', ')}; ` +
      `values ${options.valueSizes.join(', ')} B; ${options.runs} runs each; ${options.keyCount} keys, ${options.partitionCount} partitions)`,
  );
  const context: RunContext = { options, figures: new Figures(), skipped: [], failures: [], settings: [] };
  for (const system of options.systems) {
    for (const durability of options.durabilities) await runSystem(ADAPTERS[system], durability, context);
  }
  const figures = context.figures.all();
  const targets = checkTargets(figures, options);
  const loadAverageAtEnd = describeEnvironment().loadAverage1m;
  console.log(`\n${formatTable(figures)}`);
  console.log('\nvs best peer: Sluice / the best of Redis and NATS at the same durability; above 1x Sluice leads (latency and memory: inverted, lower is better).');
  console.log('durability settings:');
  for (const { system, durability, setting } of context.settings) console.log(`  ${system} ${durability}: ${setting.label}${setting.matched ? '' : ` (not run: ${setting.note})`}`);
  console.log(`load average: ${environment.loadAverage1m.toFixed(1)} at start, ${loadAverageAtEnd.toFixed(1)} at end, on ${environment.cpuCount} CPUs`);
  if (targets.length > 0) {
    console.log('\nissue 6 targets:');
    for (const target of targets) console.log(`  ${target.pass ? 'PASS' : 'FAIL'}  ${target.name}: ${target.detail}`);
  }
  if (context.failures.length > 0) {
    console.log('\nfailed runs:');
    for (const failure of context.failures) console.log(`  ${failure}`);
  }
  const { jsonPath, svgPath } = writeResults({
    resultsDir,
    compareOptions: options,
    context,
    environment: { atStart: environment, loadAverageAtEnd },
    targets,
    elapsedMs: performance.now() - startedAt,
  });
  console.log(`\nwrote ${path.relative(process.cwd(), jsonPath)} and ${path.relative(process.cwd(), svgPath)} in ${Math.round((performance.now() - startedAt) / 1000)} s`);
}

await main();
// Exit rather than wait for the event loop to drain: a run given up at its time limit goes on in the
// background (after JetStream's 10M-record memory run timed out, the finished benchmark stayed alive
// with sockets open).
process.exit(0);
