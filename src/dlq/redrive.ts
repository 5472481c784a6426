/**
 * Redrive: republishing dead letters to their source topic (or another), once the cause is fixed.
 *
 * A redrive is a cursor over the DLQ topic, one per set of parameters (DLQ topic, target, filters,
 * range): running the same redrive again continues where the last run stopped and moves only what
 * arrived since. Progress is saved durably after each step, and records are written as an
 * idempotent producer with per-partition sequences saved with that progress: after a crash between
 * a write and its progress save, the re-run re-sends the same batch with the same sequences and the
 * partition recognises it as a duplicate. So an interrupted redrive never moves a record twice.
 *
 * Loop guard: each redriven record carries `sluice.redrive.count`; a record already redriven
 * `redriveCountMax` times is skipped unless `force` is set.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../base/index.js';
import { BrokerError } from '../errors.js';
import type { MetaStore, RedriveJob } from '../meta/index.js';
import { partitionForKey, type TopicRegistry } from '../partition/index.js';
import { type LogRecord, decodeRecords, splitBatches } from '../storage/index.js';
import { readProvenance, redrivenRecord, type Provenance } from './dead-letter.js';

export interface RedriveRequest {
  dlqTopic: string;
  /** Where to republish; default: each record's original topic. */
  toTopic?: string;
  /** Only this DLQ partition (default: all). */
  dlqPartition?: number;
  /** DLQ offset range [fromOffset, toOffset) in each selected DLQ partition. */
  fromOffset?: number;
  toOffset?: number;
  /** Only dead letters that came from this partition of their original topic. */
  originalPartition?: number;
  /** Only dead letters whose last error contains this text. */
  errorContains?: string;
  /** Show what would move without moving anything. */
  dryRun?: boolean;
  /** Rate limit in records per second (absent: as fast as it goes). */
  recordsPerSecondMax?: number;
  /** Loop guard: records redriven this many times already are skipped (default 3). */
  redriveCountMax?: number;
  /** Redrive records the loop guard would skip. */
  force?: boolean;
}

export interface RedrivePreviewEntry {
  dlqPartition: number;
  dlqOffset: number;
  toTopic: string;
  toPartition: number;
  originalOffset: number;
  error: string;
}

export interface RedriveResult {
  jobId: string;
  dryRun: boolean;
  movedCount: number;
  skippedByLoopGuardCount: number;
  /** Records in the range that did not match the filters (or were not dead letters). */
  skippedByFilterCount: number;
  /** Totals over every run of this redrive. */
  totalMovedCount: number;
  /** For a dry run, the first records that would move. */
  preview: RedrivePreviewEntry[];
}

const PREVIEW_MAX = 100;
const STEP_RECORDS_MAX = 500;
const READ_BYTES = 256 * 1024;
const DEFAULT_REDRIVE_COUNT_MAX = 3;

export class Redriver {
  private readonly running = new Set<string>();

  constructor(
    private readonly topics: TopicRegistry,
    private readonly meta: MetaStore,
    private readonly clock: Clock,
  ) {}

  /** The job id of a redrive: the DLQ topic and a digest of what selects and targets its records. */
  static jobId(request: RedriveRequest): string {
    const selection = [request.toTopic, request.dlqPartition, request.fromOffset, request.toOffset, request.originalPartition, request.errorContains, request.force];
    const digest = createHash('sha256').update(JSON.stringify(selection)).digest('hex').slice(0, 16);
    return `${request.dlqTopic}.redrive-${digest}`;
  }

