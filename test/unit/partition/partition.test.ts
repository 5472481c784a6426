import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../../src/base/index.js';
import { topicConfig } from '../../../src/config.js';
import { Partition, type ProducerSnapshot } from '../../../src/partition/index.js';
import { MemoryFileIO, type RecordInput } from '../../../src/storage/index.js';

const dir = '/data/topics/t-1/0';
const config = topicConfig({ segmentBytesMax: 64 * 1024, batchBytesMax: 8 * 1024 });
const records = (n: number, size = 20): RecordInput[] =>
  Array.from({ length: n }, (_, i) => ({ key: Buffer.from('k'), value: Buffer.alloc(size, i), headers: [], timestampMs: 1000 + i }));

function openPartition(io: MemoryFileIO, clock: ManualClock, snapshot?: ProducerSnapshot): Partition {
  return Partition.open({ topic: 't', id: 0, dir, config, io, clock, logger: silentLogger, ...(snapshot ? { snapshot } : {}) });
}

describe('Partition', () => {
  it('splits an append larger than batchBytesMax into several batches written at once', async () => {
    const io = new MemoryFileIO();
    const partition = openPartition(io, new ManualClock());
    const result = await partition.append({ records: records(40, 1000) });
    expect(result).toMatchObject({ baseOffset: 0, lastOffset: 39, recordCount: 40 });
    const read = partition.read({ fromOffset: 0, maxBytes: 1 << 20 });
    expect(read.nextOffset).toBe(40);
    await partition.close();
  });

  it('refuses a record that cannot fit in one batch', async () => {
    const partition = openPartition(new MemoryFileIO(), new ManualClock());
    await expect(partition.append({ records: records(1, 9000) })).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
    await partition.close();
  });

  it('rebuilds producer state from the log after a crash, with or without a stale snapshot', async () => {
    const clock = new ManualClock();
    const io = new MemoryFileIO();
    const partition = openPartition(io, clock);
    const producer = (baseSequence: number) => ({ producerId: 9, producerEpoch: 0, baseSequence });
    await partition.append({ records: records(3), producer: producer(0) });
    const stale = partition.producerSnapshot()!;
    await partition.append({ records: records(2), producer: producer(3) });
    const crashed = io.crashed();
    for (const snapshot of [undefined, stale]) {
      const reopened = openPartition(crashed, clock, snapshot);
      const retry = await reopened.append({ records: records(2), producer: producer(3) });
      expect(retry).toMatchObject({ baseOffset: 3, lastOffset: 4, duplicate: true });
      expect(reopened.state().logEndOffset).toBe(5);
      await expect(reopened.append({ records: records(1), producer: producer(9) })).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE' });
      await reopened.close();
    }
  });

  it('wakes a waiting reader when data arrives and on timeout', async () => {
    const clock = new ManualClock();
    const partition = openPartition(new MemoryFileIO(), clock);
    let woke = false;
    const waiting = partition.waitForData({ fromOffset: 0, timeoutMs: 5000 }).then(() => (woke = true));
    expect(partition.waiterCount).toBe(1);
    await partition.append({ records: records(1) });
    await waiting;
    expect(woke).toBe(true);
    const timingOut = partition.waitForData({ fromOffset: 1, timeoutMs: 5000 });
    clock.advance(5000);
    await timingOut;
    expect(partition.waiterCount).toBe(0);
    await partition.close();
  });

  it('calls a callback waiter once when data arrives, never synchronously, and not after it cancelled', async () => {
    const clock = new ManualClock();
    const partition = openPartition(new MemoryFileIO(), clock);
    const calls: string[] = [];
    partition.whenReadable(0, 5000, () => calls.push('first'));
    const cancel = partition.whenReadable(0, 5000, () => calls.push('cancelled'));
    cancel();
    expect(partition.waiterCount).toBe(1);
    await partition.append({ records: records(1) });
    expect(calls).toEqual(['first']);
    // Already readable: still called later, not inside whenReadable, unless cancelled meanwhile.
    partition.whenReadable(0, 5000, () => calls.push('readable'));
    partition.whenReadable(0, 5000, () => calls.push('never'))();
    expect(calls).toEqual(['first']);
    await Promise.resolve();
    expect(calls).toEqual(['first', 'readable']);
    clock.advance(10_000);
    expect(calls).toEqual(['first', 'readable']);
    expect(partition.waiterCount).toBe(0);
    await partition.close();
  });

  it('opens offline, not crashing, when its log is corrupt in the middle', async () => {
    const clock = new ManualClock();
    const io = new MemoryFileIO();
    const partition = openPartition(io, clock);
    for (let i = 0; i < 10; i++) await partition.append({ records: records(2) });
    await partition.close();
    const file = `${dir}/00000000000000000000.log`;
    const bytes = Buffer.from(io.contentOf(file));
    bytes[100]! ^= 0xff;
    io.overwrite(file, bytes);
    const reopened = openPartition(io, clock);
    expect(reopened.state().offline?.code).toBe('LOG_CORRUPT');
    expect(() => reopened.read({ fromOffset: 0, maxBytes: 100 })).toThrow(/corrupt batch/);
    await reopened.close();
  });
});
