/**
 * The JSON schemas of the admin API, shared by validation (ajv), serialization (fast-json-stringify)
 * and the OpenAPI description (@fastify/swagger). Each schema with an `$id` is registered once on the
 * app and referenced as `{ $ref: '<Id>#' }`; the OpenAPI document lists it under that name.
 *
 * The topic settings' schema is generated from `TOPIC_SETTINGS`, so a new setting appears in the
 * API description without touching this file.
 */
import { TOPIC_SETTINGS } from '../../config.js';

/** A JSON schema as fastify takes it; kept loose because schemas are data, checked by ajv at start-up. */
export type JsonSchema = Record<string, unknown>;

/** `{ $ref }` to a schema registered here by its `$id`. */
export function ref(id: string): JsonSchema {
  return { $ref: `${id}#` };
}

export const errorReplySchema: JsonSchema = {
  $id: 'ErrorReply',
  type: 'object',
  description:
    'Every failure has this shape. `code` is stable (see the README error table); clients decide retries from `code` and `retriable`, never from `message`.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'retriable', 'details'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        retriable: { type: 'boolean' },
        details: { type: 'object', additionalProperties: true, description: 'Machine-readable facts: the field, the limit, the valid range, retryAfterMs.' },
      },
    },
  },
};

/** The error responses every route may give, for the OpenAPI description and serialization. */
export const errorResponses: JsonSchema = { '4xx': ref('ErrorReply'), '5xx': ref('ErrorReply') };

export const partitionStateSchema: JsonSchema = {
  $id: 'PartitionState',
  type: 'object',
  required: ['partition', 'logStartOffset', 'logEndOffset', 'highWatermark', 'sizeBytes', 'segmentCount'],
  properties: {
    partition: { type: 'integer' },
    logStartOffset: { type: 'integer', description: 'The first offset still stored.' },
    logEndOffset: { type: 'integer', description: 'The offset the next record gets.' },
    highWatermark: { type: 'integer', description: 'Readers see offsets below it (with durability always: the fsynced end).' },
    sizeBytes: { type: 'integer', description: 'Bytes of segment files.' },
    segmentCount: { type: 'integer' },
    offline: {
      type: 'object',
      description: 'Present when the partition is offline (corrupt log or I/O error): why.',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
};

interface SettingShape {
  kind: string;
  description: string;
  default: unknown;
  choices?: readonly string[];
  min?: number;
  max?: number;
  unlimited?: number;
}

function settingSchema(spec: SettingShape): JsonSchema {
  const base = { description: spec.description, default: spec.default };
  switch (spec.kind) {
    case 'integer':
      return { ...base, type: 'integer' };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'choice':
      return { ...base, type: 'string', enum: spec.choices };
    default:
      return { ...base, type: 'string' };
  }
}

const topicSettings: Record<string, SettingShape> = TOPIC_SETTINGS;

export const topicConfigSchema: JsonSchema = {
  $id: 'TopicConfig',
  type: 'object',
  description: 'Every topic setting in effect (the topic’s overrides over the broker’s topic defaults).',
  properties: Object.fromEntries(Object.entries(topicSettings).map(([key, spec]) => [key, settingSchema(spec)])),
};

export const topicOverridesSchema: JsonSchema = {
  $id: 'TopicOverrides',
  type: 'object',
  description: `The topic's own settings (keys: ${Object.keys(TOPIC_SETTINGS).join(', ')}); unknown keys or out-of-range values are refused with INVALID_CONFIG.`,
  // A union type (not anyOf) so ajv's type coercion leaves a number a number and a string a string.
  additionalProperties: { type: ['string', 'number'] },
};

export const topicSummarySchema: JsonSchema = {
  $id: 'TopicSummary',
  type: 'object',
  required: ['name', 'partitionCount', 'createdAtMs', 'overrides', 'offlinePartitionCount'],
  properties: {
    name: { type: 'string' },
    partitionCount: { type: 'integer' },
    createdAtMs: { type: 'integer' },
    overrides: ref('TopicOverrides'),
    offlinePartitionCount: { type: 'integer' },
  },
};

export const topicDescriptionSchema: JsonSchema = {
  $id: 'TopicDescription',
  type: 'object',
  required: ['name', 'partitionCount', 'createdAtMs', 'overrides', 'config', 'partitions'],
  properties: {
    name: { type: 'string' },
    partitionCount: { type: 'integer' },
    createdAtMs: { type: 'integer' },
    overrides: ref('TopicOverrides'),
    config: ref('TopicConfig'),
    partitions: { type: 'array', items: ref('PartitionState') },
  },
};

/** Registered on the app in this order (a schema may reference only those before it). */
export const SHARED_SCHEMAS: readonly JsonSchema[] = [
  errorReplySchema,
  partitionStateSchema,
  topicConfigSchema,
  topicOverridesSchema,
  topicSummarySchema,
  topicDescriptionSchema,
];
