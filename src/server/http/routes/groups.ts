/**
 * Consumer-group admin: list, describe (members, committed offsets, lag in records and seconds),
 * reset offsets (with a dry run), pause and resume deliveries, delete.
 * Validation here is the request's shape; the rules (a reset of a group with live members needs
 * `force`, a group with live members cannot be deleted) are the broker's, so both transports refuse
 * the same things.
 */
import type { FastifyInstance } from 'fastify';
import { TOPIC_NAME_PATTERN } from '../../../config.js';
import { BrokerError } from '../../../errors.js';
import type { ResetPlanEntry, ResetTarget } from '../../../broker.js';
import type { RouteContext } from '../context.js';
import { type JsonSchema, errorResponses, ref } from '../schemas.js';

interface GroupParams {
  group: string;
}

interface ResetBody {
  topic: string;
  to: 'earliest' | 'latest' | 'timestamp' | 'offsets';
  timestampMs?: number;
  /** Partition number (as a JSON key) -> the new committed offset. */
  offsets?: Record<string, number>;
  force?: boolean;
  dryRun?: boolean;
}

export interface ResetReply {
  group: string;
  topic: string;
  dryRun: boolean;
  /** False for a dry run: the plan shows what would change. */
  executed: boolean;
  plan: ResetPlanEntry[];
}

export interface PauseReply {
  group: string;
  paused: boolean;
}

/** The target a reset body describes; fields that do not belong to `to` are refused, not ignored. */
function resetTarget(body: ResetBody): ResetTarget {
  const misplaced = (field: 'timestampMs' | 'offsets'): BrokerError =>
    new BrokerError('INVALID_ARGUMENT', `${field} goes only with to=${field === 'timestampMs' ? 'timestamp' : 'offsets'}`, { field, to: body.to });
  if (body.to !== 'timestamp' && body.timestampMs !== undefined) throw misplaced('timestampMs');
  if (body.to !== 'offsets' && body.offsets !== undefined) throw misplaced('offsets');
  switch (body.to) {
    case 'earliest':
      return { earliest: true };
    case 'latest':
      return { latest: true };
    case 'timestamp':
      if (body.timestampMs === undefined) throw new BrokerError('INVALID_ARGUMENT', 'to=timestamp needs timestampMs', { field: 'timestampMs' });
      return { timestampMs: body.timestampMs };
    case 'offsets': {
      if (body.offsets === undefined) throw new BrokerError('INVALID_ARGUMENT', 'to=offsets needs offsets: {"<partition>": <offset>}', { field: 'offsets' });
      const offsets: Record<number, number> = {};
      for (const [partition, offset] of Object.entries(body.offsets)) offsets[Number(partition)] = offset;
      return { offsets };
    }
  }
}

