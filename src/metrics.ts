/**
 * The broker's Prometheus metrics, in one registry per broker instance (tests run several brokers in
 * one process). The broker and the transports record into it; the HTTP admin serves it at /metrics.
 * Per-partition gauges and per-group lag gauges are read from the broker when scraped, not kept up to
 * date on the hot path. `totals()` sums the counters for the admin API's overview (prom-client stays
 * in this file).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface PartitionGaugeSample {
  topic: string;
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  sizeBytes: number;
}

/** The journal's counters since start-up, its longest fdatasync since the previous scrape, and its files on disk. */
export interface JournalMetricsSample {
  syncs: number;
  syncSeconds: number;
  syncSecondsMax: number;
  writtenBytes: number;
  skippedForSize: number;
  skippedForRate: number;
  files: number;
}

/** Sums of the broker's counters over all their labels since start-up, for the admin API's overview. */
export interface CounterTotals {
  produceRecords: number;
  produceBytes: number;
  fetchRecords: number;
  fetchBytes: number;
  deliveredRecords: number;
  deliveredBytes: number;
  redeliveredRecords: number;
  deadLetteredRecords: number;
  produceRejections: number;
  /** Requests answered with an error, every transport and code. */
  errors: number;
}

/** Requests answered with one error code over one transport since start-up. */
export interface ErrorCount {
  transport: string;
  code: string;
  count: number;
}

/** One partition of one consumer group, as the lag gauges report it. */
export interface GroupLagSample {
  group: string;
  topic: string;
  partition: number;
  lagRecords: number;
  /** Age of the oldest unconsumed record, in seconds (0 without lag). */
  lagSeconds: number;
}

/**
 * Wraps `read` so that the metrics of one scrape share one reading: a scrape (`registry.metrics()`)
 * runs every synchronous collect() in one synchronous pass, and the reading is forgotten at the next
 * microtask, before any other scrape can start.
 */
function oncePerScrape<T>(read: () => T): () => T {
  let reading: { value: T } | undefined;
  return () => {
    if (reading === undefined) {
      reading = { value: read() };
      queueMicrotask(() => {
        reading = undefined;
      });
    }
    return reading.value;
  };
}

export class BrokerMetrics {
  readonly registry = new Registry();

  readonly produceRecords = new Counter({ name: 'sluice_produce_records_total', help: 'Records appended, by topic.', labelNames: ['topic'], registers: [this.registry] });
  readonly produceBytes = new Counter({ name: 'sluice_produce_bytes_total', help: 'Record bytes (key + value + headers) appended, by topic.', labelNames: ['topic'], registers: [this.registry] });
  readonly fetchRecords = new Counter({ name: 'sluice_fetch_records_total', help: 'Records returned by fetches, by topic.', labelNames: ['topic'], registers: [this.registry] });
  readonly fetchBytes = new Counter({ name: 'sluice_fetch_bytes_total', help: 'Batch bytes returned by fetches, by topic.', labelNames: ['topic'], registers: [this.registry] });
  readonly deliveredRecords = new Counter({
    name: 'sluice_delivered_records_total',
    help: 'Records delivered to consumer-group members (redeliveries included), by topic and group.',
    labelNames: ['topic', 'group'],
    registers: [this.registry],
  });
  readonly deliveredBytes = new Counter({
    name: 'sluice_delivered_bytes_total',
    help: 'Bytes of record batches (as stored in the log) delivered to consumer-group members, by topic and group.',
    labelNames: ['topic', 'group'],
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'sluice_request_duration_seconds',
    help: 'Request latency by transport and method.',
    labelNames: ['transport', 'method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly errors = new Counter({ name: 'sluice_errors_total', help: 'Requests answered with an error, by transport and error code.', labelNames: ['transport', 'code'], registers: [this.registry] });
  readonly produceRejections = new Counter({
    name: 'sluice_produce_rejections_total',
    help: 'Produce requests refused for backpressure or quotas, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly droppedUnconsumedRecords = new Counter({
    name: 'sluice_dropped_unconsumed_records_total',
    help: 'Records deleted by fullPolicy drop-oldest before some consumer group had consumed them, by topic.',
    labelNames: ['topic'],
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'sluice_dead_lettered_records_total',
    help: 'Records moved to a dead-letter topic, by source topic and group.',
    labelNames: ['topic', 'group'],
    registers: [this.registry],
  });
  readonly redeliveries = new Counter({
    name: 'sluice_redelivered_records_total',
    help: 'Deliveries of a record after a failed attempt, by topic and group.',
    labelNames: ['topic', 'group'],
    registers: [this.registry],
  });
  readonly inFlightProduceBytes = new Gauge({ name: 'sluice_in_flight_produce_bytes', help: 'Produce bytes being written now.', registers: [this.registry] });

  /**
   * `partitionSamples`, `groupLagSamples` and `journalSample` are called on each scrape. Group lag is
   * computed once per scrape for both of its gauges (it reads the oldest unconsumed record of each
   * lagging partition), the journal's sample once for all of its metrics.
   */
  constructor(
    partitionSamples: () => PartitionGaugeSample[],
    groupLagSamples: () => GroupLagSample[] = () => [],
    journalSample: (() => JournalMetricsSample) | undefined = undefined,
  ) {
    const registers = [this.registry];
    const labelNames = ['topic', 'partition'] as const;
    const gauge = (name: string, help: string, pick: (s: PartitionGaugeSample) => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const sample of partitionSamples()) this.set({ topic: sample.topic, partition: String(sample.partition) }, pick(sample));
        },
      });
    };
    gauge('sluice_log_start_offset', 'First offset still stored, per partition.', (s) => s.logStartOffset);
    gauge('sluice_log_end_offset', 'Offset the next record gets, per partition.', (s) => s.logEndOffset);
    gauge('sluice_log_size_bytes', 'Bytes of segment files, per partition.', (s) => s.sizeBytes);

