/**
 * kill -9 of the real broker process while producers are being acknowledged (default durability
 * mode `always`): nothing acknowledged is lost.
 *
 * One data directory, several rounds. Each round starts `src/main.ts` as a child process (the
 * first creates a 4-partition topic), runs concurrent producers in this process (two awaiting unary
 * `produce` calls with broker-routed keyed records, two `produceStream`s keeping up to 8 client-routed
 * requests in flight), records every acknowledged record as (partition, offset, id), and SIGKILLs the
 * broker at a random moment. Then:
 * - every request still unanswered at the kill must fail with a SluiceError within a few seconds
 *   (the unary calls have a 30 s deadline and streams none, so a hang shows up as a timeout here);
 * - the broker restarts on the same directory, taking over the LOCK the dead pid left behind;
 * - every partition is read from offset 0: offsets are contiguous, every record is one this test
 *   sent (its key, value and partition all derive from its id, so garbage or a misplaced record is
 *   caught), no id appears twice, per-key order holds, and every acknowledged record is at its
 *   acknowledged offset.
 * Records that were written but never acknowledged may be there; they are counted, not required.
 *
 * Replay a failure's workload with SLUICE_CRASH_SEED=<seed> (printed with every failure); where the
 * kill lands still depends on timing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Random, partitionForKey, seededRandom } from '../../src/base/index.js';
import { type ProduceResult, SluiceClient, isSluiceError } from '../../src/client/index.js';
import { type ServerProcess, spawnServer } from '../helpers/server-process.js';

const TOPIC = 'payments';
const PARTITION_COUNT = 4;
const KILL_ROUNDS = 5;
const UNARY_PRODUCERS = 2;
const STREAM_PRODUCERS = 2;
const STREAM_WINDOW = 8;
/** Keys per producer: each key belongs to one producer, so per-key order is that producer's send order. */
const KEYS_PER_PRODUCER = 6;
const RECORDS_PER_REQUEST_MAX = 20;
const VALUE_FILLER_BYTES_MAX = 1500;
/** A round kills the broker only after this many acknowledged requests, then after a random delay. */
const ACKED_REQUESTS_BEFORE_KILL_MIN = 20;
const KILL_DELAY_MS_MAX = 700;
/** Requests in flight at the kill must fail within this long (the connection is gone at once). */
const SETTLE_AFTER_KILL_MS_MAX = 5_000;
const READY_TIMEOUT_MS = 20_000;
const FETCH_BYTES_MAX = 4 * 1024 * 1024;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

// ---- records: key, value and partition all follow from (producer, sequence) ----

interface SentRecord {
  id: string;
  producer: number;
  sequence: number;
  key: string;
  value: string;
}

interface AckedRecord {
  id: string;
  partition: number;
  offset: number;
  round: number;
}

function keyOf(producer: number, sequence: number): string {
  return `p${producer}-k${(sequence * 7919) % KEYS_PER_PRODUCER}`;
}

function filler(producer: number, sequence: number, length: number): string {
  const start = (producer * 131 + sequence * 17) % ALPHABET.length;
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[(start + i * 7) % ALPHABET.length];
  return text;
}

function makeRecord(producer: number, sequence: number, fillerLength: number): SentRecord {
  const id = `${producer}:${sequence}`;
  return { id, producer, sequence, key: keyOf(producer, sequence), value: `${id}|${fillerLength}|${filler(producer, sequence, fillerLength)}` };
}

/** The record a stored key and value must be, or a description of what is wrong with them. */
function parseStored(key: string | null, value: string | null): SentRecord | string {
  if (key === null || value === null) return `key ${key} / value ${value === null ? 'null' : 'present'}: both must be present`;
  const match = /^(\d+):(\d+)\|(\d+)\|/.exec(value);
  if (match === null) return `value does not start with "<producer>:<sequence>|<length>|": ${JSON.stringify(value.slice(0, 40))}`;
  const expected = makeRecord(Number(match[1]), Number(match[2]), Number(match[3]));
  if (expected.value !== value) return `value of ${expected.id} (${value.length} bytes) differs from what was sent (${expected.value.length} bytes)`;
  if (expected.key !== key) return `key ${JSON.stringify(key)} of ${expected.id}, expected ${JSON.stringify(expected.key)}`;
  return expected;
}

// ---- the broker process ----

interface RunningBroker {
  server: ServerProcess;
  pid: number;
  address: string;
}

async function startBroker(dataDir: string, portFile: string): Promise<RunningBroker> {
  fs.rmSync(portFile, { force: true });
  // Log level info: the "listening" line (with the ports) and the stale-lock warning are wanted.
  const server = spawnServer(['--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0', '--port-file', portFile, '--log-level', 'info']);
  const { grpcPort, pid } = await server.ready(READY_TIMEOUT_MS);
  const written = JSON.parse(fs.readFileSync(portFile, 'utf8')) as { pid: number; grpcPort: number };
  expect(written).toMatchObject({ pid, grpcPort });
  return { server, pid, address: `127.0.0.1:${grpcPort}` };
}

