/**
 * Helpers for the client-library suites (test/e2e/client-*.test.ts): a `Sluice` pointed at a test
 * broker whose producers, consumers and admins are all disconnected by `closeAll`, a broker that
 * can be stopped and started again on the same data directory and port, and readers of what the
 * broker holds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/base/index.js';
import { Broker } from '../../src/broker.js';
import { type Admin, type Consumer, type ConsumerOptions, type Producer, type ProducerOptions, Sluice, type SluiceClient } from '../../src/client/index.js';
import { brokerSettings, topicConfig } from '../../src/config.js';
import { type GrpcServer, startGrpcServer } from '../../src/server/grpc/index.js';
import type { FileIO } from '../../src/storage/index.js';

/** A Sluice whose every producer, consumer and admin is remembered, for `closeAll`. */
export class TrackedSluice {
  readonly sluice: Sluice;
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(address: string, clientId = 'library-test') {
    this.sluice = new Sluice({ brokers: [address], clientId, connectTimeoutMs: 5_000, reconnectBackoffMaxMs: 200 });
  }

  producer(options?: Omit<ProducerOptions, 'serializer'>): Producer {
    const producer = this.sluice.producer(options);
    this.closers.push(() => producer.disconnect());
    return producer;
  }

  consumer<V = Buffer>(options: ConsumerOptions<V>): Consumer<V> {
    const consumer = this.sluice.consumer<V>(options);
    this.closers.push(() => consumer.disconnect());
    return consumer;
  }

  admin(): Admin {
    const admin = this.sluice.admin();
    this.closers.push(() => admin.disconnect());
    return admin;
  }

  /** Remembers something else to close (e.g. a producer built with a serializer). */
  track(closer: { disconnect(): Promise<void> }): void {
    this.closers.push(() => closer.disconnect());
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.closers.splice(0).map((close) => close()));
  }
}

/** Every record of a partition, read with plain fetches. */
export async function readPartition(client: SluiceClient, topic: string, partition: number): Promise<{ offset: number; key: string | null; value: string | null }[]> {
  const out: { offset: number; key: string | null; value: string | null }[] = [];
  let offset = 0;
  for (;;) {
    const result = await client.fetch({ topic, partition, offset });
    for (const r of result.records) out.push({ offset: r.offset, key: r.key?.toString('utf8') ?? null, value: r.value?.toString('utf8') ?? null });
    if (result.nextOffset >= result.highWatermark || result.records.length === 0) return out;
    offset = result.nextOffset;
  }
}

/** Produce requests the broker has answered so far (single and streamed). */
export async function produceRequestCount(broker: Broker): Promise<number> {
  const metric = await broker.metrics.requestSeconds.get();
  return metric.values
    .filter((v) => v.metricName === 'sluice_request_duration_seconds_count' && (v.labels.method === 'ProduceStream' || v.labels.method === 'Produce'))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A broker that can be stopped and started again on the same data directory and gRPC port. */
export class RestartableBroker {
  broker: Broker | undefined;
  private server: GrpcServer | undefined;
  port = 0;
  readonly dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-restart-'));

  constructor(
    private readonly settings: Readonly<Record<string, unknown>> = {},
    private readonly io?: FileIO,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const settings = brokerSettings({ ...this.settings, dataDir: this.dataDir, grpcPort: this.port, httpPort: 0 });
    this.broker = Broker.open({ settings, topicDefaults: topicConfig({}), logger: silentLogger, ...(this.io ? { io: this.io } : {}) });
    this.server = await startGrpcServer({ broker: this.broker, settings, logger: silentLogger, host: '127.0.0.1', port: this.port });
    this.port = this.server.port;
  }

  /** Stops the server (cutting requests still running after `graceMs`), then closes the broker. */
  async stop(graceMs = 200, afterServerClosed: () => void = () => undefined): Promise<void> {
    await this.server?.close(graceMs);
    afterServerClosed();
    await this.broker?.close();
    this.server = undefined;
    this.broker = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
