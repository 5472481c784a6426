import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RecordInput, encodeBatch, readBatchHeader } from '../../../src/base/index.js';
import { encodeProduceRequest } from '../../../src/client/produce-request.js';
import type { PartitionRecordsInput, ProduceRequest } from '../../../src/client/types.js';
import { brokerService } from '../../../src/wire/index.js';
import { recordInputArb } from '../../helpers/records.js';

const decode = (bytes: Buffer) => brokerService.Produce.requestDeserialize(bytes);

/** The same request built as a wire object and encoded by protobufjs: the reference the direct writer must match. */
function throughProtobufjs(request: ProduceRequest, correlationId: number, clientId: string): Buffer {
  const producer = request.producer;
  return brokerService.Produce.requestSerialize({
    topic: request.topic,
    records: [],
    partitions: (request.partitions ?? []).map((p) =>
      p.records.length === 0
        ? { partition: p.partition, records: [], baseSequence: p.baseSequence ?? 0 }
        : {
            partition: p.partition,
            records: [],
            baseSequence: 0,
            recordBatch: encodeBatch({
              records: p.records as RecordInput[],
              producerId: producer?.producerId ?? -1,
              producerEpoch: producer?.producerEpoch ?? -1,
              baseSequence: producer === undefined ? -1 : (p.baseSequence ?? 0),
            }),
          },
    ),
    producerId: producer?.producerId ?? 0,
    producerEpoch: producer?.producerEpoch ?? 0,
    correlationId,
    clientId,
  });
}

const partitionArb: fc.Arbitrary<PartitionRecordsInput> = fc.record({
  partition: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  records: fc.array(recordInputArb, { maxLength: 12 }),
  baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

describe('encodeProduceRequest', () => {
  it('writes the message protobufjs would, batches included, for any client-routed request', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.array(partitionArb, { maxLength: 5 }),
        fc.option(fc.record({ producerId: fc.integer({ min: 0, max: 2 ** 53 - 1 }), producerEpoch: fc.integer({ min: 0, max: 32767 }) }), { nil: undefined }),
        fc.integer({ min: 0, max: 2 ** 53 - 1 }),
        fc.string({ maxLength: 30 }),
        (topic, partitions, producer, correlationId, clientId) => {
          const request: ProduceRequest = { topic, partitions, ...(producer === undefined ? {} : { producer }) };
          expect(decode(encodeProduceRequest(request, correlationId, clientId))).toEqual(decode(throughProtobufjs(request, correlationId, clientId)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sends records the broker routes, and fields outside the direct writer, through protobufjs', () => {
    const routed = decode(encodeProduceRequest({ topic: 't', records: [{ key: 'k', value: 'v', headers: [{ key: 'h', value: null }] }], partition: 2 }, 7, 'me'));
    expect(routed).toMatchObject({ topic: 't', partition: 2, correlationId: 7, clientId: 'me', partitions: [] });
    expect(routed.records).toHaveLength(1);
    expect(routed.records[0]).toMatchObject({ key: Buffer.from('k'), value: Buffer.from('v'), headers: [{ key: 'h' }] });

    const negative = decode(encodeProduceRequest({ topic: 't', partitions: [{ partition: -1, records: [] }] }, 1, ''));
    expect(negative.partitions).toEqual([expect.objectContaining({ partition: -1 })]);
  });

  it('encodes records given as strings or without a timestamp as UTF-8 and the clock', () => {
    const before = Date.now();
    const message = decode(encodeProduceRequest({ topic: 't', partitions: [{ partition: 0, records: [{ key: 'é', value: 'x' }] }] }, 1, ''));
    const batch = message.partitions[0]!.recordBatch!;
    const { firstTimestampMs } = readBatchHeader(batch, 0);
    expect(firstTimestampMs).toBeGreaterThanOrEqual(before);
    expect(firstTimestampMs).toBeLessThanOrEqual(Date.now());
    const expected = encodeBatch({ records: [{ key: Buffer.from('é'), value: Buffer.from('x'), headers: [], timestampMs: firstTimestampMs }] });
    expect(batch).toEqual(expected);
  });
});
