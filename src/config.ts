/**
 * Every setting and limit: its unit (in its name), default, bounds and meaning, in one table per scope.
 * `parseSettings` fills defaults, rejects unknown keys and out-of-range values with INVALID_CONFIG,
 * then checks the relations between settings. Values may arrive as strings (environment, CLI flags).
 */
import { BrokerError } from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const DAY_MS = 24 * 60 * 60 * 1000;

interface IntegerSetting {
  kind: 'integer';
  default: number;
  min: number;
  max: number;
  /** A value meaning "no limit" that is allowed besides [min, max] (e.g. -1 for unlimited retention). */
  unlimited?: number;
  description: string;
}

interface ChoiceSetting<T extends string> {
  kind: 'choice';
  default: T;
  choices: readonly T[];
  description: string;
}

interface StringSetting {
  kind: 'string';
  default: string;
  /** Allowed values; the empty string is allowed when it is the default. */
  pattern: RegExp;
  description: string;
}

interface BooleanSetting {
  kind: 'boolean';
  default: boolean;
  description: string;
}

type Setting = IntegerSetting | ChoiceSetting<string> | StringSetting | BooleanSetting;
type SettingValue<S> =
  S extends ChoiceSetting<infer T> ? T : S extends StringSetting ? string : S extends BooleanSetting ? boolean : number;
export type Settings<Table extends Record<string, Setting>> = { -readonly [K in keyof Table]: SettingValue<Table[K]> };

export const DURABILITY_MODES = ['always', 'interval', 'never'] as const;
export type DurabilityMode = (typeof DURABILITY_MODES)[number];

/** Settings of one partition log (per topic; the broker's defaults apply where a topic sets none). */
export const LOG_SETTINGS = {
  durability: {
    kind: 'choice',
    default: 'always',
    choices: DURABILITY_MODES,
    description:
      'always: an append is acknowledged after fdatasync (group commit shares one sync among concurrent appends); ' +
      'interval: acknowledged once written to the OS, fsynced every flushIntervalMs (survives a process crash, not a power loss); ' +
      'never: fsynced only on segment roll and close (tests and benchmarks).',
  },
  flushIntervalMs: {
    kind: 'integer',
    default: 200,
    min: 1,
    max: 60_000,
    description: 'In interval mode, how often written data is fsynced.',
  },
  segmentBytesMax: {
    kind: 'integer',
    default: 128 * MiB,
    min: 64 * KiB,
    max: 1 * GiB,
    description: 'A segment rolls before an append would make it larger than this.',
  },
  segmentAgeMsMax: {
    kind: 'integer',
    default: 7 * DAY_MS,
    min: 1_000,
    max: 365 * DAY_MS,
    description: 'A non-empty segment older than this rolls on the next append.',
  },
  indexIntervalBytes: {
    kind: 'integer',
    default: 4 * KiB,
    min: 64,
    max: 1 * MiB,
    description: 'Log bytes between two offset-index entries (and time-index entries).',
  },
  batchBytesMax: {
    kind: 'integer',
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    description: 'Largest encoded record batch accepted by append (header included).',
  },
  retentionMs: {
    kind: 'integer',
    default: 7 * DAY_MS,
    min: 1_000,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Closed segments whose newest record is older than this are deleted; -1 keeps them forever.',
  },
  retentionBytes: {
    kind: 'integer',
    default: -1,
    min: 64 * KiB,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Oldest segments are deleted while the log is larger than this; -1 means no size limit.',
  },
  indexCacheSegmentsMax: {
    kind: 'integer',
    default: 4,
    min: 1,
    max: 1024,
    description: 'Closed segments whose offset index is kept in memory for reads (least recently used are dropped).',
  },
  openSegmentFilesMax: {
    kind: 'integer',
    default: 8,
    min: 1,
    max: 1024,
    description: 'Closed segments kept open for reading (least recently used are closed).',
  },
} as const satisfies Record<string, Setting>;

