/**
 * Handlers of the consumer-group and dead-letter admin RPCs: validate, call the broker, encode.
 */
import type { handleUnaryCall } from '@grpc/grpc-js';
import type { ResetTarget } from '../../broker.js';
import { BrokerError } from '../../errors.js';
import type * as wire from '../../wire/index.js';
import type { HandlerContext } from './context.js';
import { nonNegativeInteger, requireName } from './convert.js';

/** Dead letters listed per call when the request sets no limit, and at most. */
const DEAD_LETTERS_DEFAULT = 100;
const DEAD_LETTERS_MAX = 1000;

export interface GroupAndDlqHandlers {
  ListGroups: handleUnaryCall<wire.ListGroupsRequest, wire.ListGroupsResponse>;
  DescribeGroup: handleUnaryCall<wire.DescribeGroupRequest, wire.GroupDescription>;
  ResetGroup: handleUnaryCall<wire.ResetGroupRequest, wire.ResetGroupResponse>;
  SetGroupPaused: handleUnaryCall<wire.SetGroupPausedRequest, wire.SetGroupPausedResponse>;
  DeleteGroup: handleUnaryCall<wire.DeleteGroupRequest, wire.DeleteGroupResponse>;
  ListDeadLetters: handleUnaryCall<wire.ListDeadLettersRequest, wire.ListDeadLettersResponse>;
  Redrive: handleUnaryCall<wire.RedriveRequest, wire.RedriveResponse>;
}

function resetTarget(request: wire.ResetGroupRequest): ResetTarget {
  switch (request.to) {
    case 'earliest':
      return { earliest: true };
    case 'latest':
      return { latest: true };
    case 'timestampMs':
      return { timestampMs: nonNegativeInteger(request.timestampMs ?? -1, 'timestamp_ms') };
    case 'offsets': {
      const offsets: Record<number, number> = {};
      for (const [partition, offset] of Object.entries(request.offsets?.offsets ?? {})) {
        offsets[nonNegativeInteger(Number(partition), 'offsets.partition')] = nonNegativeInteger(offset, 'offsets.offset');
      }
      return { offsets };
    }
    default:
      throw new BrokerError('INVALID_ARGUMENT', 'a reset needs one of earliest, latest, timestamp_ms, offsets', { field: 'to' });
  }
}

