/**
 * The gRPC benchmark's result rows and their plain-text report. Every broker figure is printed beside
 * the same figure for the storage layer alone and for a bare gRPC echo server, with the ratios.
 */
import type { DurabilityMode } from '../src/config.js';
import { formatCount, formatMegabytes, formatPercent, formatTable, formatValueBytes, megabytesPerSecond, perSecond } from './harness.js';
import type { ClientMode, Percentiles, Throughput } from './grpc-measure.js';
import type { Shape } from './storage-measure.js';
import { type Target, shapeLabel } from './storage-report.js';

export interface Rates {
  requestsPerSecond: number;
  recordsPerSecond: number;
  /** Record value bytes only, 10^6 bytes/s. */
  megabytesPerSecond: number;
}

export function rates(run: Throughput): Rates & Throughput {
  return {
    ...run,
    requestsPerSecond: perSecond(run.requests, run.elapsedMs),
    recordsPerSecond: perSecond(run.records, run.elapsedMs),
    megabytesPerSecond: megabytesPerSecond(run.valueBytes, run.elapsedMs),
  };
}

export interface ProduceRow extends Shape {
  durability: DurabilityMode;
  mode: ClientMode;
  producers: number;
  inFlight: number;
  broker: Rates & Throughput;
  /** `log.append` from producers x inFlight appenders, same durability, batches pre-encoded. */
  storage: Rates & Throughput & { appenders: number };
  /** The echo server under the same load. */
  echo: Rates & Throughput;
  brokerToStorage: number;
  brokerToEcho: number;
}

export interface FetchRow extends Shape {
  backlogRecords: number;
  maxBytes: number;
  recordsPerFetch: number;
  passes: number;
  broker: Rates & Throughput;
  storage: Rates & Throughput;
  echo: Rates & Throughput;
  brokerToStorage: number;
  brokerToEcho: number;
}

export interface LatencyRow {
  durability: DurabilityMode;
  valueBytes: number;
  recordsPerSecond: number;
  durationMs: number;
  inFlight: number;
  sent: number;
  recordsPerRequest: number;
  /** Send time to the subscriber's receipt of the record. */
  delivered: Percentiles;
  /** Send time to the producer's acknowledgment. */
  acknowledged: Percentiles;
  /** Send time to `log.append` resolving, same rate, in this process. */
  storage: Percentiles;
  /** Send time to the echo server's reply, same rate and window. */
  echo: Percentiles;
}

export interface GrpcResults {
  produce: readonly ProduceRow[];
  fetch: readonly FetchRow[];
  latency: readonly LatencyRow[];
  targets: readonly Target[];
}

const right = (header: string): { header: string; align: 'right' } => ({ header, align: 'right' });

function ratio(value: number): string {
  return formatPercent(value);
}

export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return value.toFixed(0);
}

function clientLabel(row: { mode: ClientMode; producers: number; inFlight: number }): string {
  const how = row.mode === 'stream' ? `produceStream, window ${row.inFlight}` : row.inFlight === 1 ? 'unary, awaiting each' : `unary, ${row.inFlight} in flight`;
  return `${row.producers} x ${how}`;
}

function produceTable(rows: readonly ProduceRow[]): string {
  return formatTable({
    columns: [
      { header: 'value x batch' },
      { header: 'producers x client' },
      right('req/s'),
      right('records/s'),
      right('MB/s'),
      right('storage rec/s'),
      right('of storage'),
      right('echo rec/s'),
      right('of echo'),
    ],
    rows: rows.map((row) => [
      shapeLabel(row),
      clientLabel(row),
      formatCount(row.broker.requestsPerSecond),
      formatCount(row.broker.recordsPerSecond),
      formatMegabytes(row.broker.megabytesPerSecond),
      `${formatCount(row.storage.recordsPerSecond)} (${row.storage.appenders} app.)`,
      ratio(row.brokerToStorage),
      formatCount(row.echo.recordsPerSecond),
      ratio(row.brokerToEcho),
    ]),
  });
}

