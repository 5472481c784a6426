/**
 * Topic admin: list, create, describe, delete, and the offsets of a topic's partitions.
 * Validation here is the request's shape (JSON schemas); the rules (topic names, partition count
 * limit, setting keys and ranges) are the broker's, so both transports refuse the same things.
 */
import type { FastifyInstance } from 'fastify';
import { TOPIC_NAME_PATTERN } from '../../../config.js';
import { BrokerError } from '../../../errors.js';
import type { OffsetSpec, TopicDescription } from '../../../broker.js';
import type { RouteContext } from '../context.js';
import { errorResponses, ref } from '../schemas.js';

interface TopicParams {
  topic: string;
}

interface CreateTopicBody {
  name: string;
  partitionCount: number;
  config?: Record<string, string | number>;
}

interface OffsetsQuery {
  spec: 'earliest' | 'latest' | 'timestamp';
  timestampMs?: number;
  partition?: number;
}

const topicParams = {
  type: 'object',
  required: ['topic'],
  properties: { topic: { type: 'string', minLength: 1, description: 'Topic name.' } },
};

function summary(topic: TopicDescription, dlqTopic: string): Record<string, unknown> {
  return {
    name: topic.name,
    partitionCount: topic.partitionCount,
    createdAtMs: topic.createdAtMs,
    overrides: topic.overrides,
    offlinePartitionCount: topic.partitions.filter((p) => p.offline !== undefined).length,
    recordCount: topic.partitions.reduce((total, p) => total + (p.highWatermark - p.logStartOffset), 0),
    sizeBytes: topic.partitions.reduce((total, p) => total + p.sizeBytes, 0),
    retentionMs: topic.config.retentionMs,
    retentionBytes: topic.config.retentionBytes,
    dlqTopic,
  };
}

export function topicRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  const { partitionCountMax, topicNameBytesMax } = broker.settings;

  app.get(
    '/v1/topics',
    {
      schema: {
        tags: ['topics'],
        summary: 'List topics',
        response: {
          200: { type: 'object', required: ['topics'], properties: { topics: { type: 'array', items: ref('TopicSummary') } } },
          ...errorResponses,
        },
      },
    },
    () => ({ topics: broker.listTopics().map((topic) => summary(topic, broker.dlqTopicOf(topic.name))) }),
  );

  app.post<{ Body: CreateTopicBody }>(
    '/v1/topics',
    {
      schema: {
        tags: ['topics'],
        summary: 'Create a topic',
        description: 'Creates the topic with `partitionCount` partitions and the given setting overrides. 409 TOPIC_EXISTS if the name is taken.',
        body: {
          type: 'object',
          required: ['name', 'partitionCount'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: topicNameBytesMax, pattern: TOPIC_NAME_PATTERN.source, description: 'Letters, digits, `.`, `_`, `-`; not `.` or `..`.' },
            partitionCount: { type: 'integer', minimum: 1, maximum: partitionCountMax },
            config: ref('TopicOverrides'),
          },
        },
        response: { 201: ref('TopicDescription'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name, partitionCount, config } = request.body;
      const created = await broker.createTopic({ name, partitionCount, ...(config ? { config } : {}) });
      return reply.code(201).header('location', `/v1/topics/${encodeURIComponent(created.name)}`).send(created);
    },
  );

  app.get<{ Params: TopicParams }>(
    '/v1/topics/:topic',
    {
      schema: {
        tags: ['topics'],
        summary: 'Describe a topic',
        description: 'Settings in effect and, per partition, log start and end offsets, high watermark, bytes, segment count and offline state.',
        params: topicParams,
        response: { 200: ref('TopicDescription'), ...errorResponses },
      },
    },
    (request) => broker.describeTopic(request.params.topic),
  );

  app.delete<{ Params: TopicParams }>(
    '/v1/topics/:topic',
    {
      schema: {
        tags: ['topics'],
        summary: 'Delete a topic',
        description: 'Deletes the topic and its data. 204 on success.',
        params: topicParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      await broker.deleteTopic(request.params.topic);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: TopicParams; Querystring: OffsetsQuery }>(
    '/v1/topics/:topic/offsets',
    {
      schema: {
        tags: ['topics'],
        summary: 'Offsets of a topic’s partitions',
        description:
          'spec=earliest: the log start offset; latest: the high watermark; timestamp: the first offset whose record time is at or after timestampMs (the high watermark if none).',
        params: topicParams,
        querystring: {
          type: 'object',
          required: ['spec'],
          additionalProperties: false,
          properties: {
            spec: { type: 'string', enum: ['earliest', 'latest', 'timestamp'] },
            timestampMs: { type: 'integer', minimum: 0, description: 'Required with spec=timestamp.' },
            partition: { type: 'integer', minimum: 0, description: 'One partition; all partitions when absent.' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['topic', 'spec', 'offsets'],
            properties: {
              topic: { type: 'string' },
              spec: { type: 'string' },
              offsets: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['partition', 'offset', 'logStartOffset', 'highWatermark'],
                  properties: { partition: { type: 'integer' }, offset: { type: 'integer' }, logStartOffset: { type: 'integer' }, highWatermark: { type: 'integer' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    (request) => {
      const { topic } = request.params;
      const { spec, timestampMs, partition } = request.query;
      let offsetSpec: OffsetSpec;
      if (spec === 'timestamp') {
        if (timestampMs === undefined) throw new BrokerError('INVALID_ARGUMENT', 'spec=timestamp needs timestampMs', { field: 'timestampMs' });
        offsetSpec = { timestampMs };
      } else {
        offsetSpec = spec === 'earliest' ? { earliest: true } : { latest: true };
      }
      const offsets = broker.listOffsets({ topic, spec: offsetSpec, ...(partition !== undefined ? { partitions: [partition] } : {}) });
      return { topic, spec, offsets };
    },
  );
}
