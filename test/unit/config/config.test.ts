import { describe, expect, it } from 'vitest';
import { LOG_SETTINGS, logConfig } from '../../../src/config.js';
import { BrokerError } from '../../../src/errors.js';

function configError(overrides: Record<string, unknown>): BrokerError {
  try {
    logConfig(overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe('INVALID_CONFIG');
    return error as BrokerError;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('log config', () => {
  it('defaults every setting from its table', () => {
    const config = logConfig();
    for (const [key, spec] of Object.entries(LOG_SETTINGS)) expect(config[key as keyof typeof config]).toBe(spec.default);
    expect(config.durability).toBe('always');
  });

  it('accepts numbers given as strings (environment variables, CLI flags)', () => {
    expect(logConfig({ segmentBytesMax: '1048576', durability: 'interval' })).toMatchObject({ segmentBytesMax: 1048576, durability: 'interval' });
  });

  it('rejects unknown keys, naming the known ones', () => {
    expect(configError({ segmentBytes: 1 }).message).toContain('segmentBytesMax');
  });

  it('rejects values outside their bounds, non-integers and unknown choices', () => {
    expect(configError({ segmentBytesMax: 10 }).details).toMatchObject({ key: 'segmentBytesMax', min: 64 * 1024 });
    configError({ flushIntervalMs: 1.5 });
    configError({ flushIntervalMs: 'soon' });
    configError({ durability: 'sometimes' });
  });

  it('allows -1 for unlimited retention and checks relations between limits', () => {
    expect(logConfig({ retentionMs: -1, retentionBytes: -1 }).retentionMs).toBe(-1);
    expect(configError({ batchBytesMax: 2 * 1024 * 1024, segmentBytesMax: 1024 * 1024 }).details).toMatchObject({ key: 'batchBytesMax' });
    configError({ retentionBytes: 1024 * 1024, segmentBytesMax: 8 * 1024 * 1024 });
  });
});
