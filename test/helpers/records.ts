import fc from 'fast-check';
import type { RecordInput } from '../../src/storage/index.js';
import { decodeRecords, splitBatches, type LogRecord, type SegmentLog } from '../../src/storage/index.js';

/** A record with a recognisable value: `value-<n>` padded to `valueBytes`. */
export function numberedRecord(n: number, options: { valueBytes?: number; timestampMs?: number; key?: string } = {}): RecordInput {
  const value = Buffer.alloc(options.valueBytes ?? 32, 0x2e);
  value.write(`value-${n}`);
  return {
    key: options.key === undefined ? Buffer.from(`key-${n % 7}`) : Buffer.from(options.key),
    value,
    headers: [{ key: 'n', value: Buffer.from(String(n)) }],
    timestampMs: options.timestampMs ?? 1_700_000_000_000 + n,
  };
}

/** Reads every readable record of `log` from `fromOffset`, following nextOffset. */
export function readAll(log: SegmentLog, fromOffset: number = log.logStartOffset, maxBytes = 4096): LogRecord[] {
  const records: LogRecord[] = [];
  let offset = fromOffset;
  while (offset < log.highWatermark) {
    const result = log.read({ fromOffset: offset, maxBytes });
    for (const batch of splitBatches(result.bytes)) {
      for (const record of decodeRecords(batch)) if (record.offset >= offset) records.push(record);
    }
    if (result.nextOffset <= offset) throw new Error(`read from ${offset} made no progress`);
    offset = result.nextOffset;
  }
  return records;
}

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** Any record the batch format holds: null or empty keys and values, headers with null values, any timestamp. */
export const recordInputArb: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(bytesArb(64), { nil: null }),
  value: fc.option(bytesArb(2048), { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(bytesArb(32), { nil: null }) }), { maxLength: 4 }),
  timestampMs: fc.integer({ min: 0, max: 2 ** 45 }),
});
