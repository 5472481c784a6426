/**
 * Which partition a record goes to. Keyed records use Kafka's default partitioner (murmur2 of the key
 * bytes, sign bit masked, modulo the partition count), so a key lands on the same partition index as
 * with Kafka's Java client and every client library that copies it. Keyless records stick to one
 * partition for a whole batch and move on for the next, which keeps batches large.
 *
 * It lives in base/ because both sides use it: the broker routes records a client left unrouted, and
 * the client's producer routes records itself (the idempotent producer must), to the same partitions.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (Utils.murmur2): a signed 32-bit hash of `data`. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2]! << 16;
  if (tail >= 2) h ^= data[whole + 1]! << 8;
  if (tail >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a keyed record: `toPositive(murmur2(key)) % partitionCount`, as in Kafka. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  return (murmur2(key) & 0x7fffffff) % partitionCount;
}

/**
 * Routes keyless records: all records of one call go to the same partition, and the next call moves
 * to the next partition, so load spreads while each batch stays whole.
 */
export class StickyPartitioner {
  private next: number;

  constructor(startAt = 0) {
    this.next = startAt;
  }

  /** The partition for the keyless records of one produce call. */
  nextPartition(partitionCount: number): number {
    const partition = this.next % partitionCount;
    this.next = (partition + 1) % partitionCount;
    return partition;
  }
}