  async redrive(request: RedriveRequest): Promise<RedriveResult> {
    const dlq = this.topics.require(request.dlqTopic);
    if (request.toTopic !== undefined) this.topics.require(request.toTopic);
    const jobId = Redriver.jobId(request);
    if (this.running.has(jobId)) throw new BrokerError('BROKER_BUSY', `redrive ${jobId} is already running`, { jobId, retryAfterMs: 1000 });
    const dryRun = request.dryRun === true;
    const stored = this.meta.getRedriveJob(jobId);
    const job: RedriveJob = stored ?? {
      jobId,
      dlqTopic: request.dlqTopic,
      producerId: dryRun ? 0 : await this.meta.allocateProducerId(),
      nextOffsets: {},
      nextSequences: {},
      movedCount: 0,
      skippedCount: 0,
      createdAtMs: this.clock.nowMs(),
      updatedAtMs: this.clock.nowMs(),
    };
    // A new job is saved before it writes anything: a resumed run must reuse its producer id.
    if (stored === undefined && !dryRun) await this.meta.putRedriveJob(job);
    const result: RedriveResult = { jobId, dryRun, movedCount: 0, skippedByLoopGuardCount: 0, skippedByFilterCount: 0, totalMovedCount: job.movedCount, preview: [] };
    const partitions = request.dlqPartition === undefined ? dlq.partitions : [this.topics.partition(request.dlqTopic, request.dlqPartition)];
    this.running.add(jobId);
    try {
      for (const partition of partitions) {
        const state = partition.state();
        const end = Math.min(request.toOffset ?? Number.MAX_SAFE_INTEGER, state.highWatermark);
        let next = Math.max(job.nextOffsets[partition.id] ?? request.fromOffset ?? 0, state.logStartOffset);
        while (next < end) {
          const { records, through } = this.readStep(request.dlqTopic, partition.id, next, end);
          const chosen: { record: LogRecord; provenance: Provenance }[] = [];
          for (const record of records) {
            const provenance = readProvenance(record);
            if (provenance === undefined || !matches(request, provenance)) result.skippedByFilterCount++;
            else if (provenance.redriveCount >= (request.redriveCountMax ?? DEFAULT_REDRIVE_COUNT_MAX) && request.force !== true) result.skippedByLoopGuardCount++;
            else chosen.push({ record, provenance });
          }
          if (dryRun) {
            for (const { record, provenance } of chosen) {
              if (result.preview.length >= PREVIEW_MAX) break;
              const target = this.target(request, record, provenance);
              result.preview.push({ dlqPartition: partition.id, dlqOffset: record.offset, toTopic: target.topic, toPartition: target.partition, originalOffset: provenance.offset, error: provenance.error });
            }
            result.movedCount += chosen.length;
          } else {
            await this.move(request, job, chosen);
            job.nextOffsets[partition.id] = through + 1;
            job.movedCount += chosen.length;
            job.skippedCount += records.length - chosen.length;
            job.updatedAtMs = this.clock.nowMs();
            await this.meta.putRedriveJob(job);
            result.movedCount += chosen.length;
            await this.throttle(request.recordsPerSecondMax, chosen.length);
          }
          next = through + 1;
        }
      }
    } finally {
      this.running.delete(jobId);
    }
    result.totalMovedCount = job.movedCount;
    return result;
  }

  private readStep(topic: string, partitionId: number, from: number, end: number): { records: LogRecord[]; through: number } {
    const { bytes, nextOffset } = this.topics.partition(topic, partitionId).read({ fromOffset: from, maxBytes: READ_BYTES });
    const records: LogRecord[] = [];
    let through = Math.min(nextOffset, end) - 1;
    outer: for (const batch of splitBatches(bytes)) {
      for (const record of decodeRecords(batch)) {
        if (record.offset < from) continue;
        if (record.offset >= end || records.length >= STEP_RECORDS_MAX) {
          through = record.offset - 1;
          break outer;
        }
        records.push(record);
      }
    }
    return { records, through };
  }

  private target(request: RedriveRequest, record: LogRecord, provenance: Provenance): { topic: string; partition: number } {
    const topic = request.toTopic ?? provenance.topic;
    const count = this.topics.require(topic).partitions.length;
    if (topic === provenance.topic && provenance.partition >= 0 && provenance.partition < count) return { topic, partition: provenance.partition };
    return { topic, partition: record.key === null ? 0 : partitionForKey(record.key, count) };
  }

  /** Appends the chosen records, one idempotent batch per target partition, in DLQ order within each. */
  private async move(request: RedriveRequest, job: RedriveJob, chosen: { record: LogRecord; provenance: Provenance }[]): Promise<void> {
    const byTarget = new Map<string, { topic: string; partition: number; records: ReturnType<typeof redrivenRecord>[] }>();
    for (const { record, provenance } of chosen) {
      const target = this.target(request, record, provenance);
      const key = `${target.topic}/${target.partition}`;
      let group = byTarget.get(key);
      if (group === undefined) {
        group = { ...target, records: [] };
        byTarget.set(key, group);
      }
      group.records.push(redrivenRecord(record, provenance));
    }
    for (const [key, group] of byTarget) {
      const partition = this.topics.partition(group.topic, group.partition);
      const now = this.clock.nowMs();
      const records = group.records.map((r) => ({ ...r, timestampMs: now }));
      const append = () => partition.append({ records, producer: { producerId: job.producerId, producerEpoch: 0, baseSequence: job.nextSequences[key] ?? 0 } });
      try {
        await append();
      } catch (error) {
        // The partition forgot this job's producer id (idle past producerIdExpirationMs): no batch of
        // it can still be in doubt, so the job continues under a new id.
        if (!(error instanceof BrokerError && error.code === 'UNKNOWN_PRODUCER')) throw error;
        job.producerId = await this.meta.allocateProducerId();
        job.nextSequences = {};
        await append();
      }
      const baseSequence = job.nextSequences[key] ?? 0;
      if (partition.config.durability !== 'always') await partition.flush();
      job.nextSequences[key] = baseSequence + group.records.length;
    }
  }

  private async throttle(recordsPerSecondMax: number | undefined, moved: number): Promise<void> {
    if (recordsPerSecondMax === undefined || recordsPerSecondMax <= 0 || moved === 0) return;
    const waitMs = (moved / recordsPerSecondMax) * 1000;
    await new Promise<void>((resolve) => this.clock.setTimer(waitMs, resolve));
  }
}

function matches(request: RedriveRequest, provenance: Provenance): boolean {
  if (request.originalPartition !== undefined && provenance.partition !== request.originalPartition) return false;
  if (request.errorContains !== undefined && !provenance.error.includes(request.errorContains)) return false;
  return true;
}
