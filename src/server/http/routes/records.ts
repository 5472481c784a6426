/**
 * The record browser: read a page of one partition's records from an offset, or from the first
 * record at or after a time, with keys, values and header values as text and base64 (as the
 * dead-letter listing shows them). Read-only: it goes through the broker's fetch (same offset checks,
 * same `fetchBytesMax` clamp) and counts in the fetch metrics like any other reader.
 *
 * Bounds: at most `limit` records (default 50, at most 1000) from one read of at most `maxBytes`
 * batch bytes (default 1 MiB, at most fetchBytesMax); each record is rendered twice (text and
 * base64), so a response stays under about 2.5 x maxBytes. Page on with `nextOffset`.
 */
import type { FastifyInstance } from 'fastify';
import { TOPIC_NAME_PATTERN } from '../../../config.js';
import { BrokerError } from '../../../errors.js';
import type { RouteContext } from '../context.js';
import { type RecordBytesReply, type RecordHeaderReply, recordBytesReply } from '../record-bytes.js';
import { errorResponses, ref } from '../schemas.js';

interface RecordsParams {
  topic: string;
  partition: number;
}

interface RecordsQuery {
  offset?: number;
  timestampMs?: number;
  limit?: number;
  maxBytes?: number;
}

export interface RecordReply {
  offset: number;
  timestampMs: number;
  key: RecordBytesReply | null;
  value: RecordBytesReply | null;
  headers: RecordHeaderReply[];
}

export interface RecordsReply {
  topic: string;
  partition: number;
  /** Where this page starts: `offset`, the offset found for `timestampMs`, or the log start. */
  fromOffset: number;
  /** Where the next page starts (`highWatermark` once the page reached the end). */
  nextOffset: number;
  logStartOffset: number;
  highWatermark: number;
  records: RecordReply[];
}

const RECORDS_LIMIT_DEFAULT = 50;
const RECORDS_LIMIT_MAX = 1000;
const READ_BYTES_DEFAULT = 1024 * 1024;

export function recordRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  const { topicNameBytesMax, fetchBytesMax, partitionCountMax } = broker.settings;

  app.get<{ Params: RecordsParams; Querystring: RecordsQuery }>(
    '/v1/topics/:topic/partitions/:partition/records',
    {
      schema: {
        tags: ['topics'],
        summary: 'Browse a partition’s records',
        description:
          'A page of records in offset order from `offset`, or from the first record at or after `timestampMs` (neither: from the log start), each with its key, value and header values as text (when UTF-8) and base64. ' +
          `At most \`limit\` records from one read of at most \`maxBytes\` bytes (default ${READ_BYTES_DEFAULT}, at most fetchBytesMax ${fetchBytesMax}); the next page starts at \`nextOffset\`. ` +
          '416 OFFSET_OUT_OF_RANGE for an offset outside [logStartOffset, highWatermark]; 404 TOPIC_NOT_FOUND, PARTITION_NOT_FOUND.',
        params: {
          type: 'object',
          required: ['topic', 'partition'],
          properties: {
            topic: { type: 'string', minLength: 1, maxLength: topicNameBytesMax, pattern: TOPIC_NAME_PATTERN.source, description: 'Topic name.' },
            partition: { type: 'integer', minimum: 0, maximum: partitionCountMax - 1 },
          },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            offset: { type: 'integer', minimum: 0, description: 'First offset of the page. Not with timestampMs.' },
            timestampMs: { type: 'integer', minimum: 0, description: 'Start at the first record at or after this time (the end of the log when none is that new). Not with offset.' },
            limit: { type: 'integer', minimum: 1, maximum: RECORDS_LIMIT_MAX, default: RECORDS_LIMIT_DEFAULT },
            maxBytes: { type: 'integer', minimum: 1, maximum: fetchBytesMax, description: 'Byte budget of the read.' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['topic', 'partition', 'fromOffset', 'nextOffset', 'logStartOffset', 'highWatermark', 'records'],
            properties: {
              topic: { type: 'string' },
              partition: { type: 'integer' },
              fromOffset: { type: 'integer' },
              nextOffset: { type: 'integer', description: 'Where the next page starts; equal to highWatermark once the page reached the end.' },
              logStartOffset: { type: 'integer' },
              highWatermark: { type: 'integer' },
              records: { type: 'array', items: ref('Record') },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<RecordsReply> => {
      const { topic, partition } = request.params;
      const { offset, timestampMs, limit = RECORDS_LIMIT_DEFAULT, maxBytes = Math.min(READ_BYTES_DEFAULT, fetchBytesMax) } = request.query;
      if (offset !== undefined && timestampMs !== undefined) {
        throw new BrokerError('INVALID_ARGUMENT', 'give offset or timestampMs, not both', { field: 'timestampMs' });
      }
      const [found] = broker.listOffsets({ topic, partitions: [partition], spec: timestampMs === undefined ? { earliest: true } : { timestampMs } });
      if (found === undefined) throw new BrokerError('INTERNAL', `no offsets for ${topic}/${partition}`);
      const fromOffset = offset ?? found.offset;
      if (fromOffset < found.logStartOffset || fromOffset > found.highWatermark) {
        throw new BrokerError('OFFSET_OUT_OF_RANGE', `offset ${fromOffset} is outside [${found.logStartOffset}, ${found.highWatermark}] of ${topic}/${partition}`, {
          offset: fromOffset,
          logStartOffset: found.logStartOffset,
          highWatermark: found.highWatermark,
        });
      }
      const result = await broker.fetch({ topic, partition, offset: fromOffset, maxBytes, maxWaitMs: 0 });
      const page = result.records.slice(0, limit);
      const last = page.at(-1);
      const nextOffset = page.length < result.records.length && last !== undefined ? last.offset + 1 : result.nextOffset;
      return {
        topic,
        partition,
        fromOffset,
        nextOffset,
        logStartOffset: result.logStartOffset,
        highWatermark: result.highWatermark,
        records: page.map((record) => ({
          offset: record.offset,
          timestampMs: record.timestampMs,
          key: recordBytesReply(record.key),
          value: recordBytesReply(record.value),
          headers: record.headers.map((header) => ({ key: header.key, value: recordBytesReply(header.value) })),
        })),
      };
    },
  );
}