// ---- one round of producing ----

interface InFlight {
  settled: Promise<void>;
  done: boolean;
}

interface RoundStats {
  ackedRequests: number;
  ackedRecords: number;
  inFlightAtKill: number;
  failedAtKill: number;
  /** Requests in flight at the kill whose answer made it out before the connection went. */
  answeredAtKill: number;
  settleMs: number;
}

/**
 * Maps an acknowledgment back to its records: the broker appends each partition's records of a
 * request as one run of offsets, in request order.
 */
function recordAcks(options: {
  routed: Map<number, SentRecord[]>;
  result: ProduceResult;
  round: number;
  acked: AckedRecord[];
  context: string;
}): void {
  const { routed, result, round, acked, context } = options;
  expect(result.durability, context).toBe('fsynced');
  expect(result.appends.map((a) => a.partition).sort(), context).toEqual([...routed.keys()].sort());
  for (const append of result.appends) {
    const records = routed.get(append.partition)!;
    expect(append.duplicate, context).toBe(false);
    expect(append.recordCount, context).toBe(records.length);
    expect(append.lastOffset - append.baseOffset + 1, context).toBe(records.length);
    records.forEach((record, i) => acked.push({ id: record.id, partition: append.partition, offset: append.baseOffset + i, round }));
  }
}

function routeByKey(records: readonly SentRecord[]): Map<number, SentRecord[]> {
  const routed = new Map<number, SentRecord[]>();
  for (const record of records) {
    const partition = partitionForKey(Buffer.from(record.key), PARTITION_COUNT);
    routed.set(partition, [...(routed.get(partition) ?? []), record]);
  }
  return routed;
}

/**
 * Produces until the broker is killed; resolves with the round's statistics. Every producer stops at
 * its first failure; a failure before the kill fails the test.
 */