function fetchTable(rows: readonly FetchRow[]): string {
  return formatTable({
    columns: [
      { header: 'value x stored batch' },
      right('backlog'),
      right('records/fetch'),
      right('fetches/s'),
      right('records/s'),
      right('MB/s'),
      right('storage rec/s'),
      right('of storage'),
      right('echo rec/s'),
      right('of echo'),
    ],
    rows: rows.map((row) => [
      shapeLabel(row),
      formatCount(row.backlogRecords),
      formatCount(row.recordsPerFetch),
      formatCount(row.broker.requestsPerSecond),
      formatCount(row.broker.recordsPerSecond),
      formatMegabytes(row.broker.megabytesPerSecond),
      formatCount(row.storage.recordsPerSecond),
      ratio(row.brokerToStorage),
      formatCount(row.echo.recordsPerSecond),
      ratio(row.brokerToEcho),
    ]),
  });
}

function latencyTable(rows: readonly LatencyRow[]): string {
  return formatTable({
    columns: [
      { header: 'durability' },
      right('records'),
      right('rec/req'),
      right('p50'),
      right('p99'),
      right('p99.9'),
      right('max'),
      right('ack p50'),
      right('ack p99'),
      right('storage p50'),
      right('storage p99'),
      right('echo p50'),
      right('echo p99'),
    ],
    rows: rows.map((row) => [
      row.durability,
      `${formatCount(row.delivered.count)}/${formatCount(row.sent)}`,
      row.recordsPerRequest.toFixed(1),
      formatMs(row.delivered.p50Ms),
      formatMs(row.delivered.p99Ms),
      formatMs(row.delivered.p999Ms),
      formatMs(row.delivered.maxMs),
      formatMs(row.acknowledged.p50Ms),
      formatMs(row.acknowledged.p99Ms),
      formatMs(row.storage.p50Ms),
      formatMs(row.storage.p99Ms),
      formatMs(row.echo.p50Ms),
      formatMs(row.echo.p99Ms),
    ]),
  });
}

function targetLines(targets: readonly Target[]): string {
  return targets.map((t) => `  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: measured ${t.measured.toFixed(2)}x, required ${t.required}x`).join('\n');
}

export function formatGrpcReport(results: GrpcResults, options: { fetchBytesMax: number }): string {
  const sections: string[] = [];
  const durabilities = [...new Set(results.produce.map((row) => row.durability))];
  for (const durability of durabilities) {
    sections.push(
      `Produce throughput, durability ${durability} (one partition; MB/s = 10^6 value bytes/s). Baselines at the same ` +
        `concurrency: storage = log.append of the same batches pre-encoded, ${durability} mode, from producers x in-flight ` +
        'appenders in one process; echo = a bare grpc-js server with the same message shapes, answering at once.\n' +
        produceTable(results.produce.filter((row) => row.durability === durability)),
    );
  }
  if (results.fetch.length > 0) {
    const maxBytes = formatValueBytes(options.fetchBytesMax);
    sections.push(
      `Fetch throughput: one consumer reading a backlog (in the page cache) from offset 0, one fetch of maxBytes ${maxBytes} in flight. ` +
        `Baselines: storage = log.read({ maxBytes: ${maxBytes} }) over a log of the same shape; echo = Pull replies with records/fetch entries of the same size.\n` +
        fetchTable(results.fetch),
    );
  }
  if (results.latency.length > 0) {
    const first = results.latency[0]!;
    sections.push(
      `Produce -> subscribe latency in ms at ${formatCount(first.recordsPerSecond)} records/s offered for ${(first.durationMs / 1000).toFixed(0)} s ` +
        `(${formatValueBytes(first.valueBytes)} values carrying their send time; sent about every 1 ms on a produceStream with window ${first.inFlight}; ` +
        'a subscriber on its own connection). Latency runs from when each record was due, so a stalled sender cannot hide queueing. ' +
        'ack = the producer got the acknowledgment; storage = log.append at the same rate in one process; echo = PushStream round trip at the same rate.\n' +
        latencyTable(results.latency),
    );
  }
  if (results.targets.length > 0) sections.push(`Targets (reported, not enforced):\n${targetLines(results.targets)}`);
  return sections.join('\n\n');
}
