/**
 * Dead-letter records: the original key, value and headers byte for byte, plus provenance headers
 * under the one reserved prefix `sluice.dlq.` (older provenance from an earlier trip through a DLQ is
 * replaced, not stacked). Redriven records carry `sluice.redrive.count`, which the loop guard reads.
 */
import type { DeliveryAttempts } from '../meta/index.js';
import type { LogRecord, RecordHeader } from '../storage/index.js';

export const DLQ_HEADER_PREFIX = 'sluice.dlq.';
export const REDRIVE_COUNT_HEADER = 'sluice.redrive.count';

/** The provenance headers, in the order they are written. */
export const DlqHeader = {
  topic: `${DLQ_HEADER_PREFIX}topic`,
  partition: `${DLQ_HEADER_PREFIX}partition`,
  offset: `${DLQ_HEADER_PREFIX}offset`,
  timestamp: `${DLQ_HEADER_PREFIX}timestamp-ms`,
  group: `${DLQ_HEADER_PREFIX}group`,
  attempts: `${DLQ_HEADER_PREFIX}attempts`,
  cause: `${DLQ_HEADER_PREFIX}cause`,
  error: `${DLQ_HEADER_PREFIX}error`,
  errorClass: `${DLQ_HEADER_PREFIX}error-class`,
  member: `${DLQ_HEADER_PREFIX}member`,
  firstFailure: `${DLQ_HEADER_PREFIX}first-failure-ms`,
  lastFailure: `${DLQ_HEADER_PREFIX}last-failure-ms`,
} as const;

export interface DeadLetterSource {
  group: string;
  topic: string;
  partition: number;
  record: LogRecord;
  attempts: DeliveryAttempts;
  cause: string;
}

export interface Provenance {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  group: string;
  attempts: number;
  cause: string;
  error: string;
  errorClass: string;
  member: string;
  firstFailureMs: number;
  lastFailureMs: number;
  redriveCount: number;
}

const text = (value: string | number): Buffer => Buffer.from(String(value), 'utf8');

/** The record to append to the DLQ topic for a record that failed its last attempt. */
export function deadLetterRecord(source: DeadLetterSource): { key: Buffer | null; value: Buffer | null; headers: RecordHeader[]; timestampMs: number } {
  const { record, attempts } = source;
  const kept = record.headers.filter((h) => !h.key.startsWith(DLQ_HEADER_PREFIX));
  const provenance: RecordHeader[] = [
    { key: DlqHeader.topic, value: text(source.topic) },
    { key: DlqHeader.partition, value: text(source.partition) },
    { key: DlqHeader.offset, value: text(record.offset) },
    { key: DlqHeader.timestamp, value: text(record.timestampMs) },
    { key: DlqHeader.group, value: text(source.group) },
    { key: DlqHeader.attempts, value: text(attempts.attempts) },
    { key: DlqHeader.cause, value: text(source.cause) },
    { key: DlqHeader.error, value: text(attempts.lastError) },
    { key: DlqHeader.errorClass, value: text(attempts.lastErrorClass) },
    { key: DlqHeader.member, value: text(attempts.lastMemberId) },
    { key: DlqHeader.firstFailure, value: text(attempts.firstFailureMs) },
    { key: DlqHeader.lastFailure, value: text(attempts.lastFailureMs) },
  ];
  return { key: record.key, value: record.value, headers: [...kept, ...provenance], timestampMs: attempts.lastFailureMs };
}

function headerText(record: LogRecord, key: string): string | undefined {
  const header = record.headers.find((h) => h.key === key);
  return header?.value === null || header === undefined ? undefined : header.value.toString('utf8');
}

/** Reads the provenance of a DLQ record (undefined if it is not one). */
export function readProvenance(record: LogRecord): Provenance | undefined {
  const topic = headerText(record, DlqHeader.topic);
  if (topic === undefined) return undefined;
  const number = (key: string): number => Number(headerText(record, key) ?? -1);
  return {
    topic,
    partition: number(DlqHeader.partition),
    offset: number(DlqHeader.offset),
    timestampMs: number(DlqHeader.timestamp),
    group: headerText(record, DlqHeader.group) ?? '',
    attempts: number(DlqHeader.attempts),
    cause: headerText(record, DlqHeader.cause) ?? '',
    error: headerText(record, DlqHeader.error) ?? '',
    errorClass: headerText(record, DlqHeader.errorClass) ?? '',
    member: headerText(record, DlqHeader.member) ?? '',
    firstFailureMs: number(DlqHeader.firstFailure),
    lastFailureMs: number(DlqHeader.lastFailure),
    redriveCount: Number(headerText(record, REDRIVE_COUNT_HEADER) ?? 0),
  };
}

/** The record to republish when redriving a DLQ record: provenance dropped, redrive count raised. */
export function redrivenRecord(record: LogRecord, provenance: Provenance): { key: Buffer | null; value: Buffer | null; headers: RecordHeader[] } {
  const headers = record.headers.filter((h) => !h.key.startsWith(DLQ_HEADER_PREFIX) && h.key !== REDRIVE_COUNT_HEADER);
  headers.push({ key: REDRIVE_COUNT_HEADER, value: text(provenance.redriveCount + 1) });
  return { key: record.key, value: record.value, headers };
}
