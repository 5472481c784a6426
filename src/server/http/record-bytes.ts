/**
 * How the admin API shows record bytes (keys, values, header values): exact as base64, and as text
 * when they are valid UTF-8. Shared by the routes that return records (dead letters, the record
 * browser) so both render the same bytes the same way.
 */
import type { JsonSchema } from './schemas.js';

/** Bytes as the API shows them: exact as base64, and as text when they are valid UTF-8. */
export interface RecordBytesReply {
  text: string | null;
  base64: string;
}

/** A record's header as the API shows it. */
export interface RecordHeaderReply {
  key: string;
  value: RecordBytesReply | null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `null` stays `null` (no key, no value); anything else is rendered as text (when UTF-8) and base64. */
export function recordBytesReply(value: Uint8Array | null): RecordBytesReply | null {
  if (value === null) return null;
  let text: string | null;
  try {
    text = strictUtf8.decode(value);
  } catch {
    text = null;
  }
  return { text, base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
}

/** Bytes a record occupies as limits count them: key + value + header keys and values. */
export function recordSizeBytes(record: { key: Uint8Array | null; value: Uint8Array | null; headers: readonly { key: string; value: Uint8Array | null }[] }): number {
  let total = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers) total += Buffer.byteLength(header.key) + (header.value?.length ?? 0);
  return total;
}

/** The schema of a rendered key or value (or null), for response schemas. */
export const recordBytesOrNull: JsonSchema = { anyOf: [{ $ref: 'RecordBytes#' }, { type: 'null' }] };