export function groupAndDlqHandlers(ctx: HandlerContext): GroupAndDlqHandlers {
  const { broker } = ctx;
  return {
    ListGroups: ctx.unary('ListGroups', (): wire.ListGroupsResponse => ({ groups: broker.listGroups() })),

    DescribeGroup: ctx.unary('DescribeGroup', (request: wire.DescribeGroupRequest): wire.GroupDescription => {
      const group = broker.describeGroup(requireName(request.group, 'group'));
      return {
        ...group,
        members: group.members.map((m) => ({ ...m, instanceId: m.instanceId ?? '', topics: [...m.topics] })),
        partitions: group.partitions.map((p) => ({
          topic: p.topic,
          partition: p.partition,
          committedOffset: p.committedOffset,
          logStartOffset: p.logStartOffset,
          highWatermark: p.highWatermark,
          lagRecords: p.lagRecords,
          lagSeconds: p.lagSeconds,
          ownerMemberId: p.ownerMemberId ?? '',
          inFlight: p.inFlight,
          inFlightBytes: p.inFlightBytes,
          ...(p.retrying === undefined ? {} : { retryingOffset: p.retrying.offset }),
          retryingFailedAttempts: p.retrying?.failedAttempts ?? 0,
          retryInMs: p.retrying?.retryInMs ?? 0,
        })),
      };
    }),

    ResetGroup: ctx.unary('ResetGroup', async (request: wire.ResetGroupRequest): Promise<wire.ResetGroupResponse> => {
      const args = { group: requireName(request.group, 'group'), topic: requireName(request.topic, 'topic'), target: resetTarget(request) };
      const plan = request.dryRun ? broker.planGroupReset(args) : await broker.resetGroup({ ...args, force: request.force });
      return { plan: plan.map((entry) => ({ ...entry, ...(entry.currentOffset === undefined ? {} : { currentOffset: entry.currentOffset }) })), executed: !request.dryRun };
    }),

    SetGroupPaused: ctx.unary('SetGroupPaused', (request: wire.SetGroupPausedRequest): wire.SetGroupPausedResponse => {
      broker.setGroupPaused(requireName(request.group, 'group'), request.paused);
      return {};
    }),

    DeleteGroup: ctx.unary('DeleteGroup', async (request: wire.DeleteGroupRequest): Promise<wire.DeleteGroupResponse> => {
      await broker.deleteGroup(requireName(request.group, 'group'));
      return {};
    }),

    ListDeadLetters: ctx.unary('ListDeadLetters', (request: wire.ListDeadLettersRequest): wire.ListDeadLettersResponse => {
      const dlqTopic = broker.dlqTopicOf(requireName(request.topic, 'topic'));
      const limit = request.limit === 0 ? DEAD_LETTERS_DEFAULT : Math.min(nonNegativeInteger(request.limit, 'limit'), DEAD_LETTERS_MAX);
      const exists = broker.listTopics().some((t) => t.name === dlqTopic);
      const letters = !exists
        ? []
        : broker.listDeadLetters({
            dlqTopic,
            limit,
            fromOffset: nonNegativeInteger(request.fromOffset, 'from_offset'),
            ...(request.partition === undefined ? {} : { partition: nonNegativeInteger(request.partition, 'partition') }),
            ...(request.errorContains ? { errorContains: request.errorContains } : {}),
          });
      return {
        dlqTopic,
        deadLetters: letters.map((d) => ({
          partition: d.partition,
          offset: d.offset,
          timestampMs: d.timestampMs,
          ...(d.key === null ? {} : { key: d.key }),
          ...(d.value === null ? {} : { value: d.value }),
          headers: d.headers.map((h) => ({ key: h.key, ...(h.value === null ? {} : { value: h.value }) })),
          originTopic: d.provenance?.topic ?? '',
          originPartition: d.provenance?.partition ?? -1,
          originOffset: d.provenance?.offset ?? -1,
          group: d.provenance?.group ?? '',
          attempts: d.provenance?.attempts ?? 0,
          cause: d.provenance?.cause ?? '',
          error: d.provenance?.error ?? '',
          errorClass: d.provenance?.errorClass ?? '',
          firstFailureMs: d.provenance?.firstFailureMs ?? 0,
          lastFailureMs: d.provenance?.lastFailureMs ?? 0,
          redriveCount: d.provenance?.redriveCount ?? 0,
        })),
      };
    }),

    Redrive: ctx.unary('Redrive', async (request: wire.RedriveRequest): Promise<wire.RedriveResponse> => {
      const optional = (value: number | undefined, field: string): number | undefined => (value === undefined ? undefined : nonNegativeInteger(value, field));
      const result = await broker.redrive({
        dlqTopic: broker.dlqTopicOf(requireName(request.topic, 'topic')),
        ...(request.toTopic ? { toTopic: requireName(request.toTopic, 'to_topic') } : {}),
        ...definedField('dlqPartition', optional(request.dlqPartition, 'dlq_partition')),
        ...definedField('fromOffset', optional(request.fromOffset, 'from_offset')),
        ...definedField('toOffset', optional(request.toOffset, 'to_offset')),
        ...definedField('originalPartition', optional(request.originalPartition, 'original_partition')),
        ...(request.errorContains ? { errorContains: request.errorContains } : {}),
        dryRun: request.dryRun,
        ...(request.recordsPerSecondMax > 0 ? { recordsPerSecondMax: request.recordsPerSecondMax } : {}),
        ...(request.redriveCountMax > 0 ? { redriveCountMax: request.redriveCountMax } : {}),
        force: request.force,
      });
      return result;
    }),
  };
}

function definedField<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}
