/**
 * A worker process for end-to-end tests: joins a group and processes records one by one, acking
 * each right after "processing" it. Prints `ready <memberId>` once joined, then one line per record:
 * `done <partition> <offset> <attempt> <value>`. A record whose value is `crash` kills the process
 * 100 ms into working on it (as a poison record that crashes its worker would).
 *
 * Usage: node --import tsx test/helpers/consume-worker.ts <broker> <group> <topic> [workMs]
 */
import { SluiceClient } from '../../src/client/index.js';

const [address, group, topic, workMsText] = process.argv.slice(2);
const workMs = Number(workMsText ?? '0');
const client = await SluiceClient.connect({ broker: address!, clientId: `worker-${process.pid}` });
const session = await client.consume({ group: group!, topics: [topic!], inFlightMax: 50, retryBackoffMs: 0, sessionTimeoutMs: 3000 });
process.stdout.write(`ready ${session.memberId}\n`);
for await (const event of session.events()) {
  if (event.type !== 'records') continue;
  for (const record of event.records) {
    const value = record.value?.toString() ?? '';
    if (value === 'crash') {
      // Dies while working on it (after earlier acks have left), as a poisoned worker would.
      await new Promise((resolve) => setTimeout(resolve, 100));
      process.kill(process.pid, 'SIGKILL');
    }
    if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs));
    session.ack(record, [record.offset]);
    process.stdout.write(`done ${record.partition} ${record.offset} ${record.deliveryAttempt} ${value}\n`);
  }
}
client.close();