export type LogConfig = Settings<typeof LOG_SETTINGS>;

export const FULL_POLICIES = ['reject', 'drop-oldest'] as const;
export type FullPolicy = (typeof FULL_POLICIES)[number];

/** Topic names: Kafka's rules (letters, digits, `.`, `_`, `-`; not `.` or `..`). */
export const TOPIC_NAME_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;

/** Per-topic settings: the log's, plus what the broker does with the topic's records. */
export const TOPIC_SETTINGS = {
  ...LOG_SETTINGS,
  fullPolicy: {
    kind: 'choice',
    default: 'reject',
    choices: FULL_POLICIES,
    description:
      'When a partition reaches retentionBytes: reject refuses new records (RESOURCE_EXHAUSTED, retriable) until consumed segments can be deleted; ' +
      'drop-oldest deletes the oldest segments, counting in a metric the records no group had consumed yet.',
  },
  maxDeliveryAttempts: {
    kind: 'integer',
    default: 5,
    min: 1,
    max: 1000,
    description: 'Deliveries of a record to a group before it is dead-lettered.',
  },
  dlqTopic: {
    kind: 'string',
    default: '',
    pattern: TOPIC_NAME_PATTERN,
    description: 'Dead-letter topic for this topic; empty means `<topic>.dlq`, created on demand.',
  },
} as const satisfies Record<string, Setting>;

