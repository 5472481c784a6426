/**
 * The sending half of `sluice produce`: batches go out on a produce stream with at most
 * `inFlightMax` of them unanswered, so reading input pauses while the window is full and memory
 * stays bounded.
 *
 * Retries keep the input order where they can. A batch refused with a retriable error
 * (`BROKER_BUSY`, `THROTTLED`, a broken connection, ...) starts a recovery: no new batch is sent, the
 * batches still in flight are waited for (after a broken connection they all fail alike), and then
 * the failed batches are sent again one at a time in input order, on a fresh stream (a failed stream
 * refuses every later request), each after a backoff (retry.ts) while the failures go on and at
 * once after a success. Then sending resumes. A batch that fails for good (a non-retriable error,
 * or retries used up) is reported with its input lines; the caller stops reading.
 *
 * What an acknowledgment means is the topic's durability mode (README "Durability"). Delivery is
 * at least once: a batch whose stream broke before it was answered may have been written, and its
 * retry then writes it again. Order can still change when a batch is refused while a later one in
 * the same window is accepted (a quota refilling in between); `inFlightMax` 1 rules that out.
 */
import type { ProduceStream, ProducerRecord, SluiceClient } from '../client/index.js';
import { type RandomSource, type RetryPolicy, isRetriable, retryDelayMs, sleep } from './retry.js';

/** Records of consecutive input lines, sent as one produce request. */
export interface LineBatch {
  firstLine: number;
  lastLine: number;
  records: ProducerRecord[];
}

export interface FailedBatch {
  firstLine: number;
  lastLine: number;
  recordCount: number;
  /** The last failure (after retries, if it was retriable). */
  error: unknown;
}

export interface ProduceReport {
  acknowledgedCount: number;
  /** Batches not acknowledged, by first line. */
  failed: FailedBatch[];
}

export interface BatchProducerOptions {
  client: SluiceClient;
  topic: string;
  /** Every record to this partition; otherwise the broker routes by key. */
  partition?: number;
  /** Batches sent and not yet answered, at most. */
  inFlightMax: number;
  retry: RetryPolicy;
  random?: RandomSource;
  sleep?: (delayMs: number) => Promise<void>;
}

interface RetryEntry {
  batch: LineBatch;
  error: unknown;
}

export class BatchProducer {
  private stream: ProduceStream;
  /** First attempts in flight. */
  private readonly sending = new Set<Promise<void>>();
  /** Batches refused with a retriable error, waiting for the recovery. */
  private readonly toRetry: RetryEntry[] = [];
  private recovery: Promise<void> | undefined;
  /** Replaced streams finishing their last answers. */
  private readonly closing: Promise<void>[] = [];
  private acknowledgedCount = 0;
  private readonly failures: FailedBatch[] = [];

  constructor(private readonly options: BatchProducerOptions) {
    this.stream = options.client.produceStream({ inFlightMax: options.inFlightMax });
  }

  /** Whether some batch failed for good; the caller should stop sending more. */
  get failed(): boolean {
    return this.failures.length > 0;
  }

  /** Starts sending `batch`; resolves once it is under way (after a running recovery, and once the window has room). */
  async submit(batch: LineBatch): Promise<void> {
    for (;;) {
      if (this.recovery !== undefined) await this.recovery;
      else if (this.sending.size >= this.options.inFlightMax) await Promise.race(this.sending);
      else break;
    }
    const attempt: Promise<void> = this.firstAttempt(batch).finally(() => this.sending.delete(attempt));
    this.sending.add(attempt);
  }

  /** Waits for every batch's outcome and closes the streams. */
  async finish(): Promise<ProduceReport> {
    while (this.sending.size > 0 || this.recovery !== undefined) {
      await Promise.all([...this.sending]);
      await this.recovery;
    }
    await this.stream.close();
    await Promise.all(this.closing);
    return { acknowledgedCount: this.acknowledgedCount, failed: [...this.failures].sort((a, b) => a.firstLine - b.firstLine) };
  }

  /** Never rejects: the outcome is an acknowledgment, a failure, or a place in the retry queue. */
  private async firstAttempt(batch: LineBatch): Promise<void> {
    try {
      await this.send(batch);
    } catch (error) {
      if (!isRetriable(error) || this.options.retry.retriesMax === 0) {
        this.fail(batch, error);
        return;
      }
      this.toRetry.push({ batch, error });
      this.recovery ??= this.recover().finally(() => (this.recovery = undefined));
    }
  }

  private async recover(): Promise<void> {
    // The other first attempts in flight may fail the same way; they join the queue.
    while (this.sending.size > 0) await Promise.all([...this.sending]);
    this.toRetry.sort((a, b) => a.batch.firstLine - b.batch.firstLine);
    const { retry: policy, random } = this.options;
    const wait = this.options.sleep ?? sleep;
    // Whether the last attempt of this recovery failed: only then is there a reason to back off.
    let backOff = true;
    for (let entry = this.toRetry.shift(); entry !== undefined; entry = this.toRetry.shift()) {
      let error = entry.error;
      for (let retry = 1; ; retry++) {
        if (retry > policy.retriesMax) {
          this.fail(entry.batch, error);
          break;
        }
        if (backOff) await wait(retryDelayMs(error, retry, policy, random));
        try {
          await this.send(entry.batch);
          backOff = false;
          break;
        } catch (next) {
          error = next;
          backOff = true;
          if (!isRetriable(next)) {
            this.fail(entry.batch, next);
            break;
          }
        }
      }
    }
  }

  private async send(batch: LineBatch): Promise<void> {
    const { topic, partition } = this.options;
    const stream = this.stream;
    try {
      await stream.send({ topic, records: batch.records, ...(partition === undefined ? {} : { partition }) });
      this.acknowledgedCount += batch.records.length;
    } catch (error) {
      // A retriable failure may mean the stream is gone; replace it once (later failures from it find it replaced).
      if (isRetriable(error) && stream === this.stream) this.replaceStream();
      throw error;
    }
  }

  private fail(batch: LineBatch, error: unknown): void {
    this.failures.push({ firstLine: batch.firstLine, lastLine: batch.lastLine, recordCount: batch.records.length, error });
  }

  private replaceStream(): void {
    const old = this.stream;
    this.stream = this.options.client.produceStream({ inFlightMax: this.options.inFlightMax });
    this.closing.push(old.close());
  }
}
