/**
 * `sluice produce`'s reading side without a broker: lines to messages, the bounded window (reading
 * pauses while the producer holds a full window of unsettled lines), and the report of the lines not
 * acknowledged. The sending itself is the client library's Producer (test/e2e/client-producer.test.ts);
 * here a scripted stand-in plays it.
 */
import { describe, expect, it } from 'vitest';
import { type ProducerMessage, type RecordMetadata, type SendRequest, SluiceError } from '../../../src/client/index.js';
import { type LineOptions, LineSplitter, produceLines } from '../../../src/cli/produce.js';
import { CliError } from '../../../src/cli/context.js';

const notFound = new SluiceError({ code: 'TOPIC_NOT_FOUND', message: 'topic "t" does not exist', retriable: false, grpcCode: 5 });
const unavailable = new SluiceError({ code: 'BROKER_UNAVAILABLE', message: 'retries used up', retriable: true, grpcCode: 14 });

const options = (more: Partial<LineOptions> = {}): LineOptions => ({ batchRecordsMax: 500, batchBytesMax: 1024 * 1024, inFlightMax: 4, ...more });

/** A stand-in Producer: each send waits for `settle(first value)` (or settles by `answer` of its first value when given). */
function scriptedProducer(answer?: (value: string) => SluiceError | undefined) {
  const sent: ProducerMessage[] = [];
  const sends: string[][] = [];
  const waiting = new Map<string, (error?: SluiceError) => void>();
  const producer = {
    send(request: SendRequest): Promise<RecordMetadata[]> {
      sent.push(...request.messages);
      sends.push(request.messages.map((m) => String(m.value)));
      const value = String(request.messages[0]!.value);
      return new Promise((resolve, reject) => {
        const settle = (error?: SluiceError): void => (error === undefined ? resolve([{ topic: request.topic, partition: 0, offset: sent.length }]) : reject(error));
        if (answer === undefined) waiting.set(value, settle);
        else setImmediate(() => settle(answer(value)));
      });
    },
  };
  return { producer, sent, sends, waiting };
}

/** Input that yields one line per chunk and counts how many were read. */
function countedLines(count: number, between?: () => Promise<void>) {
  const state = { read: 0 };
  async function* lines(): AsyncGenerator<string> {
    for (let line = 1; line <= count; line++) {
      if (between !== undefined) await between();
      state.read = line;
      yield `${line}\n`;
    }
  }
  return { input: lines(), state };
}