export type TopicConfig = Settings<typeof TOPIC_SETTINGS>;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Broker-wide settings and limits. Flags, `SLUICE_*` environment variables and a config file set them. */
export const BROKER_SETTINGS = {
  dataDir: { kind: 'string', default: './data', pattern: /^.+$/, description: 'Directory holding the topic logs and the metadata store.' },
  host: { kind: 'string', default: '127.0.0.1', pattern: /^[A-Za-z0-9.:\-[\]]+$/, description: 'Address the gRPC and HTTP servers listen on.' },
  advertisedHost: {
    kind: 'string',
    default: '',
    pattern: /^[A-Za-z0-9.:\-[\]]+$/,
    description: 'Host that Metadata tells clients to connect to (set it when host is 0.0.0.0); empty means host.',
  },
  grpcPort: { kind: 'integer', default: 7070, min: 0, max: 65535, description: 'gRPC port (0 picks a free one).' },
  httpPort: { kind: 'integer', default: 7071, min: 0, max: 65535, description: 'HTTP admin port (0 picks a free one).' },
  logLevel: { kind: 'choice', default: 'info', choices: LOG_LEVELS, description: 'Structured log level.' },
  autoCreateTopics: { kind: 'boolean', default: false, description: 'Create an unknown topic on first produce.' },
  defaultPartitionCount: { kind: 'integer', default: 1, min: 1, max: 1024, description: 'Partitions of an auto-created topic.' },
  partitionCountMax: { kind: 'integer', default: 1024, min: 1, max: 65536, description: 'Most partitions one topic may have.' },
  topicNameBytesMax: { kind: 'integer', default: 249, min: 1, max: 249, description: 'Longest topic name.' },
  keyBytesMax: { kind: 'integer', default: 16 * KiB, min: 1, max: 1 * MiB, description: 'Largest record key.' },
  recordBytesMax: {
    kind: 'integer',
    default: 1 * MiB - 512,
    min: 64,
    max: 64 * MiB,
    description: 'Largest record (key + value + headers); it must fit in one batch of batchBytesMax.',
  },
  headerCountMax: { kind: 'integer', default: 64, min: 0, max: 4096, description: 'Most headers on one record.' },
  requestRecordsMax: { kind: 'integer', default: 10_000, min: 1, max: 1_000_000, description: 'Most records in one produce request.' },
  requestBytesMax: {
    kind: 'integer',
    default: 16 * MiB,
    min: 64 * KiB,
    max: 256 * MiB,
    description: 'Largest gRPC message the broker accepts (a produce request) or sends.',
  },
  flowControlWindowBytes: {
    kind: 'integer',
    default: 4 * MiB,
    min: 65_535,
    max: 2 ** 31 - 1,
    description:
      'HTTP/2 flow-control window the gRPC server grants each client stream and connection: bytes a client may send before the broker has read them. HTTP/2\'s default of 64 KiB held one producer of 1 KiB records to about 100 MB/s on loopback.',
  },
  fetchBytesMax: { kind: 'integer', default: 4 * MiB, min: 1 * KiB, max: 64 * MiB, description: 'Largest fetch response budget a client may ask for.' },
  fetchWaitMsMax: { kind: 'integer', default: 30_000, min: 0, max: 300_000, description: 'Longest long poll a fetch may ask for.' },
  fetchWaitersMax: { kind: 'integer', default: 10_000, min: 1, max: 1_000_000, description: 'Long polls and subscriptions waiting at once, broker-wide.' },
  inFlightProduceBytesMax: {
    kind: 'integer',
    default: 256 * MiB,
    min: 1 * MiB,
    max: 16 * GiB,
    description: 'Produce bytes being written at once, broker-wide; beyond it produce is refused with RESOURCE_EXHAUSTED.',
  },
  connectionInFlightProduceBytesMax: {
    kind: 'integer',
    default: 64 * MiB,
    min: 64 * KiB,
    max: 16 * GiB,
    description: 'Produce bytes being written at once for one client connection (peer).',
  },
  produceStreamInFlightMax: { kind: 'integer', default: 64, min: 1, max: 4096, description: 'Unanswered requests on one produce stream.' },
  producerBytesPerSecondMax: {
    kind: 'integer',
    default: -1,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Produce quota per client id in bytes/s (token bucket, one second of burst); -1 for none.',
  },
  producerRecordsPerSecondMax: {
    kind: 'integer',
    default: -1,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Produce quota per client id in records/s; -1 for none.',
  },
  topicBytesPerSecondMax: {
    kind: 'integer',
    default: -1,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Produce quota per topic in bytes/s; -1 for none.',
  },
  topicRecordsPerSecondMax: {
    kind: 'integer',
    default: -1,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    unlimited: -1,
    description: 'Produce quota per topic in records/s; -1 for none.',
  },
  retentionCheckIntervalMs: { kind: 'integer', default: 60_000, min: 100, max: 3_600_000, description: 'How often retention runs on every partition.' },
  producerStateSnapshotIntervalMs: {
    kind: 'integer',
    default: 30_000,
    min: 100,
    max: 3_600_000,
    description: 'How often idempotent-producer state is saved (it is rebuilt from the log after the snapshot).',
  },
  producerIdExpirationMs: {
    kind: 'integer',
    default: 7 * DAY_MS,
    min: 1_000,
    max: 365 * DAY_MS,
    description: 'An idle producer id is forgotten after this; its retries are then no longer deduplicated.',
  },
  sessionTimeoutMs: {
    kind: 'integer',
    default: 10_000,
    min: 100,
    max: 300_000,
    description: 'Default session timeout of a consumer group member: silent for longer, it is removed and its records redelivered.',
  },
  sessionTimeoutMsMax: { kind: 'integer', default: 300_000, min: 100, max: 3_600_000, description: 'Longest session timeout a member may ask for.' },
  ackTimeoutMs: {
    kind: 'integer',
    default: 30_000,
    min: 10,
    max: 12 * 60 * 60 * 1000,
    description: 'Default visibility timeout: a delivered record not acknowledged within it counts as a failed attempt and is redelivered.',
  },
  retryBackoffMs: {
    kind: 'integer',
    default: 1_000,
    min: 0,
    max: 3_600_000,
    description: 'Default delay before a nacked record is redelivered; doubles with each attempt up to retryBackoffMsMax.',
  },
  retryBackoffMsMax: { kind: 'integer', default: 60_000, min: 0, max: 24 * 3_600_000, description: 'Longest retry delay.' },
  revokeTimeoutMs: {
    kind: 'integer',
    default: 10_000,
    min: 0,
    max: 600_000,
    description: 'How long a rebalance waits for a member to finish the records of a partition taken from it before handing it on.',
  },
  memberInFlightMax: {
    kind: 'integer',
    default: 5_000,
    min: 1,
    max: 1_000_000,
    description: 'Most unacknowledged records one group member may hold (flow control); members may ask for fewer.',
  },
  memberInFlightBytesMax: {
    kind: 'integer',
    default: 8 * MiB,
    min: 64 * KiB,
    max: 1 * GiB,
    description:
      'Most bytes of unacknowledged records one group member may hold, as delivered (flow control, bounding what a worker buffers); members may ask for fewer. Records go out in whole batches, so it may be passed by one batch, and a member holding nothing still gets one batch of any size.',
  },
  groupMembersMax: { kind: 'integer', default: 1_000, min: 1, max: 100_000, description: 'Most members in one consumer group.' },
  groupsMax: { kind: 'integer', default: 10_000, min: 1, max: 1_000_000, description: 'Most consumer groups with live members at once.' },
  groupTickIntervalMs: {
    kind: 'integer',
    default: 100,
    min: 1,
    max: 10_000,
    description: 'How often sessions, visibility timeouts and revocations are checked.',
  },
  offsetCommitIntervalMs: {
    kind: 'integer',
    default: 100,
    min: 0,
    max: 60_000,
    description:
      'How long acknowledged progress may wait before the committed offset is written to the metadata store (one write per group per interval); a broker crash redelivers at most that much acknowledged work. 0: after every event-loop turn.',
  },
  deliveryBytesMax: { kind: 'integer', default: 1 * MiB, min: 1 * KiB, max: 64 * MiB, description: 'Byte budget of one delivery of records to a member.' },
  journalFileBytesMax: {
    kind: 'integer',
    default: 64 * MiB,
    min: 1 * MiB,
    max: 1 * GiB,
    description: 'Size at which the journal of `always` topics starts a new file and fsyncs the segments the old one covered.',
  },
  journalAppendBytesMax: {
    kind: 'integer',
    default: 32 * KiB,
    min: 0,
    max: 64 * MiB,
    description: 'Largest append to an `always` partition that goes through the journal; a larger one fsyncs its segment instead (0: the journal is not used).',
  },
  journalBytesPerSecondMax: {
    kind: 'integer',
    default: 16 * MiB,
    min: 0,
    max: 64 * GiB,
    description: 'Bytes per second of `always` appends beyond which they fsync their segments instead of going through the journal (a high byte rate amortizes those syncs; the journal would write everything twice).',
  },
  shutdownGraceMs: { kind: 'integer', default: 10_000, min: 0, max: 300_000, description: 'How long shutdown waits for in-flight requests.' },
} as const satisfies Record<string, Setting>;

