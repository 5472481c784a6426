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

type Setting = IntegerSetting | ChoiceSetting<string>;
type SettingValue<S> = S extends ChoiceSetting<infer T> ? T : number;
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

function parseSetting(key: string, spec: Setting, raw: unknown): number | string {
  if (spec.kind === 'integer') return parseInteger(key, spec, raw);
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
  const result: Record<string, number | string> = {};
  for (const [key, spec] of Object.entries(table)) {
    const given = raw[key];
    result[key] =
      given === undefined ? (base?.[key]) ?? spec.default : parseSetting(key, spec, given);
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

/** Describes each setting for documentation (README tables, `sluice config --help`). */
export function describeSettings(table: Record<string, Setting>): { key: string; default: string; description: string }[] {
  return Object.entries(table).map(([key, spec]) => ({ key, default: String(spec.default), description: spec.description }));
}
