import { crc32 as zlibCrc32 } from 'node:zlib';

/**
 * CRC-32 (IEEE, as zlib and gzip compute it) of `bytes`; Node's built-in, implemented in C. Pass the
 * CRC of the bytes before as `previous` to continue it over data in several buffers.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return zlibCrc32(bytes, previous) >>> 0;
}