export type BrokerSettings = Settings<typeof BROKER_SETTINGS>;

type SettingScalar = number | string | boolean;

function invalid(message: string, details: Record<string, unknown>): BrokerError {
  return new BrokerError('INVALID_CONFIG', message, details);
}

function parseInteger(key: string, spec: IntegerSetting, raw: unknown): number {
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid(`${key} must be an integer, got ${JSON.stringify(raw)}`, { key, value: raw });
  }
  if (spec.unlimited !== undefined && value === spec.unlimited) return value;
  if (value < spec.min || value > spec.max) {
    const unlimited = spec.unlimited === undefined ? '' : ` (or ${spec.unlimited} for no limit)`;
    throw invalid(`${key} must be between ${spec.min} and ${spec.max}${unlimited}, got ${value}`, {
      key,
      value,
      min: spec.min,
      max: spec.max,
    });
  }
  return value;
}

function parseSetting(key: string, spec: Setting, raw: unknown): SettingScalar {
  if (spec.kind === 'integer') return parseInteger(key, spec, raw);
  if (spec.kind === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw invalid(`${key} must be true or false, got ${JSON.stringify(raw)}`, { key, value: raw });
  }
  if (spec.kind === 'string') {
    if (typeof raw === 'string' && (spec.pattern.test(raw) || raw === spec.default)) return raw;
    throw invalid(`${key} must match ${String(spec.pattern)}, got ${JSON.stringify(raw)}`, { key, value: raw });
  }
  if (typeof raw !== 'string' || !spec.choices.includes(raw)) {
    throw invalid(`${key} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`, {
      key,
      value: raw,
      choices: spec.choices,
    });
  }
  return raw;
}

