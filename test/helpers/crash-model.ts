/**
 * The parent's side of the kill -9 crash test: what the log must hold after each crash, and the check.
 *
 * The model is the exact list of batches the log holds, each with its offsets and a CRC-32 of its
 * whole bytes. After a round (a child appending until SIGKILL), the log must hold, from its
 * logStartOffset on and with contiguous offsets:
 * 1. every batch of the model, unchanged;
 * 2. then a prefix of the round's batches, byte for byte as the workload regenerates them, which
 *    covers every append the child acknowledged (more may survive: written but not yet acknowledged);
 * 3. and nothing else: no gap, no garbage, nothing past the last whole batch.
 * What survived becomes part of the model: recovery has fsynced it, so no later crash may take it.
 */
import { assert, crc32, type Random } from '../../src/base/index.js';
import { type SegmentLog, batchLastOffset, checkBatch, decodeRecords, readBatchHeader, splitBatches } from '../../src/storage/index.js';
import { type AckLine, type ReadyLine, appendBatches, appendChecksum } from './crash-workload.js';

const READ_BYTES_MAX = 1024 * 1024;
const SPOT_READ_COUNT = 16;

interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  batchBytes: number;
  /** CRC-32 of the whole batch as stored, baseOffset included. */
  checksum: number;
  round: number;
  appendNumber: number;
}

/** What one round of the child reported. */
export interface RoundInput {
  round: number;
  seed: number;
  ready: ReadyLine;
  acks: readonly AckLine[];
}

export interface RoundVerification {
  /** Batches checked in this round's walk of the whole log. */
  verifiedBatchCount: number;
  ackedAppendCount: number;
  ackedBatchCount: number;
  /** Appends of this round found whole in the log (acknowledged ones and some not yet acknowledged). */
  survivingAppendCount: number;
  /** The round's batches found in the log. */
  survivingBatchCount: number;
  /** Set when only some batches of a multi-batch append survived (the crash cut between them). */
  partialAppend: boolean;
  logStartOffset: number;
  logEndOffset: number;
}

/** Walks the readable log batch by batch, checking each one is whole, intact and where it belongs. */
class LogWalker {
  private pending: Buffer[] = [];
  private cursor: number;

  constructor(private readonly log: SegmentLog) {
    this.cursor = log.logStartOffset;
  }

  get nextOffset(): number {
    return this.cursor;
  }

  /** The next batch, or undefined at the high watermark. */
  next(): Buffer | undefined {
    if (this.pending.length === 0) {
      if (this.cursor >= this.log.highWatermark) return undefined;
      const result = this.log.read({ fromOffset: this.cursor, maxBytes: READ_BYTES_MAX });
      this.pending = splitBatches(result.bytes);
      if (this.pending.length === 0) throw new Error(`read at offset ${this.cursor} returned nothing below the high watermark ${this.log.highWatermark}`);
    }
    const batch = this.pending.shift()!;
    const check = checkBatch(batch, 0, this.log.config.batchBytesMax);
    if (!check.ok) throw new Error(`read returned a bad batch at offset ${this.cursor}: ${check.problem}`);
    if (check.header.baseOffset !== this.cursor) {
      throw new Error(`offsets are not contiguous: expected a batch at ${this.cursor}, read one at ${check.header.baseOffset}`);
    }
    const records = decodeRecords(batch);
    records.forEach((record, i) => {
      if (record.offset !== this.cursor + i) throw new Error(`record ${i} of the batch at ${this.cursor} has offset ${record.offset}`);
    });
    this.cursor = batchLastOffset(check.header) + 1;
    return batch;
  }
}

function describeMismatch(actual: Buffer, expected: Buffer): string {
  if (actual.length !== expected.length) return `${actual.length} bytes instead of ${expected.length}`;
  let at = 0;
  while (at < actual.length && actual[at] === expected[at]) at++;
  return `first differing byte at ${at} of ${actual.length}`;
}

