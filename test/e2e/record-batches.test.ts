/**
 * The record-batch forms of the wire (PartitionRecords.record_batch, Delivery.record_batch): what a
 * client in another language relies on when it builds or reads the log's format itself, and the
 * per-record forms that stay for clients that do not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchField, crc32, decodeRecords, encodeBatch, type RecordInput } from '../../src/base/index.js';
import type { SluiceClient } from '../../src/client/index.js';
import { BROKER_SETTINGS } from '../../src/config.js';
import { GrpcStatus } from '../../src/errors.js';
import { type ConsumeEvent, type ConsumeRequest, type ProduceRequest, brokerService } from '../../src/wire/index.js';
import { type TestBroker, startTestBroker, text, waitUntil } from '../helpers/broker.js';
import { RawClient } from '../helpers/grpc-raw.js';

const record = (value: string, timestampMs = 1_700_000_000_000): RecordInput => ({ key: Buffer.from('k'), value: Buffer.from(value), headers: [{ key: 'h', value: Buffer.from('v') }], timestampMs });

function produceRequest(recordBatch: Buffer, extra: Partial<ProduceRequest> = {}): ProduceRequest {
  return { topic: 'rb', records: [], partitions: [{ partition: 0, baseSequence: 0, records: [], recordBatch }], producerId: 0, producerEpoch: 0, correlationId: 1, clientId: '', ...extra };
}

/** A batch with some of its bytes changed on purpose. */
function patched(batch: Buffer, change: (batch: Buffer) => void): Buffer {
  change(batch);
  return batch;
}

/** Rewrites a batch's checksum after its bytes were changed on purpose. */
function resealed(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32(batch.subarray(16)), 12);
  return batch;
}

