/**
 * `npm run bench:cpu [-- --records N] [-- --tsx]`: CPU time per record, in the client and in the
 * broker, for the client library's two hot paths: `Producer.send` (1,000 keyed 100 B messages per
 * call, 8 calls in flight, 8 partitions, `interval` durability) and a consumer group draining that
 * backlog with `eachMessage`.
 *
 * CPU microseconds per record (user + system; the broker's read from /proc/PID/stat) barely move
 * when other processes load the machine, unlike records per second, so a change to a hot path can
 * be judged on a busy 2-core box; wall-clock records/s is printed beside them for reference.
 *
 * Both sides run what users run: the built broker (`dist/main.js`) and the built client
 * (`dist/client/index.js`), which the npm script builds first. `--tsx` runs both from src/ through tsx instead,
 * which costs more (tsx wraps every function it creates to keep its name).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as ClientTypes from '../src/client/index.js';
import { startBrokerProcess } from './grpc-processes.js';

type ClientModule = typeof ClientTypes;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PARTITIONS = 8;
const KEYS = 1000;
const VALUE_BYTES = 100;
const MESSAGES_PER_SEND = 1000;
const SENDS_IN_FLIGHT = 8;
/** /proc/PID/stat counts CPU time in clock ticks of 10 ms. */
const MICROSECONDS_PER_TICK = 10_000;

interface Row {
  path: string;
  records: number;
  clientMicrosPerRecord: number;
  brokerMicrosPerRecord: number;
  recordsPerSecond: number;
}

const { values } = parseArgs({ options: { records: { type: 'string', default: '600000' }, tsx: { type: 'boolean', default: false } } });
const records = Number(values.records);
if (!Number.isSafeInteger(records) || records < MESSAGES_PER_SEND) throw new Error(`--records must be an integer >= ${MESSAGES_PER_SEND}`);
const fromSource = values.tsx === true;
if (!fromSource && !fs.existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('dist/ is missing: run `npm run build` first (or pass --tsx)');

const client = (await import(fromSource ? '../src/client/index.js' : path.join(ROOT, 'dist/client/index.js'))) as ClientModule;
const broker = await startBroker();
try {
  const rows = await measureAll();
  console.log(`CPU per record (${fromSource ? 'src via tsx' : 'dist'}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`);
  for (const row of rows) {
    console.log(
      `  ${row.path.padEnd(44)} client ${row.clientMicrosPerRecord.toFixed(2)} us  broker ${row.brokerMicrosPerRecord.toFixed(2)} us  (${Math.round(row.recordsPerSecond).toLocaleString('en-US')} records/s wall)`,
    );
  }
  const file = path.join(ROOT, 'bench/results/cpu-per-record.json');
  fs.writeFileSync(file, `${JSON.stringify({ benchmark: 'cpu-per-record', at: new Date().toISOString(), fromSource, loadAverage1m: os.loadavg()[0], rows }, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, file)}`);
} finally {
  await broker.stop();
}

async function measureAll(): Promise<Row[]> {
  const sluice = new client.Sluice({ brokers: [broker.address], clientId: 'bench-cpu' });
  const admin = sluice.admin();
  await admin.createTopic({ name: 'cpu', partitionCount: PARTITIONS, config: { durability: 'interval' } });
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const rows: Row[] = [];

  rows.push(
    await measure('Producer.send (1000 keyed msgs, 8 in flight)', async () => {
      const producer = sluice.producer();
      await producer.connect();
      const sends: Promise<unknown>[] = [];
      for (let sent = 0; sent < records; sent += MESSAGES_PER_SEND) {
        const messages = Array.from({ length: MESSAGES_PER_SEND }, (_, i) => ({ key: `key-${(sent + i) % KEYS}`, value }));
        sends.push(producer.send({ topic: 'cpu', messages }));
        if (sends.length >= SENDS_IN_FLIGHT) await sends.shift();
      }
      await Promise.all(sends);
      await producer.disconnect();
    }),
  );

  rows.push(
    await measure('consumer group, eachMessage', async () => {
      const consumer = sluice.consumer({ groupId: 'cpu', topics: ['cpu'] });
      let handled = 0;
      let drained!: () => void;
      const done = new Promise<void>((resolve) => (drained = resolve));
      await consumer.run({
        partitionsConsumedConcurrently: PARTITIONS,
        eachMessage: () => {
          if (++handled === records) drained();
        },
      });
      await done;
      await consumer.disconnect();
    }),
  );
  await admin.disconnect();
  return rows;
}

async function measure(name: string, run: () => Promise<void>): Promise<Row> {
  const client0 = process.cpuUsage();
  const broker0 = broker.cpuMicros();
  const start = performance.now();
  await run();
  const elapsedMs = performance.now() - start;
  const clientUsage = process.cpuUsage(client0);
  return {
    path: name,
    records,
    clientMicrosPerRecord: (clientUsage.user + clientUsage.system) / records,
    brokerMicrosPerRecord: (broker.cpuMicros() - broker0) / records,
    recordsPerSecond: records / (elapsedMs / 1000),
  };
}

async function startBroker(): Promise<{ address: string; cpuMicros: () => number; stop: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-cpu-'));
  const broker = await startBrokerProcess({ dataDir: path.join(dir, 'data'), build: fromSource ? 'source' : 'dist' });
  const cpuMicros = (): number => {
    // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the command name's ")".
    const fields = fs.readFileSync(`/proc/${broker.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * MICROSECONDS_PER_TICK;
  };
  const stop = async (): Promise<void> => {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { address: broker.address, cpuMicros, stop };
}
