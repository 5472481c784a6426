import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../src/errors.js';
import { ProducerStateTable, nextSequence } from '../../../src/partition/index.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    return (error as BrokerError).code;
  }
  throw new Error('expected an error');
}

describe('idempotent producer state', () => {
  const written = (table: ProducerStateTable, baseSequence: number, count: number, baseOffset: number, producerEpoch = 0) =>
    table.record({ producerId: 7, producerEpoch, baseSequence, lastSequence: nextSequence(baseSequence, count - 1), baseOffset, lastOffset: baseOffset + count - 1, timestampMs: 1 });

  it('accepts a new producer at sequence 0 and each batch that continues the last one', () => {
    const table = new ProducerStateTable();
    expect(table.check({ producerId: 7, producerEpoch: 0, baseSequence: 0, recordCount: 3 })).toEqual({ kind: 'append' });
    written(table, 0, 3, 100);
    expect(table.check({ producerId: 7, producerEpoch: 0, baseSequence: 3, recordCount: 2 })).toEqual({ kind: 'append' });
  });

  it('answers a retried batch with its original offsets, for any of the last five batches', () => {
    const table = new ProducerStateTable();
    for (let i = 0; i < 6; i++) written(table, i * 10, 10, 1000 + i * 10);
    const retry = table.check({ producerId: 7, producerEpoch: 0, baseSequence: 20, recordCount: 10 });
    expect(retry).toEqual({ kind: 'duplicate', batch: { baseSequence: 20, lastSequence: 29, baseOffset: 1020, lastOffset: 1029 } });
    // The first batch fell out of the window: it can no longer be told apart from a gap.
    expect(codeOf(() => table.check({ producerId: 7, producerEpoch: 0, baseSequence: 0, recordCount: 10 }))).toBe('OUT_OF_ORDER_SEQUENCE');
  });

  it('refuses a batch that skips ahead, a stale epoch, and an unknown producer past sequence 0', () => {
    const table = new ProducerStateTable();
    written(table, 0, 5, 0, 2);
    expect(codeOf(() => table.check({ producerId: 7, producerEpoch: 2, baseSequence: 6, recordCount: 1 }))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(codeOf(() => table.check({ producerId: 7, producerEpoch: 1, baseSequence: 5, recordCount: 1 }))).toBe('UNKNOWN_PRODUCER');
    expect(codeOf(() => table.check({ producerId: 8, producerEpoch: 0, baseSequence: 4, recordCount: 1 }))).toBe('UNKNOWN_PRODUCER');
    // A new epoch starts again from sequence 0.
    expect(table.check({ producerId: 7, producerEpoch: 3, baseSequence: 0, recordCount: 1 })).toEqual({ kind: 'append' });
  });

  it('wraps sequences after 2^31 - 1 as Kafka does', () => {
    expect(nextSequence(0x7fff_ffff)).toBe(0);
    const table = new ProducerStateTable();
    table.record({ producerId: 7, producerEpoch: 0, baseSequence: 0x7fff_fffe, lastSequence: 0x7fff_ffff, baseOffset: 0, lastOffset: 1, timestampMs: 1 });
    expect(table.check({ producerId: 7, producerEpoch: 0, baseSequence: 0, recordCount: 1 })).toEqual({ kind: 'append' });
  });

  it('survives a snapshot round trip, expires idle producers and forgets truncated batches', () => {
    const table = new ProducerStateTable();
    written(table, 0, 2, 10);
    written(table, 2, 2, 12);
    const restored = new ProducerStateTable(table.snapshot(14));
    expect(restored.check({ producerId: 7, producerEpoch: 0, baseSequence: 2, recordCount: 2 }).kind).toBe('duplicate');
    restored.truncate(12);
    expect(restored.check({ producerId: 7, producerEpoch: 0, baseSequence: 2, recordCount: 2 })).toEqual({ kind: 'append' });
    expect(restored.expire(2)).toBe(1);
    expect(restored.producerCount).toBe(0);
  });
});