    const currentLag = oncePerScrape(groupLagSamples);
    const lagGauge = (name: string, help: string, pick: (s: GroupLagSample) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['group', 'topic', 'partition'] as const,
        registers,
        collect() {
          this.reset();
          for (const sample of currentLag()) this.set({ group: sample.group, topic: sample.topic, partition: String(sample.partition) }, pick(sample));
        },
      });
    };
    lagGauge('sluice_group_lag_records', 'Records between a consumer group’s committed offset and the high watermark, per group partition.', (s) => s.lagRecords);
    lagGauge(
      'sluice_group_lag_seconds',
      'Age in seconds of the oldest record a consumer group has not consumed (at its committed offset), per group partition; 0 without lag.',
      (s) => s.lagSeconds,
    );
    if (journalSample !== undefined) this.registerJournal(journalSample);
  }

  /** The journal's metrics, from one sample per scrape (taking it resets the longest sync). */
  private registerJournal(journalSample: () => JournalMetricsSample): void {
    const registers = [this.registry];
    const current = oncePerScrape(journalSample);
    const counter = (name: string, help: string, pick: (s: JournalMetricsSample) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(current()));
        },
      });
    };
    counter('sluice_journal_syncs_total', 'fdatasyncs of the journal (each acknowledges the always appends of every partition written before it).', (s) => s.syncs);
    counter('sluice_journal_sync_seconds_total', 'Seconds from starting each fdatasync of the journal to seeing it complete.', (s) => s.syncSeconds);
    counter('sluice_journal_written_bytes_total', 'Bytes written to the journal.', (s) => s.writtenBytes);
    new Counter({
      name: 'sluice_journal_skipped_appends_total',
      help: 'Appends to always partitions that fsynced their segment instead of going through the journal, by reason (size: above journalAppendBytesMax; rate: above journalBytesPerSecondMax).',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        const s = current();
        this.inc({ reason: 'size' }, s.skippedForSize);
        this.inc({ reason: 'rate' }, s.skippedForRate);
      },
    });
    new Gauge({
      name: 'sluice_journal_sync_seconds_max',
      help: 'The longest fdatasync of the journal since the previous scrape, in seconds.',
      registers,
      collect() {
        this.set(current().syncSecondsMax);
      },
    });
    new Gauge({
      name: 'sluice_journal_files',
      help: 'Journal files on disk (one while the broker runs; more while retired files wait for their checkpoint, or kept for a later start).',
      registers,
      collect() {
        this.set(current().files);
      },
    });
  }

  /**
   * Every counter summed over its labels, and the error counter per transport and code. Totals only
   * grow (until a restart), so a poller computes rates from two readings and the time between them.
   */
  async totals(): Promise<{ counters: CounterTotals; errors: ErrorCount[] }> {
    const sum = async <T extends string>(counter: Counter<T>): Promise<number> => (await counter.get()).values.reduce((total, sample) => total + sample.value, 0);
    const errorSamples = (await this.errors.get()).values;
    const errors = errorSamples
      .map((sample) => ({ transport: String(sample.labels.transport ?? ''), code: String(sample.labels.code ?? ''), count: sample.value }))
      .filter((entry) => entry.count > 0)
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code) || a.transport.localeCompare(b.transport));
    return {
      counters: {
        produceRecords: await sum(this.produceRecords),
        produceBytes: await sum(this.produceBytes),
        fetchRecords: await sum(this.fetchRecords),
        fetchBytes: await sum(this.fetchBytes),
        deliveredRecords: await sum(this.deliveredRecords),
        deliveredBytes: await sum(this.deliveredBytes),
        redeliveredRecords: await sum(this.redeliveries),
        deadLetteredRecords: await sum(this.deadLettered),
        produceRejections: await sum(this.produceRejections),
        errors: errors.reduce((total, entry) => total + entry.count, 0),
      },
      errors,
    };
  }
}