/** Fills defaults (from `base`, else the table's) and validates `raw`, rejecting unknown keys. */
export function parseSettings<Table extends Record<string, Setting>>(
  table: Table,
  raw: Readonly<Record<string, unknown>>,
  base?: Settings<Table>,
): Settings<Table> {
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(table, key)) {
      throw invalid(`unknown setting ${key}; known: ${Object.keys(table).join(', ')}`, { key });
    }
  }
  const result: Record<string, SettingScalar> = {};
  for (const [key, spec] of Object.entries(table)) {
    const given = raw[key];
    result[key] = given === undefined ? (base?.[key] ?? spec.default) : parseSetting(key, spec, given);
  }
  return result as Settings<Table>;
}

/** A complete log config: defaults, overridden by `overrides`, with relations checked. */
export function logConfig(overrides: Readonly<Record<string, unknown>> = {}, base?: LogConfig): LogConfig {
  const config = parseSettings(LOG_SETTINGS, overrides, base);
  if (config.batchBytesMax > config.segmentBytesMax) {
    throw invalid(`batchBytesMax (${config.batchBytesMax}) must not exceed segmentBytesMax (${config.segmentBytesMax})`, {
      key: 'batchBytesMax',
    });
  }
  if (config.retentionBytes !== -1 && config.retentionBytes < config.segmentBytesMax) {
    throw invalid(
      `retentionBytes (${config.retentionBytes}) must be -1 or at least segmentBytesMax (${config.segmentBytesMax})`,
      { key: 'retentionBytes' },
    );
  }
  return config;
}

/** A complete topic config: the broker's topic defaults overridden by the topic's own settings. */
export function topicConfig(overrides: Readonly<Record<string, unknown>> = {}, base?: TopicConfig): TopicConfig {
  const config = parseSettings(TOPIC_SETTINGS, overrides, base);
  logConfig(pickLogSettings(config));
  return config;
}

export function pickLogSettings(config: TopicConfig): LogConfig {
  const log: Record<string, unknown> = {};
  for (const key of Object.keys(LOG_SETTINGS)) log[key] = config[key as keyof TopicConfig];
  return log as LogConfig;
}

/** Broker settings, with the relations between limits checked. */
export function brokerSettings(overrides: Readonly<Record<string, unknown>> = {}): BrokerSettings {
  const settings = parseSettings(BROKER_SETTINGS, overrides);
  if (settings.connectionInFlightProduceBytesMax > settings.inFlightProduceBytesMax) {
    throw invalid('connectionInFlightProduceBytesMax must not exceed inFlightProduceBytesMax', { key: 'connectionInFlightProduceBytesMax' });
  }
  if (settings.requestBytesMax < settings.recordBytesMax + 1024) {
    throw invalid('requestBytesMax must exceed recordBytesMax (a request holds at least one whole record)', { key: 'requestBytesMax' });
  }
  return settings;
}

/** Describes each setting for documentation (README tables, `sluice config --help`). */
export function describeSettings(table: Record<string, Setting>): { key: string; default: string; description: string }[] {
  return Object.entries(table).map(([key, spec]) => ({ key, default: String(spec.default), description: spec.description }));
}
