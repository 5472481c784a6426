/**
 * The child process of the kill -9 crash test. Opens (recovering) the log in `--dir` and appends the
 * round's deterministic workload (crash-workload.ts) as fast as `always` durability allows, keeping
 * `--in-flight` appends outstanding so that group commit shares fsyncs. It runs until it is killed.
 *
 * stdout carries only protocol lines: `ready` once the log is open, then one `ack` line per append,
 * written after the append's promise resolved (that is, after the fdatasync covering it). stdout to a
 * pipe is synchronous in Node on Linux, so an ack line that was written reaches the parent even if the
 * process is killed right after. Anything unexpected goes to stderr with a non-zero exit.
 *
 * Run as: node --import tsx test/helpers/crash-appender.ts --dir D --seed S --in-flight N
 */
import { parseArgs } from 'node:util';
import { SegmentLog } from '../../src/storage/index.js';
import { appendBatches, appendChecksum, crashLogConfig, formatLine } from './crash-workload.js';

/** A child nobody kills (its parent died without it) stops on its own. */
const RUN_MS_MAX = 60_000;

function fail(error: unknown): never {
  process.stderr.write(`crash-appender: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      seed: { type: 'string' },
      'in-flight': { type: 'string', default: '4' },
    },
  });
  const dir = values.dir;
  const seed = Number(values.seed);
  const inFlightMax = Number(values['in-flight']);
  if (dir === undefined || !Number.isSafeInteger(seed) || !Number.isSafeInteger(inFlightMax) || inFlightMax < 1) {
    fail(new Error('usage: crash-appender --dir D --seed S [--in-flight N]'));
  }

  const log = SegmentLog.open({ dir, config: crashLogConfig });
  process.stdout.write(formatLine({ kind: 'ready', logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset }));
  setTimeout(() => fail(new Error(`not killed within ${RUN_MS_MAX} ms`)), RUN_MS_MAX).unref();

  let nextAppendNumber = 0;
  let inFlight = 0;
  const pump = (): void => {
    while (inFlight < inFlightMax) {
      const appendNumber = nextAppendNumber++;
      const batches = appendBatches(seed, appendNumber);
      inFlight++;
      // append stamps the offsets into `batches` before its promise resolves: the checksum covers them.
      log.append(batches).then(
        (result) => {
          inFlight--;
          const checksum = appendChecksum(batches);
          process.stdout.write(
            formatLine({ kind: 'ack', appendNumber, baseOffset: result.baseOffset, lastOffset: result.lastOffset, checksum }),
          );
          pump();
        },
        (error: unknown) => fail(error),
      );
    }
  };
  pump();
}

try {
  main();
} catch (error) {
  fail(error);
}
