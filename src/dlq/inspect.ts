/**
 * Reading dead letters with their provenance, for the admin API and the console.
 */
import type { TopicRegistry } from '../partition/index.js';
import { type LogRecord, decodeRecords, splitBatches } from '../storage/index.js';
import { readProvenance, type Provenance } from './dead-letter.js';

export interface DeadLetterView {
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: LogRecord['headers'];
  provenance: Provenance | undefined;
}

export interface ListDeadLettersRequest {
  dlqTopic: string;
  partition?: number;
  /** Start offset in each listed partition (default: the log start). */
  fromOffset?: number;
  errorContains?: string;
  /** At most this many records (bounded by the caller's limit). */
  limit: number;
}

const READ_BYTES = 256 * 1024;

/** Lists dead letters in offset order per partition, partitions in order, up to `limit`. */
export function listDeadLetters(topics: TopicRegistry, request: ListDeadLettersRequest): DeadLetterView[] {
  const topic = topics.require(request.dlqTopic);
  const partitions = request.partition === undefined ? topic.partitions : [topics.partition(request.dlqTopic, request.partition)];
  const found: DeadLetterView[] = [];
  for (const partition of partitions) {
    const state = partition.state();
    let offset = Math.max(request.fromOffset ?? 0, state.logStartOffset);
    while (offset < state.highWatermark && found.length < request.limit) {
      const { bytes, nextOffset } = partition.read({ fromOffset: offset, maxBytes: READ_BYTES });
      for (const batch of splitBatches(bytes)) {
        for (const record of decodeRecords(batch)) {
          if (record.offset < offset || found.length >= request.limit) continue;
          const provenance = readProvenance(record);
          if (request.errorContains !== undefined && !(provenance?.error ?? '').includes(request.errorContains)) continue;
          found.push({ partition: partition.id, offset: record.offset, timestampMs: record.timestampMs, key: record.key, value: record.value, headers: record.headers, provenance });
        }
      }
      offset = nextOffset;
    }
  }
  return found;
}