async function produceUntilKilled(options: {
  broker: RunningBroker;
  round: number;
  random: Random;
  nextSequence: number[];
  acked: AckedRecord[];
  seed: number;
}): Promise<RoundStats> {
  const { broker, round, random, nextSequence, acked, seed } = options;
  const context = `seed ${seed}, round ${round}`;
  const clients = await Promise.all(
    Array.from({ length: UNARY_PRODUCERS + STREAM_PRODUCERS }, () => SluiceClient.connect({ broker: broker.address, clientId: `kill9-round-${round}` })),
  );
  const inFlight = new Set<InFlight>();
  const unexpected: string[] = [];
  /** When the broker was killed; undefined while it runs. */
  const kill: { atMs: number | undefined } = { atMs: undefined };
  let ackedRequests = 0;
  let ackedRecords = 0;
  let answeredAtKill = 0;
  const atKill = new Set<InFlight>();

  const nextRecords = (producer: number): SentRecord[] =>
    Array.from({ length: random.int(1, RECORDS_PER_REQUEST_MAX + 1) }, () => makeRecord(producer, nextSequence[producer]!++, random.int(0, VALUE_FILLER_BYTES_MAX + 1)));

  /** Tracks one request; resolves with whether the producer may go on. */
  const track = (request: Promise<ProduceResult>, routed: Map<number, SentRecord[]>): Promise<boolean> => {
    const entry: InFlight = { settled: Promise.resolve(), done: false };
    const ok = request.then(
      (result) => {
        entry.done = true;
        inFlight.delete(entry);
        if (atKill.has(entry)) answeredAtKill++;
        recordAcks({ routed, result, round, acked, context });
        ackedRequests++;
        ackedRecords += result.appends.reduce((sum, a) => sum + a.recordCount, 0);
        return kill.atMs === undefined;
      },
      (error: unknown) => {
        entry.done = true;
        inFlight.delete(entry);
        if (kill.atMs === undefined) unexpected.push(`failed before the kill: ${String(error)}`);
        else if (!isSluiceError(error)) unexpected.push(`failed with a ${String(error)}, not a SluiceError`);
        else if (error.code !== 'BROKER_UNAVAILABLE' || !error.retriable) unexpected.push(`failed with ${error.code} (retriable ${error.retriable}): ${error.message}`);
        return false;
      },
    );
    // A failed check inside `ok` reaches the test through the producer awaiting it.
    entry.settled = ok.then(
      () => undefined,
      () => undefined,
    );
    inFlight.add(entry);
    return ok;
  };

  const unaryProducer = async (client: SluiceClient, producer: number): Promise<void> => {
    for (;;) {
      const records = nextRecords(producer);
      // Broker-routed: the broker picks each keyed record's partition with Kafka's partitioner.
      const ok = track(client.produce({ topic: TOPIC, records: records.map((r) => ({ key: r.key, value: r.value })) }), routeByKey(records));
      if (!(await ok)) return;
    }
  };

  const streamProducer = async (client: SluiceClient, producer: number): Promise<void> => {
    const stream = client.produceStream({ inFlightMax: STREAM_WINDOW });
    const window = new Set<Promise<boolean>>();
    let going = true;
    while (going) {
      while (window.size >= STREAM_WINDOW) going = (await Promise.race(window)) && going;
      if (!going || !stream.isOpen) break;
      const routed = routeByKey(nextRecords(producer));
      // Client-routed: the partitions the records belong to, computed here.
      const partitions = [...routed].map(([partition, records]) => ({ partition, records: records.map((r) => ({ key: r.key, value: r.value })) }));
      const inWindow = track(stream.send({ topic: TOPIC, partitions }), routed).then((mayGoOn) => {
        window.delete(inWindow);
        return mayGoOn;
      });
      window.add(inWindow);
    }
    await Promise.all(window);
  };

  let producerFailure: unknown;
  const producers = clients.map((client, producer) =>
    (producer < UNARY_PRODUCERS ? unaryProducer(client, producer) : streamProducer(client, producer)).catch((error: unknown) => {
      producerFailure ??= error;
    }),
  );

  // Kill at a random moment once producing is under way.
  const waitStartMs = Date.now();
  while (ackedRequests < ACKED_REQUESTS_BEFORE_KILL_MIN && unexpected.length === 0 && producerFailure === undefined) {
    if (Date.now() - waitStartMs > 15_000) throw new Error(`${context}: only ${ackedRequests} requests acknowledged in 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise((resolve) => setTimeout(resolve, random.int(0, KILL_DELAY_MS_MAX + 1)));
  for (const entry of inFlight) atKill.add(entry);
  const killedAtMs = Date.now();
  kill.atMs = killedAtMs;
  broker.server.child.kill('SIGKILL');
  const exit = await broker.server.exited;
  expect(exit, context).toEqual({ code: null, signal: 'SIGKILL' });

  // Unanswered requests must fail, not hang; the producers stop at their first failure.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), SETTLE_AFTER_KILL_MS_MAX)));
  const outcome = await Promise.race([Promise.all([...producers, ...[...atKill].map((e) => e.settled)]).then(() => 'settled' as const), hung]);
  clearTimeout(timer);
  const settleMs = Date.now() - killedAtMs;
  const stillOpen = [...atKill].filter((e) => !e.done).length;
  for (const client of clients) client.close();
  if (producerFailure !== undefined) throw producerFailure instanceof Error ? producerFailure : new Error(`a producer failed: ${JSON.stringify(producerFailure)}`);
  expect(outcome, `${context}: ${stillOpen} of ${atKill.size} requests in flight at the kill still unanswered after ${settleMs} ms`).toBe('settled');
  expect(unexpected, context).toEqual([]);
  return { ackedRequests, ackedRecords, inFlightAtKill: atKill.size, failedAtKill: atKill.size - answeredAtKill, answeredAtKill, settleMs };
}

// ---- verification after a restart ----

interface Verification {
  storedRecords: number;
  unacknowledgedStored: number;
}

async function verifyLog(options: { address: string; acked: readonly AckedRecord[]; context: string }): Promise<Verification> {
  const { acked, context } = options;
  const client = await SluiceClient.connect({ broker: options.address });
  try {
    const stored: Map<number, SentRecord>[] = [];
    const seen = new Set<string>();
    for (let partition = 0; partition < PARTITION_COUNT; partition++) {
      const records = new Map<number, SentRecord>();
      stored.push(records);
      const lastSequenceOfKey = new Map<string, number>();
      let offset = 0;
      for (;;) {
        const batch = await client.fetch({ topic: TOPIC, partition, offset, maxBytes: FETCH_BYTES_MAX });
        expect(batch.logStartOffset, context).toBe(0);
        for (const record of batch.records) {
          const where = `${context}: partition ${partition} offset ${record.offset}`;
          // Contiguous offsets: nothing skipped, nothing served twice.
          expect(record.offset, where).toBe(offset);
          offset++;
          const parsed = parseStored(record.key?.toString('utf8') ?? null, record.value?.toString('utf8') ?? null);
          if (typeof parsed === 'string') expect.fail(`${where} holds garbage: ${parsed}`);
          expect(partitionForKey(Buffer.from(parsed.key), PARTITION_COUNT), `${where}: key ${parsed.key} belongs elsewhere`).toBe(partition);
          expect(seen.has(parsed.id), `${where}: ${parsed.id} stored twice`).toBe(false);
          seen.add(parsed.id);
          // Per-key order: a key's records are stored in the order its (only) producer sent them.
          const previous = lastSequenceOfKey.get(parsed.key) ?? -1;
          expect(parsed.sequence, `${where}: ${parsed.id} is stored after sequence ${previous} of key ${parsed.key}`).toBeGreaterThan(previous);
          lastSequenceOfKey.set(parsed.key, parsed.sequence);
          records.set(record.offset, parsed);
        }
        if (batch.records.length === 0) {
          expect(batch.nextOffset, context).toBeGreaterThanOrEqual(batch.highWatermark);
          break;
        }
        expect(batch.nextOffset, context).toBe(offset);
      }
    }
    const missing = acked.filter((a) => stored[a.partition]!.get(a.offset)?.id !== a.id);
    const describe = (a: AckedRecord): string => `${a.id} acknowledged at ${a.partition}/${a.offset} in round ${a.round}, found ${stored[a.partition]!.get(a.offset)?.id ?? 'nothing'}`;
    expect(missing.map(describe).slice(0, 10), `${context}: ${missing.length} of ${acked.length} acknowledged records not where acknowledged`).toEqual([]);
    const storedRecords = stored.reduce((sum, partition) => sum + partition.size, 0);
    return { storedRecords, unacknowledgedStored: storedRecords - acked.length };
  } finally {
    client.close();
  }
}

describe('kill -9 of the broker during acknowledged produce', () => {
  it(`loses nothing acknowledged across ${KILL_ROUNDS} kills (durability always)`, async () => {
    const seed = process.env.SLUICE_CRASH_SEED === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Number(process.env.SLUICE_CRASH_SEED);
    const random = seededRandom(seed);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-broker-kill9-'));
    const dataDir = path.join(root, 'data');
    const portFile = path.join(root, 'ports.json');
    const startedMs = Date.now();
    const acked: AckedRecord[] = [];
    const nextSequence = Array.from({ length: UNARY_PRODUCERS + STREAM_PRODUCERS }, () => 0);
    const rounds: (RoundStats & Verification & { round: number })[] = [];
    try {
      let broker = await startBroker(dataDir, portFile);
      const bootstrap = await SluiceClient.connect({ broker: broker.address });
      const created = await bootstrap.createTopic({ name: TOPIC, partitionCount: PARTITION_COUNT });
      bootstrap.close();
      // The default durability mode, which this test is about.
      expect(created.config.durability, `seed ${seed}`).toBe('always');

      for (let round = 1; round <= KILL_ROUNDS; round++) {
        const context = `seed ${seed}, round ${round}`;
        const stats = await produceUntilKilled({ broker, round, random, nextSequence, acked, seed });
        // kill -9 leaves the lock behind with the dead pid in it; the restart must take it over.
        const lockPath = path.join(dataDir, 'LOCK');
        expect(fs.readFileSync(lockPath, 'utf8').trim(), context).toBe(String(broker.pid));
        const deadPid = broker.pid;
        broker = await startBroker(dataDir, portFile);
        expect(broker.server.logs.some((l) => l.staleOwnerPid === deadPid), `${context}: no stale-lock takeover of pid ${deadPid} logged`).toBe(true);
        expect(fs.readFileSync(lockPath, 'utf8').trim(), context).toBe(String(broker.pid));
        const verification = await verifyLog({ address: broker.address, acked, context });
        rounds.push({ round, ...stats, ...verification });
      }
      broker.server.child.kill('SIGKILL');
      await broker.server.exited;

      const context = `seed ${seed}`;
      // The check means something only if requests were acknowledged and others cut off by the kills.
      expect(acked.length, context).toBeGreaterThan(KILL_ROUNDS * ACKED_REQUESTS_BEFORE_KILL_MIN);
      expect(rounds.reduce((sum, r) => sum + r.failedAtKill, 0), `${context}: no request was in flight at any kill`).toBeGreaterThan(0);
      const elapsedS = ((Date.now() - startedMs) / 1000).toFixed(1);
      console.log(
        `broker kill -9: seed ${seed}, ${KILL_ROUNDS} kills in ${elapsedS} s, ${acked.length} acknowledged records all found\n` +
          rounds
            .map(
              (r) =>
                `  round ${r.round}: ${r.ackedRequests} requests / ${r.ackedRecords} records acknowledged; at the kill ${r.inFlightAtKill} in flight, ` +
                `${r.failedAtKill} failed (BROKER_UNAVAILABLE) within ${r.settleMs} ms; after the restart the log holds ${r.storedRecords} records, ` +
                `${r.unacknowledgedStored} of them never acknowledged (written before a kill, answer lost)`,
            )
            .join('\n'),
      );
      fs.rmSync(root, { recursive: true, force: true });
    } catch (error) {
      // The data directory is kept for a look.
      console.error(`broker kill -9 test failed: replay with SLUICE_CRASH_SEED=${seed}; data directory kept at ${dataDir}`);
      throw error;
    }
  }, 60_000);
});
