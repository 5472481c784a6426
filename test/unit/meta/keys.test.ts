/**
 * The key layouts (src/meta/keys.ts): which names a key can hold, that they come back unchanged from
 * range reads, and the key size limit.
 */
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../src/errors.js';
import { META_KEY_BYTES_MAX, type MetaStore } from '../../../src/meta/index.js';
import { openMetaStore } from '../../helpers/meta-store.js';

async function invalidArgument(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BrokerError);
  expect((error as BrokerError).code).toBe('INVALID_ARGUMENT');
  return error as BrokerError;
}

const commitOne = (store: MetaStore, group: string, topic: string) => store.commitOffsets(group, [{ topic, partition: 0, offset: 1 }]);

describe('metadata keys', () => {
  it('give back every storable name unchanged from range reads, short and long (64 characters or more)', async () => {
    const { store } = openMetaStore();
    const long = 'x'.repeat(80);
    const names = ['', ' ', 'a', 'A-b_c.d', '\u0005', '\u001b', '\u001f-start', 'tab\there', 'del\u007f', 'ünïcödé', '日本語', 'emoji 🚀', '🚀', '\ufffd', '\ue000', long, `${long}\u0005`, `\u0006${long}`, `${long}🚀`];
    for (const group of names) await commitOne(store, group, group);
    for (const group of names) {
      expect(store.listCommittedOffsets(group).map((e) => e.topic), JSON.stringify(group)).toEqual([group]);
    }
    // Listed in UTF-8 byte order (which puts U+1F680 after U+FFFD, unlike JavaScript's string order).
    const utf8Order = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(store.listGroupsWithOffsets()).toEqual(utf8Order);
  });

  it('refuse names with U+0000 to U+0004 or a lone surrogate with INVALID_ARGUMENT, writing nothing', async () => {
    const { store } = openMetaStore();
    for (const bad of ['nul\u0000', '\u0001', `${'y'.repeat(70)}\u0004z`, 'lone \ud800 surrogate', 'reversed \udc00\ud800']) {
      const error = await invalidArgument(commitOne(store, bad, 't'));
      expect(error.details).toMatchObject({ field: 'group', value: bad });
      await invalidArgument(commitOne(store, 'g', bad));
      await invalidArgument(store.putGroup({ group: bad, generation: 1, protocol: 'range', state: 'Empty', updatedAtMs: 0, paused: false }));
      await invalidArgument(store.recordFailedAttempt({ group: 'g', topic: bad, partition: 0, offset: 0, error: '', errorClass: '', memberId: '' }));
      expect(() => store.getTopic(bad)).toThrow(BrokerError);
    }
    expect(store.listGroupsWithOffsets()).toEqual([]);
    expect(store.listGroups()).toEqual([]);
    expect(store.listDeliveryAttempts('g')).toEqual([]);
  });

  it(`refuse a key over ${META_KEY_BYTES_MAX} bytes with INVALID_ARGUMENT and store one at the limit`, async () => {
    const { store } = openMetaStore();
    // [group, topic, partition]: (1 + group) + (1 + topic) + 9 bytes + 2 separators, at most.
    const groupAtLimit = 'g'.repeat(META_KEY_BYTES_MAX - 13 - 1);
    await commitOne(store, groupAtLimit, 't');
    expect(store.getCommittedOffset(groupAtLimit, 't', 0)?.offset).toBe(1);
    const error = await invalidArgument(commitOne(store, `${groupAtLimit}g`, 't'));
    expect(error.details).toMatchObject({ table: 'committed-offsets', keyBytes: META_KEY_BYTES_MAX + 1, keyBytesMax: META_KEY_BYTES_MAX });
    // Names starting below U+001C take an escape byte, so this key takes exactly the limit as LMDB counts it.
    const escapedAtLimit = `\u0005${'g'.repeat(META_KEY_BYTES_MAX - 14 - 1)}`;
    await commitOne(store, escapedAtLimit, '\u0005');
    expect(store.listCommittedOffsets(escapedAtLimit).map((e) => e.topic)).toEqual(['\u0005']);
    // Multi-byte characters count by their UTF-8 size.
    await invalidArgument(commitOne(store, 'é'.repeat(1000), 't'));
    await invalidArgument(store.putGroup({ group: 'g'.repeat(2000), generation: 1, protocol: '', state: '', updatedAtMs: 0, paused: false }));
  });
});
