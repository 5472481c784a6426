import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BATCH_HEADER_BYTES,
  checkBatch,
  decodeRecords,
  encodeBatch,
  encodedBatchBytes,
  readBatchHeader,
  scanRecords,
  sliceBatch,
  splitBatches,
  type RecordInput,
} from '../../../src/base/index.js';
import { recordInputArb } from '../../helpers/records.js';

describe('record batch format', () => {
  it('round-trips any records, headers, nulls and timestamps', () => {
    fc.assert(
      fc.property(
        fc.array(recordInputArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.integer({ min: -1, max: 2 ** 40 }),
        (records, baseOffset, producerId) => {
          const batch = encodeBatch({ records, baseOffset, producerId, producerEpoch: 3, baseSequence: 7 });
          expect(batch.length).toBe(encodedBatchBytes(records));
          const check = checkBatch(batch, 0, 64 * 1024 * 1024);
          expect(check.ok).toBe(true);
          const header = readBatchHeader(batch, 0);
          expect(header.baseOffset).toBe(baseOffset);
          expect(header.recordCount).toBe(records.length);
          expect(header.producerId).toBe(producerId);
          expect(header.firstTimestampMs).toBe(records[0]!.timestampMs);
          expect(header.maxTimestampMs).toBe(Math.max(...records.map((r) => r.timestampMs)));
          const decoded = decodeRecords(batch);
          expect(decoded).toHaveLength(records.length);
          decoded.forEach((record, i) => {
            const input = records[i]!;
            expect(record.offset).toBe(baseOffset + i);
            expect(record.timestampMs).toBe(input.timestampMs);
            expect(record.key === null ? null : Buffer.from(record.key)).toEqual(input.key === null ? null : Buffer.from(input.key));
            expect(record.value === null ? null : Buffer.from(record.value)).toEqual(input.value === null ? null : Buffer.from(input.value));
            expect(record.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value) }))).toEqual(
              input.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value) })),
            );
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('scans any encoded batch to the sizes the record limits count, and refuses every truncated or extended one', () => {
    fc.assert(
      fc.property(fc.array(recordInputArb, { minLength: 1, maxLength: 30 }), fc.nat(), (records, cut) => {
        const batch = encodeBatch({ records });
        const sizeOf = (r: RecordInput): number =>
          (r.key?.length ?? 0) + (r.value?.length ?? 0) + r.headers.reduce((sum, h) => sum + Buffer.byteLength(h.key) + (h.value?.length ?? 0), 0);
        expect(scanRecords(batch)).toEqual({
          recordCount: records.length,
          payloadBytes: records.reduce((sum, r) => sum + sizeOf(r), 0),
          largestRecordBytes: Math.max(...records.map(sizeOf)),
          largestKeyBytes: Math.max(...records.map((r) => r.key?.length ?? 0)),
          mostHeaders: Math.max(...records.map((r) => r.headers.length)),
          minTimestampMs: Math.min(...records.map((r) => r.timestampMs)),
        });
        // The records' bytes cut short, or followed by extra bytes, behind a header that claims them all.
        const body = batch.subarray(BATCH_HEADER_BYTES);
        const shortened = Buffer.concat([batch.subarray(0, BATCH_HEADER_BYTES), body.subarray(0, cut % body.length)]);
        shortened.writeInt32BE(shortened.length - 12, 8);
        expect(scanRecords(shortened)).toHaveProperty('problem');
        const extended = Buffer.concat([batch, Buffer.alloc(1 + (cut % 8))]);
        extended.writeInt32BE(extended.length - 12, 8);
        expect(scanRecords(extended)).toHaveProperty('problem');
      }),
      { numRuns: 300 },
    );
  });

  it('slices any run of a batch into a valid batch of just those records, rebased at their first offset', () => {
    fc.assert(
      fc.property(
        fc.array(recordInputArb, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.nat(),
        fc.nat(),
        (records, baseOffset, a, b) => {
          const batch = encodeBatch({ records, baseOffset, producerId: 9, producerEpoch: 1, baseSequence: 100 });
          const first = Math.min(a, b) % records.length;
          const last = first + (Math.max(a, b) % (records.length - first));
          const slice = sliceBatch(batch, baseOffset + first, baseOffset + last);
          const check = checkBatch(slice, 0, 64 * 1024 * 1024);
          expect(check.ok).toBe(true);
          const header = readBatchHeader(slice, 0);
          const kept = records.slice(first, last + 1);
          expect(header).toMatchObject({
            baseOffset: baseOffset + first,
            recordCount: kept.length,
            firstTimestampMs: kept[0]!.timestampMs,
            maxTimestampMs: Math.max(...kept.map((r) => r.timestampMs)),
            baseSequence: 100 + first,
          });
          const whole = decodeRecords(batch).slice(first, last + 1);
          expect(decodeRecords(slice).map((r) => ({ ...r, key: r.key && Buffer.from(r.key), value: r.value && Buffer.from(r.value) }))).toEqual(
            whole.map((r) => ({ ...r, key: r.key && Buffer.from(r.key), value: r.value && Buffer.from(r.value) })),
          );
          if (first === 0 && last === records.length - 1) expect(slice).toBe(batch);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('detects any single flipped byte in the checksummed part', () => {
    const batch = encodeBatch({ records: [0, 1, 2].map((n) => ({ key: Buffer.from(`k${n}`), value: Buffer.from(`v${n}`), headers: [], timestampMs: n })) });
    for (let pos = 16; pos < batch.length; pos++) {
      const damaged = Buffer.from(batch);
      damaged[pos]! ^= 0x40;
      expect(checkBatch(damaged, 0, 1 << 20).ok, `flip at ${pos}`).toBe(false);
    }
  });

  it('reports a short or oversized batch instead of reading past the buffer', () => {
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.alloc(100), headers: [], timestampMs: 1 }] });
    expect(checkBatch(batch.subarray(0, BATCH_HEADER_BYTES - 1), 0, 1 << 20)).toEqual({ ok: false, problem: 'short-header' });
    expect(checkBatch(batch.subarray(0, batch.length - 1), 0, 1 << 20)).toEqual({ ok: false, problem: 'short-batch' });
    expect(checkBatch(batch, 0, batch.length - 1)).toEqual({ ok: false, problem: 'bad-length' });
  });

  it('splits back-to-back batches', () => {
    const a = encodeBatch({ records: [{ key: null, value: Buffer.from('a'), headers: [], timestampMs: 1 }] });
    const b = encodeBatch({ records: [{ key: null, value: Buffer.from('b'), headers: [], timestampMs: 2 }] });
    expect(splitBatches(Buffer.concat([a, b])).map((x) => x.length)).toEqual([a.length, b.length]);
  });

  it('matches the golden bytes pinned in test/fixtures (the on-disk format must not drift)', () => {
    const batch = encodeBatch({
      baseOffset: 42,
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 100,
      records: [
        { key: Buffer.from('order-1'), value: Buffer.from('created'), headers: [{ key: 'trace', value: Buffer.from('abc') }], timestampMs: 1_700_000_000_000 },
        { key: null, value: null, headers: [], timestampMs: 1_699_999_999_990 },
      ],
    });
    const fixture = path.join(import.meta.dirname, '../../fixtures/record-batch-v1.hex');
    const golden = fs.readFileSync(fixture, 'utf8').replace(/\s+/g, '');
    expect(batch.toString('hex')).toBe(golden);
    const [first, second] = decodeRecords(Buffer.from(golden, 'hex'));
    expect(first?.offset).toBe(42);
    expect(second?.timestampMs).toBe(1_699_999_999_990);
  });
});
