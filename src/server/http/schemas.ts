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
  required: ['name', 'partitionCount', 'createdAtMs', 'overrides', 'offlinePartitionCount', 'recordCount', 'sizeBytes', 'retentionMs', 'retentionBytes', 'dlqTopic'],
  properties: {
    name: { type: 'string' },
    partitionCount: { type: 'integer' },
    createdAtMs: { type: 'integer' },
    overrides: ref('TopicOverrides'),
    offlinePartitionCount: { type: 'integer' },
    recordCount: { type: 'integer', description: 'Records stored: the sum over partitions of highWatermark - logStartOffset.' },
    sizeBytes: { type: 'integer', description: 'Bytes of segment files over every partition.' },
    retentionMs: { type: 'integer', description: 'Retention by age in effect (-1: unlimited).' },
    retentionBytes: { type: 'integer', description: 'Retention by size per partition in effect (-1: unlimited).' },
    dlqTopic: { type: 'string', description: 'Its dead-letter topic in effect (created with the first dead letter).' },
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

// ---- consumer groups ----

export const groupSummarySchema: JsonSchema = {
  $id: 'GroupSummary',
  type: 'object',
  required: ['group', 'state', 'paused', 'memberCount', 'lagRecords'],
  properties: {
    group: { type: 'string' },
    state: { type: 'string', enum: ['active', 'empty'], description: '`active` while it has live members.' },
    paused: { type: 'boolean', description: 'A paused group gets no deliveries; its members stay joined.' },
    memberCount: { type: 'integer' },
    lagRecords: { type: 'integer', description: 'Sum of lagRecords over its partitions.' },
  },
};

export const groupMemberSchema: JsonSchema = {
  $id: 'GroupMember',
  type: 'object',
  required: ['memberId', 'clientId', 'topics', 'partitions', 'inFlight', 'disconnected', 'sessionExpiresInMs'],
  properties: {
    memberId: { type: 'string' },
    instanceId: { type: 'string', description: 'Present for a static member.' },
    clientId: { type: 'string' },
    topics: { type: 'array', items: { type: 'string' }, description: 'Topics it subscribes to.' },
    partitions: {
      type: 'array',
      description: 'Partitions assigned to it.',
      items: { type: 'object', required: ['topic', 'partition'], properties: { topic: { type: 'string' }, partition: { type: 'integer' } } },
    },
    inFlight: { type: 'integer', description: 'Records delivered to it and not yet acknowledged.' },
    disconnected: { type: 'boolean', description: 'A static member whose stream broke, keeping its partitions until its session expires.' },
    sessionExpiresInMs: { type: 'integer' },
  },
};

export const groupPartitionSchema: JsonSchema = {
  $id: 'GroupPartition',
  type: 'object',
  required: ['topic', 'partition', 'committedOffset', 'logStartOffset', 'highWatermark', 'lagRecords', 'lagSeconds', 'inFlight', 'inFlightBytes'],
  properties: {
    topic: { type: 'string' },
    partition: { type: 'integer' },
    committedOffset: { type: 'integer', description: 'The next offset the group will consume.' },
    logStartOffset: { type: 'integer' },
    highWatermark: { type: 'integer' },
    lagRecords: { type: 'integer', description: 'highWatermark - committedOffset.' },
    lagSeconds: { type: 'number', description: 'Age of the oldest unconsumed record (the one at committedOffset); 0 without lag.' },
    ownerMemberId: { type: 'string', description: 'The member it is assigned to; absent when unassigned.' },
    inFlight: { type: 'integer', description: 'Records delivered and not yet acknowledged.' },
    inFlightBytes: { type: 'integer', description: 'Bytes of those records as delivered (memberInFlightBytesMax bounds them per member).' },
    retrying: {
      type: 'object',
      description: 'Present while a failed record waits for its retry (the partition is held up behind it).',
      required: ['offset', 'failedAttempts', 'retryInMs'],
      properties: { offset: { type: 'integer' }, failedAttempts: { type: 'integer' }, retryInMs: { type: 'integer' } },
    },
  },
};

export const groupDescriptionSchema: JsonSchema = {
  $id: 'GroupDescription',
  type: 'object',
  required: ['group', 'state', 'paused', 'generation', 'strategy', 'members', 'partitions'],
  properties: {
    group: { type: 'string' },
    state: { type: 'string', enum: ['active', 'empty'] },
    paused: { type: 'boolean' },
    generation: { type: 'integer', description: 'Increases with every rebalance (and reset).' },
    strategy: { type: 'string', description: 'Assignment strategy: sticky, range or round-robin.' },
    members: { type: 'array', items: ref('GroupMember') },
    partitions: { type: 'array', items: ref('GroupPartition') },
  },
};

export const resetPlanEntrySchema: JsonSchema = {
  $id: 'ResetPlanEntry',
  type: 'object',
  required: ['partition', 'newOffset', 'lagRecords'],
  properties: {
    partition: { type: 'integer' },
    currentOffset: { type: 'integer', description: 'The committed offset before the reset; absent when the group has none there.' },
    newOffset: { type: 'integer' },
    lagRecords: { type: 'integer', description: 'The lag the new offset leaves.' },
  },
};

// ---- dead letters ----

export const recordBytesSchema: JsonSchema = {
  $id: 'RecordBytes',
  type: 'object',
  description: 'Bytes of a key, value or header value: exact as base64, and as text when they are valid UTF-8.',
  required: ['text', 'base64'],
  properties: {
    text: { type: ['string', 'null'], description: 'The bytes decoded as UTF-8; null when they are not valid UTF-8.' },
    base64: { type: 'string' },
  },
};

export const deadLetterSchema: JsonSchema = {
  $id: 'DeadLetter',
  type: 'object',
  required: ['partition', 'offset', 'timestampMs', 'key', 'value', 'headers', 'provenance'],
  properties: {
    partition: { type: 'integer', description: 'Partition of the DLQ topic.' },
    offset: { type: 'integer', description: 'Offset in the DLQ topic.' },
    timestampMs: { type: 'integer', description: 'When it was dead-lettered (its last failure).' },
    key: { anyOf: [ref('RecordBytes'), { type: 'null' }] },
    value: { anyOf: [ref('RecordBytes'), { type: 'null' }] },
    headers: {
      type: 'array',
      description: 'Every header as stored: the original ones and the `sluice.dlq.*` provenance.',
      items: { type: 'object', required: ['key', 'value'], properties: { key: { type: 'string' }, value: { anyOf: [ref('RecordBytes'), { type: 'null' }] } } },
    },
    provenance: {
      description: 'Where the record came from and why it failed; null for a record in the DLQ topic that is not a dead letter.',
      anyOf: [
        {
          type: 'object',
          required: ['topic', 'partition', 'offset', 'timestampMs', 'group', 'attempts', 'cause', 'error', 'errorClass', 'member', 'firstFailureMs', 'lastFailureMs', 'redriveCount'],
          properties: {
            topic: { type: 'string', description: 'Original topic.' },
            partition: { type: 'integer', description: 'Original partition.' },
            offset: { type: 'integer', description: 'Original offset.' },
            timestampMs: { type: 'integer', description: 'Original record time.' },
            group: { type: 'string', description: 'The consumer group that failed it.' },
            attempts: { type: 'integer' },
            cause: { type: 'string', description: 'nack, timeout, member-died or reject.' },
            error: { type: 'string', description: 'The last error text.' },
            errorClass: { type: 'string' },
            member: { type: 'string', description: 'The member that failed it last.' },
            firstFailureMs: { type: 'integer' },
            lastFailureMs: { type: 'integer' },
            redriveCount: { type: 'integer', description: 'Times it was redriven before (the loop guard counts these).' },
          },
        },
        { type: 'null' },
      ],
    },
  },
};

export const redriveResultSchema: JsonSchema = {
  $id: 'RedriveResult',
  type: 'object',
  required: ['dlqTopic', 'jobId', 'dryRun', 'movedCount', 'skippedByLoopGuardCount', 'skippedByFilterCount', 'totalMovedCount', 'preview'],
  properties: {
    dlqTopic: { type: 'string' },
    jobId: { type: 'string', description: 'Same selection, same job: a re-run continues where the last one stopped.' },
    dryRun: { type: 'boolean' },
    movedCount: { type: 'integer', description: 'Records moved by this run (a dry run: that would move).' },
    skippedByLoopGuardCount: { type: 'integer' },
    skippedByFilterCount: { type: 'integer', description: 'Records in the range that did not match the filters (or are not dead letters).' },
    totalMovedCount: { type: 'integer', description: 'Records moved by every run of this job.' },
    preview: {
      type: 'array',
      description: 'For a dry run, the first records that would move.',
      items: {
        type: 'object',
        required: ['dlqPartition', 'dlqOffset', 'toTopic', 'toPartition', 'originalOffset', 'error'],
        properties: {
          dlqPartition: { type: 'integer' },
          dlqOffset: { type: 'integer' },
          toTopic: { type: 'string' },
          toPartition: { type: 'integer' },
          originalOffset: { type: 'integer' },
          error: { type: 'string' },
        },
      },
    },
  },
};

// ---- records and the broker overview ----

export const recordSchema: JsonSchema = {
  $id: 'Record',
  type: 'object',
  required: ['offset', 'timestampMs', 'key', 'value', 'headers'],
  properties: {
    offset: { type: 'integer' },
    timestampMs: { type: 'integer', description: 'The record time (the producer’s, or the broker’s clock when it gave none).' },
    key: { anyOf: [ref('RecordBytes'), { type: 'null' }] },
    value: { anyOf: [ref('RecordBytes'), { type: 'null' }] },
    headers: {
      type: 'array',
      items: { type: 'object', required: ['key', 'value'], properties: { key: { type: 'string' }, value: { anyOf: [ref('RecordBytes'), { type: 'null' }] } } },
    },
  },
};

const counterTotals = (what: string): JsonSchema => ({ type: 'integer', description: `${what} since the broker started.` });

export const brokerOverviewSchema: JsonSchema = {
  $id: 'BrokerOverview',
  type: 'object',
  description: 'The broker at a glance. Counters only grow (until a restart): rates are the difference of two readings over the difference of their `nowMs`.',
  required: [
    'version',
    'startedAtMs',
    'nowMs',
    'uptimeMs',
    'dataDir',
    'topicCount',
    'partitionCount',
    'offlinePartitionCount',
    'logSizeBytes',
    'groupCount',
    'counters',
    'errors',
  ],
  properties: {
    version: { type: 'string' },
    startedAtMs: { type: 'integer' },
    nowMs: { type: 'integer', description: 'The broker’s clock when this was read.' },
    uptimeMs: { type: 'integer' },
    dataDir: { type: 'string' },
    topicCount: { type: 'integer' },
    partitionCount: { type: 'integer' },
    offlinePartitionCount: { type: 'integer' },
    logSizeBytes: { type: 'integer', description: 'Bytes of segment files over every partition (the metadata store is not counted).' },
    groupCount: { type: 'integer' },
    counters: {
      type: 'object',
      required: [
        'produceRecords',
        'produceBytes',
        'fetchRecords',
        'fetchBytes',
        'deliveredRecords',
        'deliveredBytes',
        'redeliveredRecords',
        'deadLetteredRecords',
        'produceRejections',
        'errors',
      ],
      properties: {
        produceRecords: counterTotals('Records appended by producers'),
        produceBytes: counterTotals('Record bytes (key + value + headers) appended by producers'),
        fetchRecords: counterTotals('Records returned by fetches and subscriptions (and the record browser)'),
        fetchBytes: counterTotals('Batch bytes returned by fetches and subscriptions'),
        deliveredRecords: counterTotals('Records delivered to consumer-group members, redeliveries included'),
        deliveredBytes: counterTotals('Record-batch bytes (as stored in the log) delivered to consumer-group members'),
        redeliveredRecords: counterTotals('Deliveries after a failed attempt'),
        deadLetteredRecords: counterTotals('Records moved to dead-letter topics'),
        produceRejections: counterTotals('Produce requests refused for backpressure or quotas'),
        errors: counterTotals('Requests answered with an error, over both transports'),
      },
    },
    errors: {
      type: 'array',
      description: 'Requests answered with an error, per transport and code, most frequent first.',
      items: {
        type: 'object',
        required: ['transport', 'code', 'count'],
        properties: { transport: { type: 'string', enum: ['grpc', 'http'] }, code: { type: 'string' }, count: { type: 'integer' } },
      },
    },
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
  groupSummarySchema,
  groupMemberSchema,
  groupPartitionSchema,
  groupDescriptionSchema,
  resetPlanEntrySchema,
  recordBytesSchema,
  deadLetterSchema,
  redriveResultSchema,
  recordSchema,
  brokerOverviewSchema,
];
