/**
 * The timed loops of the gRPC benchmark. Each broker loop has a twin on the bare echo server with the
 * same message shapes and the same client-side concurrency, and one on the storage layer alone
 * (SegmentLog in this process), so a slow row can be traced to its layer:
 * - produce: `producers` connections, each keeping `inFlight` requests outstanding (produceStream
 *   with that window, or that many awaiting unary calls), against echo Push/PushStream and against
 *   `log.append` of the same batches from producers x inFlight appenders;
 * - fetch: one consumer reading a backlog with one fetch in flight, against echo Pull of replies
 *   with as many entries, and against `log.read` with the same byte budget;
 * - latency: records sent at a fixed rate carrying their send time, timed to the subscriber that
 *   receives them, against an echo round trip and `log.append` at the same rate.
 * Request payloads are built before any clock starts; every loop stops at its time budget.
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ProduceRequest, type ProduceResult, SluiceClient } from '../src/client/index.js';
import { type DurabilityMode, logConfig } from '../src/config.js';
import { type RecordInput, SegmentLog, encodeBatch } from '../src/storage/index.js';
import { EchoClient, type PushReply } from './echo-service.js';
import { MiB } from './harness.js';
import { type Shape, encodePool, logAppend } from './storage-measure.js';

/** Distinct requests per shape, up to about this many bytes (reused in turn). */
const POOL_BYTES = 8 * MiB;

export type ClientMode = 'stream' | 'unary';

/** How the clients load a server: `producers` connections, each with `inFlight` requests outstanding. */
export interface Load {
  mode: ClientMode;
  producers: number;
  inFlight: number;
}

/** One timed throughput measurement. */
export interface Throughput {
  elapsedMs: number;
  requests: number;
  records: number;
  /** Record value bytes carried (the payload; protocol and batch overhead not counted). */
  valueBytes: number;
}

// ---- payloads ----

/** The values of each request in a pool: random bytes, sliced so no two requests are alike. */
export function valuePool(shape: Shape): Buffer[][] {
  const random = randomFillSync(Buffer.allocUnsafe(shape.valueBytes + 64 * 1024));
  const requestBytes = shape.valueBytes * shape.recordsPerBatch;
  const count = Math.min(256, Math.max(4, Math.floor(POOL_BYTES / requestBytes)));
  return Array.from({ length: count }, (_, r) =>
    Array.from({ length: shape.recordsPerBatch }, (_, i) => {
      const start = (r * 7919 + i * 31) % (random.length - shape.valueBytes);
      return random.subarray(start, start + shape.valueBytes);
    }),
  );
}

// ---- the driver ----

/**
 * Runs `inFlight` workers per sender, each awaiting one request after another, until `durationMs`
 * has passed; the clock stops when the last answer arrived.
 */
async function drive(senders: readonly (() => Promise<void>)[], inFlight: number, durationMs: number): Promise<{ elapsedMs: number; requests: number }> {
  let requests = 0;
  const startMs = performance.now();
  const endMs = startMs + durationMs;
  const worker = async (send: () => Promise<void>): Promise<void> => {
    while (performance.now() < endMs) {
      await send();
      requests++;
    }
  };
  await Promise.all(senders.flatMap((send) => Array.from({ length: inFlight }, () => worker(send))));
  return { elapsedMs: performance.now() - startMs, requests };
}

async function warmUpThenMeasure(options: {
  senders: readonly (() => Promise<void>)[];
  load: Load;
  shape: Shape;
  warmUpMs: number;
  durationMs: number;
}): Promise<Throughput> {
  const { senders, load, shape } = options;
  await drive(senders, load.inFlight, options.warmUpMs);
  const { elapsedMs, requests } = await drive(senders, load.inFlight, options.durationMs);
  const records = requests * shape.recordsPerBatch;
  return { elapsedMs, requests, records, valueBytes: records * shape.valueBytes };
}

