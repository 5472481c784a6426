/**
 * Dead letters of a topic: list them with their provenance, and redrive them (with a dry run).
 * Routes name the source topic; its DLQ topic is the broker's to resolve (`dlqTopic` setting, else
 * `<topic>.dlq`). A topic none of whose records has failed yet has no DLQ topic: listing it is empty.
 *
 * Bounds: at most `limit` dead letters per listing (default 100, at most 1000), and the listing stops
 * early, saying `truncated`, once the records' bytes reach `fetchBytesMax` (each is rendered twice,
 * as text and base64). Page with `partition` and `fromOffset`.
 */
import type { FastifyInstance } from 'fastify';
import { TOPIC_NAME_PATTERN } from '../../../config.js';
import { BrokerError } from '../../../errors.js';
import type { DeadLetterView, RedriveRequest, RedriveResult } from '../../../broker.js';
import type { RouteContext } from '../context.js';
import { type RecordBytesReply, type RecordHeaderReply, recordBytesReply, recordSizeBytes } from '../record-bytes.js';
import { type JsonSchema, errorResponses, ref } from '../schemas.js';

interface TopicParams {
  topic: string;
}

interface DeadLettersQuery {
  partition?: number;
  fromOffset?: number;
  errorContains?: string;
  limit?: number;
}

type RedriveBody = Omit<RedriveRequest, 'dlqTopic'>;

export interface DeadLetterReply {
  partition: number;
  offset: number;
  timestampMs: number;
  key: RecordBytesReply | null;
  value: RecordBytesReply | null;
  headers: RecordHeaderReply[];
  provenance: NonNullable<DeadLetterView['provenance']> | null;
}

export interface DeadLettersReply {
  topic: string;
  dlqTopic: string;
  deadLetters: DeadLetterReply[];
  /** True when the listing stopped at its byte budget before `limit`. */
  truncated: boolean;
}

const DEAD_LETTERS_LIMIT_DEFAULT = 100;
const DEAD_LETTERS_LIMIT_MAX = 1000;
/** Longest `errorContains` filter. */
const ERROR_FILTER_CHARS_MAX = 1024;

function render(letter: DeadLetterView): DeadLetterReply {
  return {
    partition: letter.partition,
    offset: letter.offset,
    timestampMs: letter.timestampMs,
    key: recordBytesReply(letter.key),
    value: recordBytesReply(letter.value),
    headers: letter.headers.map((h) => ({ key: h.key, value: recordBytesReply(h.value) })),
    provenance: letter.provenance ?? null,
  };
}