/** The appends of one round, generated on demand, with the offsets they must get. */
class RoundAppends {
  private readonly appends: { baseOffset: number; lastOffset: number; batches: Buffer[] }[] = [];

  constructor(
    private readonly seed: number,
    private readonly startOffset: number,
  ) {}

  get(appendNumber: number): { baseOffset: number; lastOffset: number; batches: Buffer[] } {
    while (this.appends.length <= appendNumber) {
      const previous = this.appends[this.appends.length - 1];
      let nextOffset = previous === undefined ? this.startOffset : previous.lastOffset + 1;
      const baseOffset = nextOffset;
      const batches = appendBatches(this.seed, this.appends.length);
      for (const batch of batches) {
        // Stamp the offset as the log does (bytes 0-7, outside the checksum).
        batch.writeUInt32BE(Math.floor(nextOffset / 0x1_0000_0000), 0);
        batch.writeUInt32BE(nextOffset % 0x1_0000_0000, 4);
        nextOffset = batchLastOffset(readBatchHeader(batch, 0)) + 1;
      }
      this.appends.push({ baseOffset, lastOffset: nextOffset - 1, batches });
    }
    return this.appends[appendNumber]!;
  }
}

export class CrashLogModel {
  private readonly batches: StoredBatch[] = [];
  private startOffset = 0;

  get logEndOffset(): number {
    return this.batches.length === 0 ? this.startOffset : this.batches[this.batches.length - 1]!.lastOffset + 1;
  }

  get batchCount(): number {
    return this.batches.length;
  }

  /** Checks the log after a round against the model and the child's reports, then extends the model. */
  verifyRound(log: SegmentLog, input: RoundInput, random: Random): RoundVerification {
    const { round, seed, ready, acks } = input;
    if (ready.logStartOffset !== this.startOffset || ready.logEndOffset !== this.logEndOffset) {
      throw new Error(
        `the child opened the log at [${ready.logStartOffset}, ${ready.logEndOffset}), expected [${this.startOffset}, ${this.logEndOffset})`,
      );
    }
    if (log.offline !== undefined) throw new Error(`the log is offline: ${log.offline.message}`);
    if (log.logStartOffset !== this.startOffset) throw new Error(`logStartOffset ${log.logStartOffset}, expected ${this.startOffset}`);
    if (log.highWatermark !== log.logEndOffset) {
      throw new Error(`after recovery the high watermark ${log.highWatermark} is not the log end ${log.logEndOffset}`);
    }

    // The child's acknowledgments, against the workload: group commit resolves appends in offset order,
    // so the acknowledged appends are always 0, 1, ..., k-1, with the offsets the workload implies.
    const appends = new RoundAppends(seed, this.logEndOffset);
    acks.forEach((ack, i) => {
      if (ack.appendNumber !== i) throw new Error(`ack #${i} is for append ${ack.appendNumber}: acknowledgments are not in append order`);
      const expected = appends.get(ack.appendNumber);
      if (ack.baseOffset !== expected.baseOffset || ack.lastOffset !== expected.lastOffset) {
        throw new Error(
          `append ${ack.appendNumber} was acknowledged at [${ack.baseOffset}, ${ack.lastOffset}], expected [${expected.baseOffset}, ${expected.lastOffset}]`,
        );
      }
      if (ack.checksum !== appendChecksum(expected.batches)) throw new Error(`append ${ack.appendNumber}: the child wrote other bytes than the workload regenerates`);
    });

    const walker = new LogWalker(log);
    let verifiedBatchCount = 0;
    for (const stored of this.batches) {
      const batch = walker.next();
      if (batch === undefined) {
        throw new Error(`the log ends at ${walker.nextOffset}; lost round ${stored.round} append ${stored.appendNumber} at [${stored.baseOffset}, ${stored.lastOffset}]`);
      }
      if (batch.length !== stored.batchBytes || crc32(batch) !== stored.checksum) {
        throw new Error(`the batch at ${stored.baseOffset} (round ${stored.round} append ${stored.appendNumber}) changed since it was verified`);
      }
      verifiedBatchCount++;
    }

    const added: StoredBatch[] = [];
    let survivingAppendCount = 0;
    let partialAppend = false;
    for (let appendNumber = 0; walker.nextOffset < log.highWatermark; appendNumber++) {
      const expected = appends.get(appendNumber);
      let found = 0;
      for (const expectedBatch of expected.batches) {
        const at = walker.nextOffset;
        const batch = walker.next();
        if (batch === undefined) break;
        if (!batch.equals(expectedBatch)) {
          throw new Error(`garbage at offset ${at}: the batch is not batch ${found} of append ${appendNumber} (${describeMismatch(batch, expectedBatch)})`);
        }
        const header = readBatchHeader(batch, 0);
        added.push({ baseOffset: at, lastOffset: batchLastOffset(header), batchBytes: batch.length, checksum: crc32(batch), round, appendNumber });
        verifiedBatchCount++;
        found++;
      }
      if (found === expected.batches.length) survivingAppendCount++;
      else partialAppend = true;
    }
    if (walker.nextOffset !== log.logEndOffset) throw new Error(`the walk ended at ${walker.nextOffset}, the log at ${log.logEndOffset}`);
    if (acks.length > survivingAppendCount) {
      const lost = appends.get(survivingAppendCount);
      throw new Error(
        `acknowledged append ${survivingAppendCount} at [${lost.baseOffset}, ${lost.lastOffset}] is missing: the log ends at ${log.logEndOffset} after ${survivingAppendCount} of ${acks.length} acknowledged appends`,
      );
    }
    this.batches.push(...added);
    this.spotRead(log, random);

    return {
      verifiedBatchCount,
      ackedAppendCount: acks.length,
      ackedBatchCount: acks.reduce((sum, ack) => sum + appends.get(ack.appendNumber).batches.length, 0),
      survivingAppendCount,
      survivingBatchCount: added.length,
      partialAppend,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
    };
  }

