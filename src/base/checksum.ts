import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 (IEEE, as zlib and gzip compute it) of `bytes`; Node's built-in, implemented in C. */
export function crc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes) >>> 0;
}