export function dlqRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  const { topicNameBytesMax, fetchBytesMax } = broker.settings;
  const topicName = (description: string): JsonSchema => ({ type: 'string', minLength: 1, maxLength: topicNameBytesMax, pattern: TOPIC_NAME_PATTERN.source, description });
  const topicParams: JsonSchema = { type: 'object', required: ['topic'], properties: { topic: topicName('The source topic (not its DLQ topic).') } };
  const offset = (description: string): JsonSchema => ({ type: 'integer', minimum: 0, description });

  app.get<{ Params: TopicParams; Querystring: DeadLettersQuery }>(
    '/v1/topics/:topic/dlq',
    {
      schema: {
        tags: ['dlq'],
        summary: 'List a topic’s dead letters',
        description:
          'Records of the topic’s DLQ topic in offset order (partition by partition), each with its key, value and headers (text and base64) and its provenance: original topic, partition, offset and time, the group, attempts, cause, last error and error class, member, first and last failure. ' +
          `At most \`limit\` records, and fewer (\`truncated\`) once their bytes reach fetchBytesMax (${fetchBytesMax}). Empty while the topic has no DLQ topic yet; 404 TOPIC_NOT_FOUND for an unknown topic.`,
        params: topicParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            partition: { type: 'integer', minimum: 0, description: 'One DLQ partition (the same number as the original partition); all when absent.' },
            fromOffset: offset('First DLQ offset listed in each partition (default: the log start).'),
            errorContains: { type: 'string', minLength: 1, maxLength: ERROR_FILTER_CHARS_MAX, description: 'Only dead letters whose last error contains this text.' },
            limit: { type: 'integer', minimum: 1, maximum: DEAD_LETTERS_LIMIT_MAX, default: DEAD_LETTERS_LIMIT_DEFAULT },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['topic', 'dlqTopic', 'deadLetters', 'truncated'],
            properties: {
              topic: { type: 'string' },
              dlqTopic: { type: 'string' },
              deadLetters: { type: 'array', items: ref('DeadLetter') },
              truncated: { type: 'boolean', description: 'The listing stopped at its byte budget before `limit`: ask again from the next offset.' },
            },
          },
          ...errorResponses,
        },
      },
    },
    (request): DeadLettersReply => {
      const { topic } = request.params;
      const { partition, fromOffset, errorContains, limit = DEAD_LETTERS_LIMIT_DEFAULT } = request.query;
      const dlqTopic = broker.dlqTopicOf(topic);
      let letters: DeadLetterView[];
      try {
        letters = broker.listDeadLetters({
          dlqTopic,
          limit,
          ...(partition === undefined ? {} : { partition }),
          ...(fromOffset === undefined ? {} : { fromOffset }),
          ...(errorContains === undefined ? {} : { errorContains }),
        });
      } catch (error) {
        // The DLQ topic is created with the first dead letter; before that there is nothing to list.
        if (error instanceof BrokerError && error.code === 'TOPIC_NOT_FOUND' && error.details.topic === dlqTopic) letters = [];
        else throw error;
      }
      const deadLetters: DeadLetterReply[] = [];
      let budget = fetchBytesMax;
      for (const letter of letters) {
        const size = recordSizeBytes(letter);
        // At least one record, however large, so a listing always makes progress.
        if (deadLetters.length > 0 && size > budget) break;
        budget -= size;
        deadLetters.push(render(letter));
      }
      return { topic, dlqTopic, deadLetters, truncated: deadLetters.length < letters.length };
    },
  );

  app.post<{ Params: TopicParams; Body: RedriveBody }>(
    '/v1/topics/:topic/dlq/redrive',
    {
      schema: {
        tags: ['dlq'],
        summary: 'Redrive a topic’s dead letters',
        description:
          'Republishes dead letters to their original topic and partition (or to `toTopic`): all of them (body `{}`), a DLQ offset range [fromOffset, toOffset), one DLQ partition, or those from one original partition or whose error contains a text. ' +
          'With dryRun, counts and previews what would move and moves nothing. Records already redriven `redriveCountMax` times (default 3) are skipped unless `force`. ' +
          'A redrive is a resumable job: the same selection run again continues where the last run stopped and moves nothing twice. The request lasts until the run ends (longer with recordsPerSecondMax). 404 TOPIC_NOT_FOUND when the topic has no DLQ topic yet.',
        params: topicParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            toTopic: topicName('Where to republish (default: each record’s original topic).'),
            dlqPartition: { type: 'integer', minimum: 0, description: 'Only this DLQ partition (default: all).' },
            fromOffset: offset('First DLQ offset of the range, in each selected DLQ partition.'),
            toOffset: offset('End (exclusive) of the DLQ offset range.'),
            originalPartition: { type: 'integer', minimum: 0, description: 'Only dead letters from this partition of their original topic.' },
            errorContains: { type: 'string', minLength: 1, maxLength: ERROR_FILTER_CHARS_MAX, description: 'Only dead letters whose last error contains this text.' },
            dryRun: { type: 'boolean', description: 'Show what would move without moving anything.' },
            recordsPerSecondMax: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Rate limit (default: none).' },
            redriveCountMax: { type: 'integer', minimum: 0, maximum: 1000, description: 'Loop guard: skip records redriven this many times already (default 3).' },
            force: { type: 'boolean', description: 'Redrive records the loop guard would skip.' },
          },
        },
        response: { 200: ref('RedriveResult'), ...errorResponses },
      },
    },
    async (request): Promise<RedriveResult & { dlqTopic: string }> => {
      const body = request.body;
      if (body.fromOffset !== undefined && body.toOffset !== undefined && body.toOffset <= body.fromOffset) {
        throw new BrokerError('INVALID_ARGUMENT', `toOffset ${body.toOffset} must be greater than fromOffset ${body.fromOffset}`, {
          field: 'toOffset',
          fromOffset: body.fromOffset,
          toOffset: body.toOffset,
        });
      }
      const dlqTopic = broker.dlqTopicOf(request.params.topic);
      const result = await broker.redrive({ ...body, dlqTopic });
      return { dlqTopic, ...result };
    },
  );
}
