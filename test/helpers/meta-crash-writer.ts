/**
 * The child process of the metadata kill -9 test (test/unit/meta/crash.test.ts). Opens the store in
 * `--dir`, makes one durable write to each durable table, and prints one line, `ok <json>`, once
 * every write's promise has resolved (stdout to a pipe is synchronous in Node on Linux, so the line
 * reaches the parent even if the process is killed right after). Then it waits to be killed.
 *
 * Run as: node --import tsx test/helpers/meta-crash-writer.ts --dir D --round N
 */
import { parseArgs } from 'node:util';
import { MetaStore } from '../../src/meta/index.js';

/** A child nobody kills (its parent died without it) stops on its own. */
const RUN_MS_MAX = 30_000;

export interface CrashWriterReport {
  topicId: number;
  producerId: number;
  attempts: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, round: { type: 'string' } } });
  const dir = values.dir;
  const round = Number(values.round);
  if (dir === undefined || !Number.isSafeInteger(round)) throw new Error('usage: meta-crash-writer --dir D --round N');

  const store = MetaStore.open({ dir });
  const topicId = await store.nextTopicId();
  await store.putTopic({ name: `topic-${round}`, topicId, partitionCount: 3, config: { round }, createdAtMs: round });
  const producerId = await store.allocateProducerId();
  await store.commitOffsets('group', [{ topic: `topic-${round}`, partition: 1, offset: 100 + round }], { durable: true });
  const { attempts } = await store.recordFailedAttempt({
    group: 'group',
    topic: 'topic-0',
    partition: 0,
    offset: 7,
    error: `failure in round ${round}`,
    errorClass: 'Error',
    memberId: `member-${round}`,
  });
  const report: CrashWriterReport = { topicId, producerId, attempts };
  process.stdout.write(`ok ${JSON.stringify(report)}\n`);
  setTimeout(() => process.exit(3), RUN_MS_MAX);
}

main().catch((error: unknown) => {
  process.stderr.write(`meta-crash-writer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
