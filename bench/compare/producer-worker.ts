/**
 * One producer of the produce workloads, in a process of its own (so that producers do not share an
 * event loop): `node --import tsx bench/compare/producer-worker.ts '<json>'` with
 * `{ system, endpoint, spec, warmupRecords }`. It connects, sends the warm-up records (not
 * measured), prints `ready`, waits for `go` on stdin (so that all producers start together),
 * produces, and prints its ProduceOutcome as one JSON line.
 */
import { createInterface } from 'node:readline';
import { ADAPTERS } from './adapters.js';
import type { Endpoint, ProduceSpec, SystemName } from './workload.js';

export interface ProducerWorkerArgs {
  system: SystemName;
  endpoint: Endpoint;
  spec: ProduceSpec;
  /** Sent to the same topic before `ready`, so the measured records find the process warm. */
  warmupRecords: number;
}

export const READY_LINE = 'ready';
export const GO_LINE = 'go';

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as ProducerWorkerArgs;
  const client = await ADAPTERS[args.system].connect(args.endpoint);
  if (args.warmupRecords > 0) await client.produce({ ...args.spec, recordCount: args.warmupRecords });
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.on('line', (line) => line === GO_LINE && resolve()));
  console.log(READY_LINE);
  await go;
  lines.close();
  const outcome = await client.produce(args.spec);
  console.log(JSON.stringify(outcome));
  await client.close();
}

// Imported for its types and constants by the runner; run only as the worker's entry point.
if (process.argv[1]?.endsWith('producer-worker.ts')) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