async function* chunks(...values: string[]): AsyncGenerator<string> {
  for (const value of values) yield await Promise.resolve(value);
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

function stderrSink() {
  const chunks: string[] = [];
  return { stream: { write: (chunk: string) => (chunks.push(chunk), true) } as unknown as NodeJS.WritableStream, text: () => chunks.join('') };
}

describe('produceLines', () => {
  it('pauses reading while a full window of lines is unsettled, and resumes as lines are acknowledged', async () => {
    const { producer, sent, waiting } = scriptedProducer();
    const { input, state } = countedLines(10);
    // Window: (inFlightMax + 1) * batchRecordsMax = 3 lines.
    const done = produceLines({ input, stderr: stderrSink().stream, producer, topic: 't', options: options({ batchRecordsMax: 1, inFlightMax: 2 }) });
    await ticks();
    expect(sent.map((m) => String(m.value))).toEqual(['1', '2', '3']);
    expect(state.read).toBe(4); // the fourth line waits for room
    waiting.get('2')!();
    await ticks();
    expect(sent).toHaveLength(4);
    expect(state.read).toBe(5);
    for (let line = 1; line <= 10; line++) {
      waiting.get(String(line))?.();
      waiting.delete(String(line));
      await ticks(2);
    }
    await done;
    expect(sent.map((m) => String(m.value))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  });

  it('reports the lines not acknowledged, grouped by error, and exits NOT_ACKNOWLEDGED', async () => {
    const { producer } = scriptedProducer((value) => (['3', '4', '7'].includes(value) ? notFound : value === '5' ? unavailable : undefined));
    const stderr = stderrSink();
    // One line per send (batches of one record), all sent before the first failure is known.
    const outcome = produceLines({ input: chunks('1\n2\n3\n4\n5\n6\n7\n8\n'), stderr: stderr.stream, producer, topic: 't', options: options({ batchRecordsMax: 1, inFlightMax: 10 }) });
    await expect(outcome).rejects.toEqual(new CliError('NOT_ACKNOWLEDGED', '4 of 8 records sent were not acknowledged'));
    expect(stderr.text()).toBe(
      'error: TOPIC_NOT_FOUND: topic "t" does not exist (lines 3-4, 7 not acknowledged)\n' + 'error: BROKER_UNAVAILABLE: retries used up (line 5 not acknowledged)\n',
    );
  });

  it('sends the lines read together in one send (up to a batch) and reports a failed send with its lines', async () => {
    const { producer, sends } = scriptedProducer((value) => (value === '4' ? notFound : undefined));
    const stderr = stderrSink();
    const outcome = produceLines({ input: chunks('1\n2\n3\n4\n5', '\n6\n7\n'), stderr: stderr.stream, producer, topic: 't', options: options({ batchRecordsMax: 3 }) });
    await expect(outcome).rejects.toEqual(new CliError('NOT_ACKNOWLEDGED', '1 of 7 records sent were not acknowledged'));
    expect(sends).toEqual([['1', '2', '3'], ['4'], ['5', '6', '7']]);
    expect(stderr.text()).toBe('error: TOPIC_NOT_FOUND: topic "t" does not exist (line 4 not acknowledged)\n');
  });

  it('stops reading at the first line that fails for good', async () => {
    const { producer, sent } = scriptedProducer((value) => (value === '2' ? notFound : undefined));
    const { input, state } = countedLines(100, () => ticks(2));
    const stderr = stderrSink();
    await expect(produceLines({ input, stderr: stderr.stream, producer, topic: 't', options: options() })).rejects.toMatchObject({
      code: 'NOT_ACKNOWLEDGED',
      message: expect.stringMatching(/^1 of \d records sent were not acknowledged; stopped reading input after line \d$/),
    });
    expect(state.read).toBeLessThan(6);
    expect(sent.length).toBeLessThan(6);
    expect(stderr.text()).toBe('error: TOPIC_NOT_FOUND: topic "t" does not exist (line 2 not acknowledged)\n');
  });

  it('makes keys, values, headers and the partition from the options; a line without the separator stops after the lines before it', async () => {
    const { producer, sent } = scriptedProducer(() => undefined);
    const stderr = stderrSink();
    const outcome = produceLines({
      input: chunks('k1:v:1\r\n:empty key\n', 'no separator\nk3:v3\n'),
      stderr: stderr.stream,
      producer,
      topic: 't',
      options: options({ keySeparator: ':', partition: 2, header: [['h', 'x'], ['h', 'y']] }),
    });
    await expect(outcome).rejects.toEqual(new CliError('INVALID_INPUT', 'line 3 has no key separator ":"'));
    expect(stderr.text()).toBe('');
    expect(sent.map((m) => [String(m.key), String(m.value), m.partition, m.headers])).toEqual([
      ['k1', 'v:1', 2, [{ key: 'h', value: 'x' }, { key: 'h', value: 'y' }]],
      ['', 'empty key', 2, [{ key: 'h', value: 'x' }, { key: 'h', value: 'y' }]],
    ]);
  });
});

describe('LineSplitter', () => {
  it('cuts chunks into numbered lines across chunk boundaries, without \\n or \\r\\n', () => {
    const splitter = new LineSplitter(100);
    const lines = [...splitter.push(Buffer.from('a\r\nb')), ...splitter.push(Buffer.from('c\n\nd')), splitter.end()];
    expect(lines.map((l) => [l?.lineNumber, l?.bytes.toString()])).toEqual([
      [1, 'a'],
      [2, 'bc'],
      [3, ''],
      [4, 'd'],
    ]);
    expect(splitter.end()).toBeUndefined();
  });

  it('refuses a line longer than its limit before buffering it whole', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('1234\n'))).toHaveLength(1);
    expect(() => splitter.push(Buffer.from('12345'))).toThrow('line 2 is longer than 4 bytes');
  });
});