// ---- produce ----

function checkAppend(result: ProduceResult, shape: Shape): void {
  const append = result.appends[0];
  if (result.appends.length !== 1 || append === undefined || append.recordCount !== shape.recordsPerBatch) {
    throw new Error(`unexpected produce result ${JSON.stringify(result.appends)}`);
  }
}

/** Produce throughput of the broker at `address` into partition 0 of `topic`. */
export async function brokerProduce(options: {
  address: string;
  topic: string;
  shape: Shape;
  pool: readonly Buffer[][];
  load: Load;
  warmUpMs: number;
  durationMs: number;
}): Promise<Throughput> {
  const { address, topic, shape, load } = options;
  const requests: ProduceRequest[] = options.pool.map((values) => ({ topic, partition: 0, records: values.map((value) => ({ value })) }));
  const clients = await Promise.all(Array.from({ length: load.producers }, () => SluiceClient.connect({ broker: address, clientId: 'bench' })));
  const streams = load.mode === 'stream' ? clients.map((client) => client.produceStream({ inFlightMax: load.inFlight })) : [];
  try {
    let next = 0;
    const senders = clients.map((client, i) => {
      const stream = streams[i];
      const produce = (request: ProduceRequest): Promise<ProduceResult> => (stream === undefined ? client.produce(request) : stream.send(request));
      return async (): Promise<void> => checkAppend(await produce(requests[next++ % requests.length]!), shape);
    });
    return await warmUpThenMeasure({ senders, load, shape, warmUpMs: options.warmUpMs, durationMs: options.durationMs });
  } finally {
    await Promise.all(streams.map((stream) => stream.close()));
    for (const client of clients) client.close();
  }
}

/** The same load on the echo server: Push (unary) or PushStream, same values, same concurrency. */
export async function echoPush(options: { address: string; shape: Shape; pool: readonly Buffer[][]; load: Load; warmUpMs: number; durationMs: number }): Promise<Throughput> {
  const { address, shape, load } = options;
  const requests = options.pool.map((values) => ({ topic: 'echo', entries: values.map((value) => ({ value })) }));
  const clients = await Promise.all(Array.from({ length: load.producers }, () => EchoClient.connect(address)));
  const streams = load.mode === 'stream' ? clients.map((client) => client.pushStream()) : [];
  const check = (reply: PushReply): void => {
    if (reply.entryCount !== shape.recordsPerBatch) throw new Error(`echo counted ${reply.entryCount} entries, sent ${shape.recordsPerBatch}`);
  };
  try {
    let next = 0;
    const senders = clients.map((client, i) => {
      const stream = streams[i];
      return async (): Promise<void> => {
        const request = requests[next++ % requests.length]!;
        check(await (stream === undefined ? client.push({ ...request, correlationId: 0 }) : stream.send(request)));
      };
    });
    return await warmUpThenMeasure({ senders, load, shape, warmUpMs: options.warmUpMs, durationMs: options.durationMs });
  } finally {
    await Promise.all(streams.map((stream) => stream.close()));
    for (const client of clients) client.close();
  }
}

/** `log.append` of the same shape from `appenders` concurrent appenders (storage-measure's loop), in `durability` mode. */
export async function storageAppend(options: { dir: string; shape: Shape; durability: DurabilityMode; appenders: number; durationMs: number }): Promise<Throughput> {
  const { shape } = options;
  const { run } = await logAppend({
    dir: options.dir,
    pool: encodePool(shape),
    shape,
    config: logConfig({ durability: options.durability }),
    appenderCount: options.appenders,
    budget: { bytesMax: 256 * MiB, timeMs: options.durationMs },
    keepLog: false,
  });
  return { elapsedMs: run.elapsedMs, requests: run.calls, records: run.records, valueBytes: run.records * shape.valueBytes };
}

// ---- fetch ----