  /** Forgets the batches that retention deleted: everything below the log's new logStartOffset. */
  forgetBelow(logStartOffset: number): void {
    let dropped = 0;
    while (dropped < this.batches.length && this.batches[dropped]!.lastOffset < logStartOffset) dropped++;
    const first = this.batches[dropped];
    if (first === undefined ? logStartOffset !== this.logEndOffset : first.baseOffset !== logStartOffset) {
      throw new Error(`retention moved logStartOffset to ${logStartOffset}, which is not the start of a batch`);
    }
    this.batches.splice(0, dropped);
    this.startOffset = logStartOffset;
  }

  /**
   * Reads at random offsets inside batches (not at their starts), so the offset index of each segment
   * is used as recovery, rolls and clean closes left it: the batch holding the offset must come back.
   */
  private spotRead(log: SegmentLog, random: Random): void {
    if (this.batches.length === 0) return;
    for (let i = 0; i < SPOT_READ_COUNT; i++) {
      const offset = random.int(this.startOffset, this.logEndOffset);
      const stored = this.batchHolding(offset);
      const [batch] = splitBatches(log.read({ fromOffset: offset, maxBytes: 1 }).bytes);
      if (batch === undefined || batch.length !== stored.batchBytes || crc32(batch) !== stored.checksum) {
        throw new Error(`a read at offset ${offset} did not return the batch at ${stored.baseOffset} that holds it`);
      }
    }
  }

  private batchHolding(offset: number): StoredBatch {
    let low = 0;
    let high = this.batches.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.batches[mid]!.baseOffset <= offset) low = mid;
      else high = mid - 1;
    }
    const stored = this.batches[low]!;
    assert(stored.baseOffset <= offset && offset <= stored.lastOffset, `the model has no batch holding ${offset}`);
    return stored;
  }
}
