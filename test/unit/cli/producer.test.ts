/**
 * The CLI's BatchProducer against a scripted stand-in for the client's produce streams: which
 * batches are acknowledged, retried in order, or reported, without a broker or real waiting.
 */
import { describe, expect, it } from 'vitest';
import { type ProduceRequest, type ProduceResult, type SluiceClient, SluiceError } from '../../../src/client/index.js';
import { BatchProducer, type LineBatch } from '../../../src/cli/producer.js';

const unavailable = (): SluiceError => new SluiceError({ code: 'BROKER_UNAVAILABLE', message: 'connection lost', retriable: true, grpcCode: 14 });
const notFound = (): SluiceError => new SluiceError({ code: 'TOPIC_NOT_FOUND', message: 'no such topic', retriable: false, grpcCode: 5 });

interface Sent {
  stream: number;
  line: number;
}

/**
 * A client whose produce streams answer each request with `answer(request, streamNumber)`:
 * a result, or a thrown SluiceError. Each request is answered on a later tick, so requests overlap.
 */
function scriptedClient(answer: (line: number, stream: number) => SluiceError | undefined): { client: SluiceClient; sent: Sent[]; written: number[] } {
  const sent: Sent[] = [];
  const written: number[] = [];
  let streams = 0;
  const client = {
    produceStream() {
      const stream = ++streams;
      return {
        async send(request: ProduceRequest): Promise<ProduceResult> {
          const line = Number(String(request.records?.[0]?.value));
          sent.push({ stream, line });
          await new Promise((resolve) => setImmediate(resolve));
          const error = answer(line, stream);
          if (error !== undefined) throw error;
          written.push(line);
          return { appends: [], durability: 'fsynced' };
        },
        close: () => Promise.resolve(),
      };
    },
  } as unknown as SluiceClient;
  return { client, sent, written };
}

const batch = (line: number): LineBatch => ({ firstLine: line, lastLine: line, records: [{ value: String(line) }] });

describe('BatchProducer', () => {
  it('after a broken stream, resends the failed batches in input order on a new stream before sending more', async () => {
    // Stream 1 breaks: everything sent on it from line 3 on fails.
    const { client, sent, written } = scriptedClient((line, stream) => (stream === 1 && line >= 3 ? unavailable() : undefined));
    const slept: number[] = [];
    const producer = new BatchProducer({
      client,
      topic: 't',
      inFlightMax: 4,
      retry: { retriesMax: 3, backoffMs: 100, backoffMsMax: 1_000 },
      random: () => 0,
      sleep: (ms) => (slept.push(ms), Promise.resolve()),
    });
    for (let line = 1; line <= 8; line++) await producer.submit(batch(line));
    const report = await producer.finish();
    expect(report).toEqual({ acknowledgedCount: 8, failed: [] });
    expect(written).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // One backoff before the first resend; the next ones follow at once.
    expect(slept).toEqual([50]);
    // Lines 5 and 6 went out on stream 1 as 1 and 2 were answered, before 3's failure was known.
    expect(sent.filter((s) => s.stream === 1).map((s) => s.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sent.filter((s) => s.stream === 2).map((s) => s.line)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('reports a batch that fails for good, or runs out of retries, with its lines', async () => {
    const { client, written } = scriptedClient((line) => (line === 2 ? notFound() : line === 3 ? unavailable() : undefined));
    const producer = new BatchProducer({
      client,
      topic: 't',
      inFlightMax: 1,
      retry: { retriesMax: 2, backoffMs: 10, backoffMsMax: 100 },
      sleep: () => Promise.resolve(),
    });
    await producer.submit(batch(1));
    await producer.submit(batch(2));
    await producer.submit(batch(3));
    expect(producer.failed).toBe(true);
    const report = await producer.finish();
    expect(written).toEqual([1]);
    expect(report.acknowledgedCount).toBe(1);
    expect(report.failed.map((f) => [f.firstLine, f.recordCount, (f.error as SluiceError).code])).toEqual([
      [2, 1, 'TOPIC_NOT_FOUND'],
      [3, 1, 'BROKER_UNAVAILABLE'],
    ]);
  });
});