export interface FetchThroughput extends Throughput {
  /** Whole passes over the backlog started (a pass restarts at offset 0 when the end is reached). */
  passes: number;
}

/** One consumer fetching partition 0 of `topic` from offset 0 to its end, again and again, one fetch in flight. */
export async function brokerFetch(options: { address: string; topic: string; maxBytes: number; warmUpMs: number; durationMs: number }): Promise<FetchThroughput> {
  const client = await SluiceClient.connect({ broker: options.address });
  try {
    const [end] = await client.listOffsets({ topic: options.topic, partitions: [0], spec: 'latest' });
    const highWatermark = end!.highWatermark;
    const run = async (durationMs: number): Promise<FetchThroughput> => {
      const result: FetchThroughput = { elapsedMs: 0, requests: 0, records: 0, valueBytes: 0, passes: 0 };
      const startMs = performance.now();
      let offset = highWatermark;
      while (performance.now() - startMs < durationMs) {
        if (offset >= highWatermark) {
          offset = 0;
          result.passes++;
        }
        const batch = await client.fetch({ topic: options.topic, partition: 0, offset, maxBytes: options.maxBytes });
        result.requests++;
        result.records += batch.records.length;
        for (const record of batch.records) result.valueBytes += record.value?.length ?? 0;
        offset = batch.nextOffset;
      }
      result.elapsedMs = performance.now() - startMs;
      return result;
    };
    await run(options.warmUpMs);
    return await run(options.durationMs);
  } finally {
    client.close();
  }
}

/** Echo Pull of replies with `entryCount` entries of `valueBytes`, one in flight. */
export async function echoPull(options: { address: string; entryCount: number; valueBytes: number; warmUpMs: number; durationMs: number }): Promise<Throughput> {
  const client = await EchoClient.connect(options.address);
  const shape = { valueBytes: options.valueBytes, recordsPerBatch: options.entryCount };
  try {
    const send = async (): Promise<void> => {
      const reply = await client.pull({ entryCount: options.entryCount, valueBytes: options.valueBytes });
      if (reply.entries.length !== options.entryCount) throw new Error(`echo pulled ${reply.entries.length} entries, asked ${options.entryCount}`);
    };
    return await warmUpThenMeasure({ senders: [send], load: { mode: 'unary', producers: 1, inFlight: 1 }, shape, warmUpMs: options.warmUpMs, durationMs: options.durationMs });
  } finally {
    client.close();
  }
}

/**
 * `log.read` with the fetch's byte budget over a log of the same shape written just before (in
 * `never` mode, so it is in the page cache, as the broker's backlog is), in whole passes.
 */