export function groupRoutes(app: FastifyInstance, { broker }: RouteContext): void {
  const { topicNameBytesMax, partitionCountMax } = broker.settings;
  const name = (description: string): JsonSchema => ({ type: 'string', minLength: 1, maxLength: topicNameBytesMax, pattern: TOPIC_NAME_PATTERN.source, description });
  const groupParams: JsonSchema = { type: 'object', required: ['group'], properties: { group: name('Group name.') } };
  const pauseReply: JsonSchema = { type: 'object', required: ['group', 'paused'], properties: { group: { type: 'string' }, paused: { type: 'boolean' } } };

  app.get(
    '/v1/groups',
    {
      schema: {
        tags: ['groups'],
        summary: 'List consumer groups',
        description: 'Every group with live members, stored state or committed offsets, with its total lag in records.',
        response: { 200: { type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: ref('GroupSummary') } } }, ...errorResponses },
      },
    },
    () => ({ groups: broker.listGroups() }),
  );

  app.get<{ Params: GroupParams }>(
    '/v1/groups/:group',
    {
      schema: {
        tags: ['groups'],
        summary: 'Describe a consumer group',
        description:
          'Members with their partitions and in-flight records; per partition the committed offset, high watermark, lag in records and in seconds (age of the oldest unconsumed record), owner, in-flight count and a retry in progress. 404 GROUP_NOT_FOUND.',
        params: groupParams,
        response: { 200: ref('GroupDescription'), ...errorResponses },
      },
    },
    (request) => broker.describeGroup(request.params.group),
  );

  app.post<{ Params: GroupParams; Body: ResetBody }>(
    '/v1/groups/:group/reset',
    {
      schema: {
        tags: ['groups'],
        summary: 'Reset a group’s committed offsets on a topic',
        description:
          'Moves the committed offsets of every partition of `topic` (or, with to=offsets, of the partitions named) to the earliest offset, the latest, the first record at or after `timestampMs`, or the given offsets. ' +
          'With dryRun, returns the plan and changes nothing. A group with live members needs `force` (409 GROUP_NOT_EMPTY otherwise): its members get a new generation and continue from the new offsets. 416 OFFSET_OUT_OF_RANGE for an offset outside the log.',
        params: groupParams,
        body: {
          type: 'object',
          required: ['topic', 'to'],
          additionalProperties: false,
          properties: {
            topic: name('Topic whose offsets are reset.'),
            to: { type: 'string', enum: ['earliest', 'latest', 'timestamp', 'offsets'] },
            timestampMs: { type: 'integer', minimum: 0, description: 'Required with to=timestamp.' },
            offsets: {
              type: 'object',
              description: 'Required with to=offsets: `{"<partition>": <offset>}`.',
              minProperties: 1,
              maxProperties: partitionCountMax,
              propertyNames: { pattern: '^(0|[1-9][0-9]{0,8})$' },
              additionalProperties: { type: 'integer', minimum: 0 },
            },
            force: { type: 'boolean', default: false, description: 'Reset even while the group has live members.' },
            dryRun: { type: 'boolean', default: false, description: 'Return the plan without changing anything.' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['group', 'topic', 'dryRun', 'executed', 'plan'],
            properties: {
              group: { type: 'string' },
              topic: { type: 'string' },
              dryRun: { type: 'boolean' },
              executed: { type: 'boolean' },
              plan: { type: 'array', items: ref('ResetPlanEntry') },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<ResetReply> => {
      const { group } = request.params;
      const { topic, force = false, dryRun = false } = request.body;
      const target = resetTarget(request.body);
      const plan = dryRun ? broker.planGroupReset({ group, topic, target }) : await broker.resetGroup({ group, topic, target, force });
      return { group, topic, dryRun, executed: !dryRun, plan };
    },
  );

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post<{ Params: GroupParams }>(
      `/v1/groups/:group/${action}`,
      {
        schema: {
          tags: ['groups'],
          summary: paused ? 'Pause deliveries to a group' : 'Resume deliveries to a group',
          description: paused
            ? 'Stops delivering records to the group’s members; they stay joined and may still acknowledge what they hold. The state is stored and survives a restart; a group without live members stays paused when they join. 404 GROUP_NOT_FOUND for a group that does not exist.'
            : 'Delivers records to the group’s members again. 404 GROUP_NOT_FOUND for a group that does not exist.',
          params: groupParams,
          response: { 200: pauseReply, ...errorResponses },
        },
      },
      (request): PauseReply => {
        broker.setGroupPaused(request.params.group, paused);
        return { group: request.params.group, paused };
      },
    );
  }

  app.delete<{ Params: GroupParams }>(
    '/v1/groups/:group',
    {
      schema: {
        tags: ['groups'],
        summary: 'Delete a consumer group',
        description: 'Forgets the group: its committed offsets, failed-attempt counts and stored state. 204 on success; 409 GROUP_NOT_EMPTY while it has live members; 404 GROUP_NOT_FOUND.',
        params: groupParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      await broker.deleteGroup(request.params.group);
      return reply.code(204).send();
    },
  );
}
