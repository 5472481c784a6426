/**
 * A consumer process for the SIGTERM test: joins `SLUICE_GROUP` on `SLUICE_TOPIC` at
 * `SLUICE_BROKER` with `handleSignals: true`, prints `handling <offset>` when a record's handler
 * starts (each takes `HANDLER_MS`) and `handled <offset>` when it ends, and `stopped` when the
 * consumer has left the group. SIGTERM should make it finish the running handler, leave, and die of
 * the signal.
 */
import { Sluice } from '../../src/client/index.js';

const sluice = new Sluice({ brokers: [process.env.SLUICE_BROKER!], clientId: 'signal-consumer' });
const consumer = sluice.consumer({ groupId: process.env.SLUICE_GROUP!, topics: [process.env.SLUICE_TOPIC!], handleSignals: true });
consumer.on('stop', () => console.log('stopped'));
await consumer.run({
  eachMessage: async ({ message }) => {
    console.log(`handling ${message.offset}`);
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.HANDLER_MS ?? 300)));
    console.log(`handled ${message.offset}`);
  },
});
