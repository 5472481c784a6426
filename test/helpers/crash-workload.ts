/**
 * The workload of the kill -9 crash test, shared by the child that appends (crash-appender.ts) and the
 * parent that verifies (crash-harness.ts): the log settings both sides open the log with, the
 * deterministic batches of each append, and the line protocol the child reports on.
 *
 * Every append is a pure function of (round seed, append number), so the parent regenerates the exact
 * bytes the child wrote instead of shipping payloads through a pipe.
 */
import { crc32, seededRandom, type Random } from '../../src/base/index.js';
import { logConfig, type LogConfig } from '../../src/config.js';
import { encodeBatch, type RecordInput } from '../../src/storage/index.js';

const KiB = 1024;

/**
 * `always` mode with small segments, so a round of a few hundred milliseconds rolls several times and
 * a kill often lands near a roll. Batches up to the segment size, so single writes of a few hundred
 * KiB can be cut short by the kill.
 */
export const crashLogConfig: LogConfig = logConfig({
  durability: 'always',
  segmentBytesMax: 256 * KiB,
  batchBytesMax: 256 * KiB,
  indexIntervalBytes: 1 * KiB,
  // Record timestamps are fixed in the past (see below): only size-based retention may delete.
  retentionMs: -1,
});

/** Timestamps are deterministic too, so regenerated batches are byte-identical. */
const TIMESTAMP_BASE_MS = 1_700_000_000_000;
const RECORDS_PER_BATCH_MAX = 16;
/** Largest record value, leaving room in a batch for the header, keys and record framing. */
const LARGE_BATCH_VALUE_BYTES_MAX = 240 * KiB;

/** A 32-bit mix of two integers (the murmur3 finalizer over a combination), for deriving seeds. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ (b >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** `length` pseudo-random bytes (xorshift32, seeded from `random`); fast enough for hundreds of KiB. */
function pseudoRandomBytes(random: Random, length: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let state = random.int(1, 0x7fff_ffff);
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  return Buffer.from(words.buffer, 0, length);
}

/** Value bytes of one batch: mostly small, some medium, a fifth large enough to tear on a kill. */
function batchValueBytes(random: Random): number {
  const draw = random.next();
  if (draw < 0.5) return random.int(40, 2 * KiB);
  if (draw < 0.8) return random.int(2 * KiB, 32 * KiB);
  return random.int(64 * KiB, LARGE_BATCH_VALUE_BYTES_MAX);
}

function batchRecords(random: Random, seed: number, appendNumber: number, batchNumber: number): RecordInput[] {
  const valueBytes = batchValueBytes(random);
  const recordCount = random.int(1, Math.min(RECORDS_PER_BATCH_MAX, Math.max(2, Math.floor(valueBytes / 64))) + 1);
  const records: RecordInput[] = [];
  for (let i = 0; i < recordCount; i++) {
    const share = Math.floor(valueBytes / recordCount);
    const key = random.next() < 0.1 ? null : Buffer.from(`s${seed}-a${appendNumber}-b${batchNumber}-r${i}`);
    const value = random.next() < 0.05 ? null : pseudoRandomBytes(random, random.int(Math.floor(share / 2), share + 1));
    const headers = random.next() < 0.3 ? [{ key: 'trace', value: pseudoRandomBytes(random, 8) }] : [];
    // Mostly increasing, sometimes a little out of order, as producers' clocks are.
    const timestampMs = TIMESTAMP_BASE_MS + appendNumber * 10 + random.int(-5, 20);
    records.push({ key, value, headers, timestampMs });
  }
  return records;
}

/**
 * The encoded batches (baseOffset not yet stamped) of append number `appendNumber` in the round
 * seeded with `seed`: usually one batch, sometimes two or three written by one append call.
 */
export function appendBatches(seed: number, appendNumber: number): Buffer[] {
  const random = seededRandom(mixSeed(seed, appendNumber));
  const draw = random.next();
  const batchCount = draw < 0.7 ? 1 : draw < 0.9 ? 2 : 3;
  const batches: Buffer[] = [];
  for (let b = 0; b < batchCount; b++) batches.push(encodeBatch({ records: batchRecords(random, seed, appendNumber, b) }));
  return batches;
}

/** The checksum an ack line carries: CRC-32 of the append's batches as written, offsets stamped. */
export function appendChecksum(stampedBatches: readonly Buffer[]): number {
  return crc32(Buffer.concat(stampedBatches));
}

// ---- the child's line protocol on stdout ----

/** The log is open (recovered); appends start now. */
export interface ReadyLine {
  kind: 'ready';
  logStartOffset: number;
  logEndOffset: number;
}

/** Append `appendNumber` was acknowledged (its promise resolved) with these offsets and checksum. */
export interface AckLine {
  kind: 'ack';
  appendNumber: number;
  baseOffset: number;
  lastOffset: number;
  checksum: number;
}

export type AppenderLine = ReadyLine | AckLine;

export function formatLine(line: AppenderLine): string {
  if (line.kind === 'ready') return `ready ${line.logStartOffset} ${line.logEndOffset}\n`;
  return `ack ${line.appendNumber} ${line.baseOffset} ${line.lastOffset} ${line.checksum}\n`;
}

/** Parses one complete line; throws on anything else, since the child prints nothing else to stdout. */
export function parseLine(text: string): AppenderLine {
  const [kind, ...fields] = text.trim().split(' ');
  const numbers = fields.map(Number);
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new Error(`bad appender line: ${JSON.stringify(text)}`);
  if (kind === 'ready' && numbers.length === 2) {
    return { kind, logStartOffset: numbers[0]!, logEndOffset: numbers[1]! };
  }
  if (kind === 'ack' && numbers.length === 4) {
    return { kind, appendNumber: numbers[0]!, baseOffset: numbers[1]!, lastOffset: numbers[2]!, checksum: numbers[3]! };
  }
  throw new Error(`bad appender line: ${JSON.stringify(text)}`);
}