export async function storageRead(options: { dir: string; shape: Shape; maxBytes: number; writeMs: number; durationMs: number }): Promise<Throughput> {
  const { shape } = options;
  const { logDir } = await logAppend({
    dir: options.dir,
    pool: encodePool(shape),
    shape,
    config: logConfig({ durability: 'never' }),
    appenderCount: 1,
    budget: { bytesMax: 256 * MiB, timeMs: options.writeMs },
    keepLog: true,
  });
  const log = SegmentLog.open({ dir: logDir, config: logConfig({ durability: 'never' }) });
  try {
    const result: Throughput = { elapsedMs: 0, requests: 0, records: 0, valueBytes: 0 };
    const startMs = performance.now();
    do {
      for (let fromOffset: number = log.logStartOffset; fromOffset < log.highWatermark; ) {
        const read = log.read({ fromOffset, maxBytes: options.maxBytes });
        result.requests++;
        result.records += read.nextOffset - fromOffset;
        fromOffset = read.nextOffset;
      }
    } while (performance.now() - startMs < options.durationMs);
    result.elapsedMs = performance.now() - startMs;
    result.valueBytes = result.records * shape.valueBytes;
    return result;
  } finally {
    await log.close();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}

// ---- latency ----

export interface Percentiles {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export function percentiles(samplesMs: readonly number[]): Percentiles {
  const sorted = Float64Array.from(samplesMs).sort();
  const at = (q: number): number => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return { count: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! };
}

/** Wall-clock milliseconds with sub-millisecond resolution (one clock for sender and receiver: both are this process). */
function nowEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

interface PacedBatch {
  /** Index of the batch's first record in this run. */
  firstIndex: number;
  count: number;
  /** When record `index` was due: latencies are taken from it, so a stalled sender cannot hide queueing. */
  intendedMs: (index: number) => number;
}

/**
 * Calls `send` about once a millisecond with the records that fell due since the last call, for
 * `recordsPerSecond` x `durationMs` records in all; resolves once every send settled.
 */
async function pace(options: { recordsPerSecond: number; durationMs: number; send: (batch: PacedBatch) => Promise<void> }): Promise<{ requests: number }> {
  const intervalMs = 1000 / options.recordsPerSecond;
  const total = Math.round((options.recordsPerSecond * options.durationMs) / 1000);
  const startMs = nowEpochMs();
  const intendedMs = (index: number): number => startMs + index * intervalMs;
  const sends: Promise<void>[] = [];
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((nowEpochMs() - startMs) / intervalMs) + 1, sent + 1000);
    if (due > sent) {
      sends.push(options.send({ firstIndex: sent, count: due - sent, intendedMs }));
      sent = due;
    }
    await sleep(1);
  }
  await Promise.all(sends);
  return { requests: sends.length };
}

/** A value that carries its send time (float64 at byte 0) and whether it is a warm-up record (byte 8). */
function timedValue(valueBytes: number, intendedMs: number, warmUp: boolean): Buffer {
  const value = Buffer.alloc(valueBytes);
  value.writeDoubleLE(intendedMs, 0);
  value[8] = warmUp ? 1 : 0;
  return value;
}

export interface BrokerLatency {
  sent: number;
  delivered: Percentiles;
  acknowledged: Percentiles;
  requests: number;
}

/**
 * Records at `recordsPerSecond` into partition 0 of `topic` (fresh) through a produceStream with
 * `inFlight` requests at most, each carrying its send time; a subscriber on another connection
 * takes each record's latency when its batch arrives. A warm-up at the same rate comes first.
 */
export async function brokerLatency(options: {
  address: string;
  topic: string;
  valueBytes: number;
  recordsPerSecond: number;
  inFlight: number;
  warmUpMs: number;
  durationMs: number;
}): Promise<BrokerLatency> {
  const { topic, valueBytes, recordsPerSecond } = options;
  const producer = await SluiceClient.connect({ broker: options.address, clientId: 'bench-latency' });
  const consumer = await SluiceClient.connect({ broker: options.address, clientId: 'bench-latency' });
  const stream = producer.produceStream({ inFlightMax: options.inFlight });
  const deliveredMs: number[] = [];
  const acknowledgedMs: number[] = [];
  const total = Math.round((recordsPerSecond * options.durationMs) / 1000);
  let received = 0;
  const abort = new AbortController();
  let allDelivered: () => void = () => {};
  const delivered = new Promise<void>((resolve) => (allDelivered = resolve));
  const subscription = (async () => {
    for await (const batch of consumer.subscribe({ topic, partition: 0, offset: 0 }, { signal: abort.signal })) {
      const nowMs = nowEpochMs();
      for (const record of batch.records) {
        const value = record.value!;
        if (value[8] === 1) continue;
        deliveredMs.push(nowMs - value.readDoubleLE(0));
        if (++received === total) allDelivered();
      }
    }
  })();
  try {
    const sendPhase = (warmUp: boolean, durationMs: number): Promise<{ requests: number }> =>
      pace({
        recordsPerSecond,
        durationMs,
        send: async ({ firstIndex, count, intendedMs }) => {
          const times = Array.from({ length: count }, (_, i) => intendedMs(firstIndex + i));
          await stream.send({ topic, partition: 0, records: times.map((t) => ({ value: timedValue(valueBytes, t, warmUp) })) });
          if (warmUp) return;
          const nowMs = nowEpochMs();
          for (const t of times) acknowledgedMs.push(nowMs - t);
        },
      });
    await sendPhase(true, options.warmUpMs);
    const { requests } = await sendPhase(false, options.durationMs);
    const timeout = sleep(10_000, 'timeout' as const);
    if ((await Promise.race([delivered.then(() => 'done' as const), timeout])) === 'timeout') {
      throw new Error(`the subscriber received ${received} of ${total} records within 10 s of the last send`);
    }
    return { sent: total, delivered: percentiles(deliveredMs), acknowledged: percentiles(acknowledgedMs), requests };
  } finally {
    abort.abort();
    await subscription.catch(() => {});
    await stream.close();
    producer.close();
    consumer.close();
  }
}