describe('record batches on the wire', () => {
  let env: TestBroker;
  let client: SluiceClient;
  let raw: RawClient;

  beforeAll(async () => {
    env = await startTestBroker();
    client = await env.client();
    await client.createTopic({ name: 'rb', partitionCount: 1 });
    raw = new RawClient(env.address);
  });

  afterAll(async () => {
    raw.close();
    await env.stop();
  });

  it('appends a batch built by hand with its own timestamps, offsets assigned by the broker', async () => {
    const batch = encodeBatch({ records: [record('a', 1_700_000_000_000), record('b', 1_700_000_000_005)], baseOffset: 4242 });
    const outcome = await raw.unary(brokerService.Produce, produceRequest(batch));
    expect(outcome.error).toBeUndefined();
    const append = outcome.response!.appends[0]!;
    expect(append).toMatchObject({ partition: 0, recordCount: 2 });
    const fetched = await client.fetch({ topic: 'rb', partition: 0, offset: append.baseOffset });
    expect(fetched.records.map((r) => [r.offset, text(r.value), r.timestampMs, r.headers[0]?.key])).toEqual([
      [append.baseOffset, 'a', 1_700_000_000_000, 'h'],
      [append.baseOffset + 1, 'b', 1_700_000_000_005, 'h'],
    ]);
  });

  it("re-splits a batch larger than the topic's batchBytesMax into batches that fit, records and offsets as sent", async () => {
    await client.createTopic({ name: 'rb-small', partitionCount: 1, config: { batchBytesMax: 1024 } });
    const records = Array.from({ length: 12 }, (_, i) => record(`${i}`.padEnd(300, '.'), 1_700_000_000_000 + i));
    const outcome = await raw.unary(brokerService.Produce, { ...produceRequest(encodeBatch({ records })), topic: 'rb-small' });
    expect(outcome.error).toBeUndefined();
    expect(outcome.response!.appends[0]).toMatchObject({ baseOffset: 0, lastOffset: 11, recordCount: 12 });
    const fetched: number[] = [];
    while (fetched.length < 12) {
      const { records: page } = await client.fetch({ topic: 'rb-small', partition: 0, offset: fetched.length });
      fetched.push(...page.map((r) => r.timestampMs - 1_700_000_000_000));
    }
    expect(fetched).toEqual(records.map((_, i) => i));
  });

  it('holds the records of a sent batch to the same limits as records sent one by one', async () => {
    const before = (await client.describeTopic('rb')).partitions[0]!.logEndOffset;
    const { keyBytesMax, headerCountMax, recordBytesMax } = BROKER_SETTINGS;
    const ok = record('ok');
    const cases: { name: string; records: RecordInput[]; details: Record<string, number> }[] = [
      { name: 'a key over keyBytesMax', records: [ok, { ...ok, key: Buffer.alloc(keyBytesMax.default + 1) }], details: { keyBytesMax: keyBytesMax.default } },
      {
        name: 'more headers than headerCountMax',
        records: [{ ...ok, headers: Array.from({ length: headerCountMax.default + 1 }, () => ({ key: 'h', value: null })) }, ok],
        details: { headerCountMax: headerCountMax.default },
      },
      { name: 'a record over recordBytesMax', records: [ok, { ...ok, value: Buffer.alloc(recordBytesMax.default) }], details: { recordBytesMax: recordBytesMax.default } },
    ];
    for (const { name, records, details } of cases) {
      const outcome = await raw.unary(brokerService.Produce, produceRequest(encodeBatch({ records })));
      expect(outcome.errorCode, name).toBe('RECORD_TOO_LARGE');
      expect(outcome.error?.code, name).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(outcome.error?.details, name).toContain(String(Object.values(details)[0]));
    }
    expect((await client.describeTopic('rb')).partitions[0]!.logEndOffset).toBe(before);
  });

  it('refuses a damaged or inconsistent batch with INVALID_ARGUMENT naming the field, writing nothing', async () => {
    const before = (await client.describeTopic('rb')).partitions[0]!.logEndOffset;
    const good = (): Buffer => encodeBatch({ records: [record('x'), record('y')] });
    const flipped = good();
    flipped[flipped.length - 1]! ^= 0xff;
    const malformed = good();
    // The first record's key length (after its length, attributes and two deltas) says 100 bytes: past the record.
    malformed[60 + 4] = 200;
    const cases: { name: string; request: ProduceRequest; message: RegExp }[] = [
      { name: 'checksum mismatch', request: produceRequest(flipped), message: /bad-crc/ },
      { name: 'bytes after the batch', request: produceRequest(Buffer.concat([good(), Buffer.alloc(3)])), message: /header says/ },
      { name: 'a malformed record behind a valid checksum', request: produceRequest(resealed(malformed)), message: /record 0 has a key or value past its end/ },
      // The log stores a batch as sent, so everything it relies on is checked, not only the checksum.
      { name: 'compression bits', request: produceRequest(resealed(patched(good(), (b) => b.writeInt8(1, BatchField.attributes)))), message: /compression is not supported/ },
      { name: 'a leader epoch', request: produceRequest(resealed(patched(good(), (b) => b.writeInt32BE(3, BatchField.partitionLeaderEpoch)))), message: /leader epoch 3/ },
      { name: 'a wrong max timestamp', request: produceRequest(resealed(patched(good(), (b) => b.writeBigInt64BE(1n, BatchField.maxTimestamp)))), message: /max timestamp 1/ },
      { name: 'offset deltas out of order', request: produceRequest(resealed(patched(good(), (b) => (b[60 + 3] = 2)))), message: /offset delta other than 0/ },
      { name: 'a base sequence without a producer', request: produceRequest(encodeBatch({ records: [record('x')], baseSequence: 4 })), message: /producer -1 epoch -1/ },
      { name: 'a producer id without an idempotent request', request: produceRequest(encodeBatch({ records: [record('x')], producerId: 7, producerEpoch: 0, baseSequence: 0 })), message: /producer 7/ },
      {
        name: 'a batch whose producer differs from the request',
        request: produceRequest(encodeBatch({ records: [record('x')], producerId: 7, producerEpoch: 0, baseSequence: 0 }), { producerId: 8 }),
        message: /producer 7 epoch 0, the request producer 8/,
      },
      { name: 'records and a batch together', request: { ...produceRequest(good()), partitions: [{ partition: 0, baseSequence: 0, records: [{ headers: [] }], recordBatch: good() }] }, message: /must be empty/ },
    ];
    for (const { name, request, message } of cases) {
      const outcome = await raw.unary(brokerService.Produce, request);
      expect(outcome.error?.code, name).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(outcome.errorCode, name).toBe('INVALID_ARGUMENT');
      expect(outcome.error?.details, name).toMatch(message);
    }
    expect((await client.describeTopic('rb')).partitions[0]!.logEndOffset).toBe(before);
  });

  it('delivers to a group member as a record batch when it asks, and as one message per record otherwise', async () => {
    await client.createTopic({ name: 'rb-deliver', partitionCount: 1 });
    await client.produce({ topic: 'rb-deliver', partition: 0, records: [1, 2, 3].map((n) => ({ key: `k${n}`, value: `v${n}`, headers: [{ key: 'n', value: String(n) }] })) });
    const deliveries = async (group: string, recordBatches: boolean): Promise<ConsumeEvent['delivery'][]> => {
      const call = raw.bidi<ConsumeRequest, ConsumeEvent>(brokerService.Consume);
      const seen: ConsumeEvent['delivery'][] = [];
      call.on('data', (event: ConsumeEvent) => {
        if (event.delivery) seen.push(event.delivery);
      });
      call.on('error', () => undefined);
      call.write({
        join: { group, topics: ['rb-deliver'], clientId: 'raw', instanceId: '', sessionTimeoutMs: 0, ackTimeoutMs: 0, inFlightMax: 0, retryBackoffMs: 0, strategy: '', startFrom: '', recordBatches },
      });
      await waitUntil(() => seen.reduce((n, d) => n + (d!.records.length || (d!.recordBatch?.length ? decodeRecords(d!.recordBatch).length : 0)), 0) === 3, 10_000, 'three records delivered');
      call.cancel();
      return seen;
    };

    const perRecord = await deliveries('per-record', false);
    expect(perRecord.every((d) => d!.recordBatch === undefined || d!.recordBatch.length === 0)).toBe(true);
    const messages = perRecord.flatMap((d) => d!.records);
    expect(messages.map((r) => [r.offset, text(r.value ?? null), r.deliveryAttempt, r.headers[0]?.key])).toEqual([
      [0, 'v1', 1, 'n'],
      [1, 'v2', 1, 'n'],
      [2, 'v3', 1, 'n'],
    ]);

    const batched = await deliveries('batched', true);
    expect(batched.every((d) => d!.records.length === 0 && d!.deliveryAttempts!.length === 0)).toBe(true);
    const decoded = batched.flatMap((d) => decodeRecords(d!.recordBatch!));
    expect(decoded.map((r) => [r.offset, text(r.value), text(r.key), r.timestampMs, r.headers[0]?.key])).toEqual(
      messages.map((m) => [m.offset, text(m.value ?? null), text(m.key ?? null), m.timestampMs, m.headers[0]?.key]),
    );
  });

  it('splits a redelivery around an offset acknowledged out of order into one batch per run, with the attempts of a retry', async () => {
    await client.createTopic({ name: 'rb-runs', partitionCount: 1 });
    await client.produce({ topic: 'rb-runs', partition: 0, records: ['a', 'b', 'c'].map((value) => ({ value })) });
    const call = raw.bidi<ConsumeRequest, ConsumeEvent>(brokerService.Consume);
    const deliveries: NonNullable<ConsumeEvent['delivery']>[] = [];
    let generation = 0;
    call.on('data', (event: ConsumeEvent) => {
      if (event.assignment) generation = event.assignment.generation;
      if (event.delivery) deliveries.push(event.delivery);
    });
    call.on('error', () => undefined);
    call.write({
      join: { group: 'runs', topics: ['rb-runs'], clientId: 'raw', instanceId: '', sessionTimeoutMs: 0, ackTimeoutMs: 0, inFlightMax: 0, retryBackoffMs: 0, strategy: '', startFrom: '', recordBatches: true },
    });
    try {
      await waitUntil(() => deliveries.length === 1, 10_000, 'the first delivery');
      expect(decodeRecords(deliveries[0]!.recordBatch!).map((r) => r.offset)).toEqual([0, 1, 2]);
      // Offset 1 done out of order, offset 0 failed: 0 and 2 come again, 1 is skipped.
      call.write({ ack: { topic: 'rb-runs', partition: 0, generation, ranges: [{ first: 1, last: 1 }] } });
      call.write({ nack: { topic: 'rb-runs', partition: 0, generation, offset: 0, delayMs: 0, error: 'once more', errorClass: '' } });
      await waitUntil(() => deliveries.length === 3, 10_000, 'the redelivery as two batches');
      const runs = deliveries.slice(1).map((d) => ({ offsets: decodeRecords(d.recordBatch!).map((r) => [r.offset, text(r.value)]), attempts: d.deliveryAttempts }));
      expect(runs).toEqual([
        { offsets: [[0, 'a']], attempts: [2] },
        { offsets: [[2, 'c']], attempts: [] },
      ]);
    } finally {
      call.cancel();
    }
  });
  it('groups deliveries of partitions appended at once into one event, and takes their acks in one request', async () => {
    await client.createTopic({ name: 'rb-grouped', partitionCount: 4, config: { durability: 'interval' } });
    const call = raw.bidi<ConsumeRequest, ConsumeEvent>(brokerService.Consume);
    const events: ConsumeEvent[] = [];
    call.on('data', (event: ConsumeEvent) => events.push(event));
    call.on('error', () => undefined);
    call.write({
      join: {
        ...{ group: 'grouped', topics: ['rb-grouped'], clientId: 'raw', instanceId: '', sessionTimeoutMs: 0, ackTimeoutMs: 0, inFlightMax: 0, retryBackoffMs: 0, strategy: '', startFrom: '' },
        ...{ recordBatches: true, groupedDeliveries: true },
      },
    });
    try {
      await waitUntil(() => events.some((e) => e.assignment?.partitions.length === 4), 10_000, 'the assignment');
      expect(events.find((e) => e.joined)?.joined?.groupedAcks).toBe(true);
      const generation = events.find((e) => e.assignment)!.assignment!.generation;
      // One produce request appending to every partition: their deliveries leave together.
      const partitions = [0, 1, 2, 3].map((partition) => ({ partition, baseSequence: 0, records: [], recordBatch: encodeBatch({ records: [record(`p${partition}`)] }) }));
      expect((await raw.unary(brokerService.Produce, { ...produceRequest(Buffer.alloc(0)), topic: 'rb-grouped', partitions })).error).toBeUndefined();
      await waitUntil(() => events.some((e) => e.deliveries), 10_000, 'the grouped deliveries');
      const grouped = events.find((e) => e.deliveries)!.deliveries!.deliveries;
      expect(grouped.map((d) => [d.partition, decodeRecords(d.recordBatch!).map((r) => [r.offset, text(r.value)])]).sort()).toEqual([
        [0, [[0, 'p0']]],
        [1, [[0, 'p1']]],
        [2, [[0, 'p2']]],
        [3, [[0, 'p3']]],
      ]);
      expect(events.filter((e) => e.delivery || e.deliveries)).toHaveLength(1);

      // One acks request for all four; an entry for a partition the member does not own is refused
      // in-band and the others still count.
      const ack = (partition: number) => ({ topic: 'rb-grouped', partition, generation, ranges: [{ first: 0, last: 0 }] });
      call.write({ acks: { acks: [ack(0), ack(1), { ...ack(9), topic: 'rb-elsewhere' }, ack(2), ack(3)] } });
      await waitUntil(async () => (await client.describeGroup('grouped')).partitions.every((p) => p.committedOffset === 1), 10_000, 'all four acknowledged');
      expect(events.filter((e) => e.error).map((e) => e.error!.code)).toEqual(['MEMBER_FENCED']);

      // More entries than memberInFlightMax: the whole request is refused, in-band.
      const tooMany = Array.from({ length: BROKER_SETTINGS.memberInFlightMax.default + 1 }, () => ack(0));
      call.write({ acks: { acks: tooMany } });
      await waitUntil(() => events.filter((e) => e.error).length === 2, 10_000, 'the refusal');
      expect(events.filter((e) => e.error)[1]!.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/memberInFlightMax/) });
    } finally {
      call.cancel();
    }
  });
  it('keeps each grouped deliveries event within deliveryBytesMax, sending the rest in the next', async () => {
    const small = await startTestBroker({ settings: { deliveryBytesMax: 1024 } });
    const smallRaw = new RawClient(small.address);
    try {
      const admin = await small.client();
      await admin.createTopic({ name: 'rb-capped', partitionCount: 4, config: { durability: 'interval' } });
      const call = smallRaw.bidi<ConsumeRequest, ConsumeEvent>(brokerService.Consume);
      const events: ConsumeEvent[] = [];
      call.on('data', (event: ConsumeEvent) => events.push(event));
      call.on('error', () => undefined);
      call.write({
        join: {
          ...{ group: 'capped', topics: ['rb-capped'], clientId: 'raw', instanceId: '', sessionTimeoutMs: 0, ackTimeoutMs: 0, inFlightMax: 0, retryBackoffMs: 0, strategy: '', startFrom: '' },
          ...{ recordBatches: true, groupedDeliveries: true },
        },
      });
      await waitUntil(() => events.some((e) => e.assignment?.partitions.length === 4), 10_000, 'the assignment');
      // Four batches of about 400 bytes appended at once: two fit in 1024 bytes, so two events.
      const partitions = [0, 1, 2, 3].map((partition) => ({ partition, baseSequence: 0, records: [], recordBatch: encodeBatch({ records: [record('x'.repeat(300))] }) }));
      expect((await smallRaw.unary(brokerService.Produce, { ...produceRequest(Buffer.alloc(0)), topic: 'rb-capped', partitions })).error).toBeUndefined();
      const deliveriesOf = (e: ConsumeEvent) => e.deliveries?.deliveries ?? (e.delivery ? [e.delivery] : []);
      await waitUntil(() => events.flatMap(deliveriesOf).length === 4, 10_000, 'four deliveries');
      const sent = events.filter((e) => e.delivery || e.deliveries).map((e) => deliveriesOf(e).map((d) => d.recordBatch!.length));
      expect(sent).toHaveLength(2);
      for (const sizes of sent) expect(sizes.reduce((a, b) => a + b)).toBeLessThanOrEqual(1024);
      call.cancel();
    } finally {
      smallRaw.close();
      await small.stop();
    }
  });
});
