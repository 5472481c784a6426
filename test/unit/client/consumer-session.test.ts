/**
 * The session's acks on the wire: grouped into one request only for a broker that said it takes
 * them, and never overtaken by a later request.
 */
import { EventEmitter } from 'node:events';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ConsumerSession } from '../../../src/client/consumer-session.js';
import type * as wire from '../../../src/wire/index.js';

/** A Consume stream that records what the session writes and answers the join as told. */
class FakeCall extends EventEmitter {
  readonly written: wire.ConsumeRequest[] = [];
  write(request: wire.ConsumeRequest): boolean {
    this.written.push(request);
    return true;
  }
  end(): void {}
  cancel(): void {}
}

async function joined(groupedAcks: boolean): Promise<{ call: FakeCall; session: ConsumerSession }> {
  const call = new FakeCall();
  const opening = ConsumerSession.open(call as unknown as ClientDuplexStream<wire.ConsumeRequest, wire.ConsumeEvent>, { group: 'g', topics: ['t'] }, 'test');
  call.emit('data', { kind: 'joined', joined: { memberId: 'm', generation: 1, ...(groupedAcks ? { groupedAcks } : {}) } });
  const session = await opening;
  call.written.length = 0; // the join
  return { call, session };
}

const acked = (partition: number) => ({ topic: 't', partition, generation: 1 });

describe('ConsumerSession acks', () => {
  it('sends the acks made together as one request to a broker that takes grouped acks', async () => {
    const { call, session } = await joined(true);
    session.ack(acked(0), [3, 1, 2]);
    session.ack(acked(1), [7]);
    expect(call.written).toEqual([]);
    await Promise.resolve();
    expect(call.written).toEqual([
      {
        acks: {
          acks: [
            { topic: 't', partition: 0, generation: 1, ranges: [{ first: 1, last: 3 }] },
            { topic: 't', partition: 1, generation: 1, ranges: [{ first: 7, last: 7 }] },
          ],
        },
      },
    ]);
    session.abandon();
  });

  it('sends one ack per partition, at once, to a broker that did not say it takes grouped acks', async () => {
    const { call, session } = await joined(false);
    session.ack(acked(0), [1]);
    session.ack(acked(1), [2]);
    expect(call.written.map((r) => Object.keys(r))).toEqual([['ack'], ['ack']]);
    await Promise.resolve();
    expect(call.written).toHaveLength(2);
    session.abandon();
  });

  it('sends pending acks before a later nack, and at most 100 acks per request', async () => {
    const { call, session } = await joined(true);
    session.ack(acked(0), [1]);
    session.nack({ topic: 't', partition: 0, offset: 2, timestampMs: 0, key: null, value: null, headers: [], deliveryAttempt: 1, generation: 1 }, { error: 'boom' });
    expect(call.written.map((r) => Object.keys(r))).toEqual([['ack'], ['nack']]);
    call.written.length = 0;
    for (let partition = 0; partition < 150; partition++) session.ack(acked(partition), [0]);
    await Promise.resolve();
    expect(call.written.map((r) => r.acks?.acks.length)).toEqual([100, 50]);
    session.abandon();
  });
});
