import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, TOPIC_SETTINGS } from '../../../src/config.js';
import { loadSettings, parseServeArgv, screamingSnake, settingEnvNames } from '../../../src/main.js';
import { tempDir } from '../../helpers/temp-dir.js';

function configFile(content: unknown): string {
  const file = path.join(tempDir('sluice-config-'), 'sluice.json');
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('settings loader', () => {
  it('uses the defaults, with dataDir made absolute against the working directory', () => {
    const { settings, topicDefaults, configPath, warnings } = loadSettings({ cwd: '/srv/sluice' });
    expect(settings).toMatchObject({ dataDir: '/srv/sluice/data', host: '127.0.0.1', grpcPort: 7070, httpPort: 7071, logLevel: 'info' });
    expect(topicDefaults.durability).toBe('always');
    expect(configPath).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('layers config file < environment < --set < named flags', () => {
    const file = configFile({
      broker: { grpcPort: 1001, httpPort: 1002, host: '0.0.0.0', keyBytesMax: 100, logLevel: 'warn' },
      topicDefaults: { retentionMs: 10_000, durability: 'interval', maxDeliveryAttempts: 3 },
    });
    const { settings, topicDefaults, configPath } = loadSettings({
      cwd: '/work',
      env: { SLUICE_CONFIG: file, SLUICE_GRPC_PORT: '2001', SLUICE_HTTP_PORT: '2002', SLUICE_KEY_BYTES_MAX: '200', SLUICE_TOPIC_DEFAULT_RETENTION_MS: '20000', SLUICE_TOPIC_DEFAULT_DURABILITY: 'never' },
      flags: { set: ['httpPort=3002', 'autoCreateTopics=true', 'grpcPort=3001'], topicDefault: ['durability=always'], grpcPort: '4001', dataDir: 'relative/dir' },
    });
    expect(configPath).toBe(file);
    expect(settings).toMatchObject({
      grpcPort: 4001, // named flag over --set, env and file
      httpPort: 3002, // --set over env and file
      keyBytesMax: 200, // env over file
      host: '0.0.0.0', // file over default
      logLevel: 'warn',
      autoCreateTopics: true,
      dataDir: '/work/relative/dir',
    });
    expect(topicDefaults).toMatchObject({ durability: 'always', retentionMs: 20_000, maxDeliveryAttempts: 3 });
  });

  it('takes --config over SLUICE_CONFIG and resolves it against the working directory', () => {
    const envFile = configFile({ broker: { grpcPort: 1 } });
    const flagFile = configFile({ broker: { grpcPort: 2 } });
    const { settings, configPath } = loadSettings({ env: { SLUICE_CONFIG: envFile }, flags: { config: path.basename(flagFile) }, cwd: path.dirname(flagFile) });
    expect(configPath).toBe(flagFile);
    expect(settings.grpcPort).toBe(2);
  });

  it('has an environment variable for every setting, in SCREAMING_SNAKE_CASE', () => {
    expect(screamingSnake('dataDir')).toBe('DATA_DIR');
    expect(screamingSnake('connectionInFlightProduceBytesMax')).toBe('CONNECTION_IN_FLIGHT_PRODUCE_BYTES_MAX');
    const names = settingEnvNames();
    expect(names.broker.get('SLUICE_GRPC_PORT')).toBe('grpcPort');
    expect(names.broker.size).toBe(Object.keys(BROKER_SETTINGS).length);
    expect(names.topicDefaults.get('SLUICE_TOPIC_DEFAULT_SEGMENT_BYTES_MAX')).toBe('segmentBytesMax');
    expect(names.topicDefaults.size).toBe(Object.keys(TOPIC_SETTINGS).length);
    for (const name of names.broker.keys()) expect(names.topicDefaults.has(name), name).toBe(false);
  });

  it('ignores empty variables and warns about unknown SLUICE_ ones', () => {
    const { settings, warnings } = loadSettings({ env: { SLUICE_GRPC_PORT: '', SLUICE_GRCP_PORT: '9', PATH: '/bin', SLUICE_CONFIG: '' } });
    expect(settings.grpcPort).toBe(7070);
    expect(warnings).toEqual([expect.stringContaining('SLUICE_GRCP_PORT')]);
  });

  it('refuses unknown keys and bad values, naming where they came from', () => {
    const cases: [Parameters<typeof loadSettings>[0], RegExp][] = [
      [{ flags: { config: configFile({ broker: { grpcPrt: 1 } }) } }, /config file .*sluice\.json \(broker\): unknown setting grpcPrt/],
      [{ flags: { config: configFile({ topicDefaults: { retentionMs: 'soon' } }) } }, /\(topicDefaults\): retentionMs must be an integer/],
      [{ flags: { config: configFile({ brokers: {} }) } }, /unknown section brokers/],
      [{ flags: { config: configFile({ broker: [] }) } }, /broker must be an object/],
      [{ flags: { config: configFile('{ "broker": ') } }, /is not valid JSON/],
      [{ flags: { config: '/nonexistent/sluice.json' } }, /cannot read config file \/nonexistent\/sluice\.json/],
      [{ env: { SLUICE_GRPC_PORT: 'abc' } }, /^environment: grpcPort must be an integer/],
      [{ env: { SLUICE_TOPIC_DEFAULT_DURABILITY: 'sometimes' } }, /^environment: durability must be one of/],
      [{ flags: { set: ['nope=1'] } }, /^--set: unknown setting nope/],
      [{ flags: { set: ['grpcPort'] } }, /^--set: --set takes key=value/],
      [{ flags: { topicDefault: ['grpcPort=1'] } }, /^--topic-default: unknown setting grpcPort/],
      [{ flags: { httpPort: '70000' } }, /^flags: httpPort must be between 0 and 65535/],
      [{ flags: { logLevel: 'loud' } }, /^flags: logLevel must be one of/],
      // Relations are checked on the merged result.
      [{ flags: { set: ['inFlightProduceBytesMax=1048576'] } }, /^broker settings: connectionInFlightProduceBytesMax must not exceed/],
      [{ flags: { topicDefault: ['segmentBytesMax=65536', 'batchBytesMax=131072'] } }, /^topic defaults: batchBytesMax .* must not exceed segmentBytesMax/],
    ];
    for (const [input, message] of cases) {
      expect(() => loadSettings(input), JSON.stringify(input)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(message) }));
    }
  });

  it('parses the serve flags with commander, repeatable --set and --topic-default', () => {
    const flags = parseServeArgv([
      '--data-dir', '/d', '--grpc-port', '0', '--http-port', '0', '--host', '::1', '--log-level', 'debug',
      '--config', 'c.json', '--set', 'a=1', '--set', 'b=2', '--topic-default', 'retentionMs=5000', '--port-file', 'p.json',
    ]);
    expect(flags).toEqual({
      dataDir: '/d', grpcPort: '0', httpPort: '0', host: '::1', logLevel: 'debug', config: 'c.json',
      set: ['a=1', 'b=2'], topicDefault: ['retentionMs=5000'], portFile: 'p.json',
    });
  });
});