/** The same paced sends as echo PushStream round trips (reply arrival minus send time). */
export async function echoLatency(options: {
  address: string;
  valueBytes: number;
  recordsPerSecond: number;
  inFlight: number;
  warmUpMs: number;
  durationMs: number;
}): Promise<Percentiles> {
  const client = await EchoClient.connect(options.address);
  const stream = client.pushStream();
  const samplesMs: number[] = [];
  let inFlight = 0;
  const slots: (() => void)[] = [];
  try {
    const phase = (warmUp: boolean, durationMs: number): Promise<unknown> =>
      pace({
        recordsPerSecond: options.recordsPerSecond,
        durationMs,
        send: async ({ firstIndex, count, intendedMs }) => {
          // The produce stream's window, here by hand: at most `inFlight` requests outstanding.
          while (inFlight >= options.inFlight) await new Promise<void>((resolve) => slots.push(resolve));
          inFlight++;
          const times = Array.from({ length: count }, (_, i) => intendedMs(firstIndex + i));
          try {
            await stream.send({ topic: 'echo', entries: times.map((t) => ({ value: timedValue(options.valueBytes, t, warmUp) })) });
          } finally {
            inFlight--;
            slots.shift()?.();
          }
          if (warmUp) return;
          const nowMs = nowEpochMs();
          for (const t of times) samplesMs.push(nowMs - t);
        },
      });
    await phase(true, options.warmUpMs);
    await phase(false, options.durationMs);
    return percentiles(samplesMs);
  } finally {
    await stream.close();
    client.close();
  }
}

/** The same paced records appended to a SegmentLog in this process (encoding included, as the broker encodes). */
export async function storageLatency(options: {
  dir: string;
  durability: DurabilityMode;
  valueBytes: number;
  recordsPerSecond: number;
  warmUpMs: number;
  durationMs: number;
}): Promise<Percentiles> {
  const logDir = path.join(options.dir, `latency-${options.durability}`);
  const log = SegmentLog.open({ dir: logDir, config: logConfig({ durability: options.durability }) });
  const samplesMs: number[] = [];
  try {
    const phase = (warmUp: boolean, durationMs: number): Promise<unknown> =>
      pace({
        recordsPerSecond: options.recordsPerSecond,
        durationMs,
        send: async ({ firstIndex, count, intendedMs }) => {
          const times = Array.from({ length: count }, (_, i) => intendedMs(firstIndex + i));
          const records: RecordInput[] = times.map((t) => ({ key: null, value: timedValue(options.valueBytes, t, warmUp), headers: [], timestampMs: Math.floor(t) }));
          await log.append([encodeBatch({ records })]);
          if (warmUp) return;
          const nowMs = nowEpochMs();
          for (const t of times) samplesMs.push(nowMs - t);
        },
      });
    await phase(true, options.warmUpMs);
    await phase(false, options.durationMs);
    return percentiles(samplesMs);
  } finally {
    await log.close();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}
