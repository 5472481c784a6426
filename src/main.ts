/**
 * Composition root and the `npm start` entry: load settings, take the data directory's lock, open the
 * broker, start the gRPC and HTTP servers, and shut down gracefully on SIGTERM/SIGINT.
 *
 * Settings, lowest to highest precedence:
 *   1. defaults (src/config.ts);
 *   2. a JSON config file (`--config <path>` or `SLUICE_CONFIG`): `{ "broker": {...}, "topicDefaults": {...} }`;
 *   3. environment: `SLUICE_<SETTING>` for broker settings (`SLUICE_DATA_DIR`, `SLUICE_GRPC_PORT`, ...:
 *      the setting's name in SCREAMING_SNAKE_CASE) and `SLUICE_TOPIC_DEFAULT_<SETTING>` for topic defaults;
 *   4. flags: `--set key=value` / `--topic-default key=value` (repeatable), then the named flags
 *      (`--data-dir`, `--grpc-port`, `--http-port`, `--host`, `--log-level`), which win over `--set`.
 * Unknown keys are refused (INVALID_CONFIG) in the file and in flags; an unknown `SLUICE_*` variable is
 * logged as a warning (the environment is shared with other tools). Empty variables count as unset.
 *
 * Shutdown: the first SIGTERM or SIGINT stops both servers from accepting (in-flight requests get
 * `shutdownGraceMs` to finish, then their connections are cut), closes the broker (flushes and syncs
 * the logs, closes the metadata store), releases the lock and exits 0. A second signal exits 1 at once.
 *
 * Run directly (`node dist/main.js`, `tsx src/main.ts`) or through `sluice serve` (`runServe`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { pino, type Logger as PinoLogger } from 'pino';
import { Broker } from './broker.js';
import {
  BROKER_SETTINGS,
  TOPIC_SETTINGS,
  type BrokerSettings,
  type TopicConfig,
  brokerSettings,
  parseSettings,
  topicConfig,
} from './config.js';
import { BrokerError } from './errors.js';
import { type GrpcServer, startGrpcServer } from './server/grpc/index.js';
import { type HttpServer, startHttpServer } from './server/http/index.js';

// ---- settings ----

/** Flags of `sluice serve` (values as commander gives them: strings). */
export interface ServeFlags {
  config?: string;
  dataDir?: string;
  grpcPort?: string | number;
  httpPort?: string | number;
  host?: string;
  logLevel?: string;
  /** `key=value` broker settings. */
  set?: readonly string[];
  /** `key=value` topic defaults. */
  topicDefault?: readonly string[];
  /** Where to write `{ pid, host, grpcPort, httpPort, dataDir }` once both servers listen. */
  portFile?: string;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export interface LoadedSettings {
  settings: BrokerSettings;
  topicDefaults: TopicConfig;
  /** The config file read, if any (absolute). */
  configPath: string | undefined;
  /** Things worth a warning that did not stop loading (unknown `SLUICE_*` variables). */
  warnings: string[];
}

export const ENV_PREFIX = 'SLUICE_';
export const TOPIC_DEFAULT_ENV_PREFIX = 'SLUICE_TOPIC_DEFAULT_';
export const CONFIG_PATH_ENV = 'SLUICE_CONFIG';

/** `connectionInFlightProduceBytesMax` -> `CONNECTION_IN_FLIGHT_PRODUCE_BYTES_MAX`. */
export function screamingSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The environment variable of each broker setting and topic default. */
export function settingEnvNames(): { broker: Map<string, string>; topicDefaults: Map<string, string> } {
  return {
    broker: new Map(Object.keys(BROKER_SETTINGS).map((key) => [`${ENV_PREFIX}${screamingSnake(key)}`, key])),
    topicDefaults: new Map(Object.keys(TOPIC_SETTINGS).map((key) => [`${TOPIC_DEFAULT_ENV_PREFIX}${screamingSnake(key)}`, key])),
  };
}

/** Runs `parse`, naming `source` in the message of an INVALID_CONFIG it throws. */
function fromSource<T>(source: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof BrokerError && error.code === 'INVALID_CONFIG') {
      throw new BrokerError('INVALID_CONFIG', `${source}: ${error.message}`, { ...error.details, source }, { cause: error });
    }
    throw error;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks the shape of a config file: `{ broker?: {...}, topicDefaults?: {...} }`. */
export function readConfigFile(file: string): { broker: Record<string, unknown>; topicDefaults: Record<string, unknown> } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new BrokerError('INVALID_CONFIG', `cannot read config file ${file}: ${(error as Error).message}`, { source: file }, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BrokerError('INVALID_CONFIG', `config file ${file} is not valid JSON: ${(error as Error).message}`, { source: file }, { cause: error });
  }
  if (!isPlainObject(parsed)) throw new BrokerError('INVALID_CONFIG', `config file ${file} must hold a JSON object`, { source: file });
  for (const key of Object.keys(parsed)) {
    if (key !== 'broker' && key !== 'topicDefaults') {
      throw new BrokerError('INVALID_CONFIG', `config file ${file}: unknown section ${key}; known: broker, topicDefaults`, { source: file, key });
    }
  }
  const section = (name: 'broker' | 'topicDefaults'): Record<string, unknown> => {
    const value = parsed[name] ?? {};
    if (!isPlainObject(value)) throw new BrokerError('INVALID_CONFIG', `config file ${file}: ${name} must be an object`, { source: file, key: name });
    return value;
  };
  return { broker: section('broker'), topicDefaults: section('topicDefaults') };
}

/** `["a=1", "b=x=y"]` -> `{ a: "1", b: "x=y" }`. */
function parseAssignments(flag: string, assignments: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new BrokerError('INVALID_CONFIG', `${flag} takes key=value, got ${JSON.stringify(assignment)}`, { source: flag, value: assignment });
    result[assignment.slice(0, at)] = assignment.slice(at + 1);
  }
  return result;
}

/**
 * Merges the layers (see the file comment) into validated settings. Each layer is checked on its
 * own first, so an error names where the bad key or value came from; then the merged result is
 * checked for the relations between settings.
 */
export function loadSettings(input: { flags?: ServeFlags; env?: Environment; cwd?: string } = {}): LoadedSettings {
  const flags = input.flags ?? {};
  const env = input.env ?? {};
  const cwd = input.cwd ?? process.cwd();
  const warnings: string[] = [];
  const given = (value: string | undefined): value is string => value !== undefined && value !== '';

  const configFlag = flags.config ?? (given(env[CONFIG_PATH_ENV]) ? env[CONFIG_PATH_ENV] : undefined);
  const configPath = configFlag === undefined ? undefined : path.resolve(cwd, configFlag);
  const file = configPath === undefined ? { broker: {}, topicDefaults: {} } : readConfigFile(configPath);

  const names = settingEnvNames();
  const envBroker: Record<string, string> = {};
  const envTopic: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || !given(value) || name === CONFIG_PATH_ENV) continue;
    const brokerKey = names.broker.get(name);
    const topicKey = names.topicDefaults.get(name);
    if (brokerKey !== undefined) envBroker[brokerKey] = value;
    else if (topicKey !== undefined) envTopic[topicKey] = value;
    else warnings.push(`ignoring unknown environment variable ${name} (not a Sluice setting)`);
  }

  const named: Record<string, unknown> = {};
  if (flags.dataDir !== undefined) named.dataDir = flags.dataDir;
  if (flags.grpcPort !== undefined) named.grpcPort = flags.grpcPort;
  if (flags.httpPort !== undefined) named.httpPort = flags.httpPort;
  if (flags.host !== undefined) named.host = flags.host;
  if (flags.logLevel !== undefined) named.logLevel = flags.logLevel;

  const brokerLayers: [string, Record<string, unknown>][] = [
    [`config file ${configPath ?? ''} (broker)`, file.broker],
    ['environment', envBroker],
    ['--set', fromSource('--set', () => parseAssignments('--set', flags.set ?? []))],
    ['flags', named],
  ];
  const topicLayers: [string, Record<string, unknown>][] = [
    [`config file ${configPath ?? ''} (topicDefaults)`, file.topicDefaults],
    ['environment', envTopic],
    ['--topic-default', fromSource('--topic-default', () => parseAssignments('--topic-default', flags.topicDefault ?? []))],
  ];

  const brokerRaw: Record<string, unknown> = {};
  for (const [source, layer] of brokerLayers) {
    fromSource(source, () => parseSettings(BROKER_SETTINGS, layer));
    Object.assign(brokerRaw, layer);
  }
  const topicRaw: Record<string, unknown> = {};
  for (const [source, layer] of topicLayers) {
    fromSource(source, () => parseSettings(TOPIC_SETTINGS, layer));
    Object.assign(topicRaw, layer);
  }
  const settings = fromSource('broker settings', () => brokerSettings(brokerRaw));
  settings.dataDir = path.resolve(cwd, settings.dataDir);
  const topicDefaults = fromSource('topic defaults', () => topicConfig(topicRaw));
  return { settings, topicDefaults, configPath, warnings };
}

// ---- data directory lock ----

export const LOCK_FILE = 'LOCK';

/** Another live process owns the data directory. Not a request error, so not in the catalog. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly lockPath: string,
    readonly ownerPid: number,
  ) {
    super(
      `data directory ${path.dirname(lockPath)} is in use by process ${ownerPid} (lock file ${lockPath}); ` +
        'stop that broker first, or remove the lock file if that process is not a Sluice broker',
    );
  }
}

export interface DataDirLock {
  readonly path: string;
  /** The pid in a stale lock this one replaced (0 when it held none), if there was one. */
  readonly staleOwnerPid?: number;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Lock files held by this process: a second broker in the same process must not take one over. */
const heldLocks = new Set<string>();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user; only ESRCH means it is gone.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function readLockPid(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Takes `<dataDir>/LOCK`: created exclusively with this pid inside. A lock whose pid is not a live
 * process (a broker killed with SIGKILL, a crash) is stale and taken over; so is one holding this
 * process's own pid when this process does not hold it (a container restarting as pid 1). An empty
 * or unreadable pid counts as stale too: the writer died between creating and writing it.
 *
 * Limit: this is a pid file, not an OS lock (Node.js has no flock); two brokers taking over the same
 * stale lock at the same instant could both succeed. Starting brokers one at a time avoids that.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(path.resolve(dataDir), LOCK_FILE);
  if (heldLocks.has(lockPath)) throw new DataDirLockedError(lockPath, process.pid);
  let staleOwnerPid: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      try {
        fs.writeSync(fd, `${process.pid}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
    const owner = readLockPid(lockPath);
    if (owner !== undefined && owner !== process.pid && processIsAlive(owner)) throw new DataDirLockedError(lockPath, owner);
    // Stale: remove it and try the exclusive create again.
    staleOwnerPid = owner ?? 0;
    fs.rmSync(lockPath, { force: true });
  }
  heldLocks.add(lockPath);
  let released = false;
  return {
    path: lockPath,
    ...(staleOwnerPid === undefined ? {} : { staleOwnerPid }),
    release(): void {
      if (released) return;
      released = true;
      heldLocks.delete(lockPath);
      if (readLockPid(lockPath) === process.pid) fs.rmSync(lockPath, { force: true });
    },
  };
}

// ---- the server ----

export interface RunningServer {
  settings: BrokerSettings;
  grpcPort: number;
  httpPort: number;
  broker: Broker;
  /** Graceful shutdown (see the file comment); idempotent. */
  shutdown(): Promise<void>;
}

export interface StartServerOptions {
  settings: BrokerSettings;
  topicDefaults: TopicConfig;
  logger: PinoLogger;
  portFile?: string;
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Takes the lock, opens the broker and starts both servers. On failure whatever was started is
 * stopped again and the lock released before the error is thrown.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { settings, topicDefaults, logger } = options;
  const portFile = options.portFile === undefined ? undefined : path.resolve(options.portFile);
  const lock = acquireDataDirLock(settings.dataDir);
  if (lock.staleOwnerPid !== undefined) {
    logger.warn({ lockPath: lock.path, staleOwnerPid: lock.staleOwnerPid }, 'took over a stale data directory lock (its process is gone; the last shutdown was not clean)');
  }
  let broker: Broker | undefined;
  let grpc: GrpcServer | undefined;
  let http: HttpServer | undefined;

  const stop = async (): Promise<void> => {
    try {
      // Both servers stop accepting at once; each gives its in-flight requests the grace period.
      const results = await Promise.allSettled([grpc?.close(settings.shutdownGraceMs), http?.close(settings.shutdownGraceMs)]);
      for (const result of results) if (result.status === 'rejected') logger.error({ err: result.reason as unknown }, 'closing a server failed');
      // Flushes and syncs the logs and closes the metadata store; its failure fails the shutdown.
      await broker?.close();
    } finally {
      if (portFile !== undefined) fs.rmSync(portFile, { force: true });
      lock.release();
    }
  };

  try {
    broker = Broker.open({ settings, topicDefaults, logger });
    grpc = await startGrpcServer({ broker, settings, logger, host: settings.host, port: settings.grpcPort, advertisedHost: settings.advertisedHost || settings.host });
    http = await startHttpServer({ broker, logger, host: settings.host, port: settings.httpPort, version: readVersion() });
  } catch (error) {
    try {
      await stop();
    } catch (stopError) {
      logger.error({ err: stopError }, 'stopping after a failed start failed');
    }
    throw error;
  }
  if (portFile !== undefined) {
    writeFileAtomic(portFile, `${JSON.stringify({ pid: process.pid, host: settings.host, grpcPort: grpc.port, httpPort: http.port, dataDir: settings.dataDir })}\n`);
  }
  const grpcAddress = hostPort(settings.host, grpc.port);
  const httpAddress = `http://${hostPort(settings.host, http.port)}`;
  logger.info(
    { grpc: grpcAddress, http: httpAddress, grpcPort: grpc.port, httpPort: http.port, dataDir: settings.dataDir, pid: process.pid },
    `sluice broker listening: gRPC ${grpcAddress}, HTTP ${httpAddress}, data in ${settings.dataDir}`,
  );
  let stopped: Promise<void> | undefined;
  return {
    settings,
    grpcPort: grpc.port,
    httpPort: http.port,
    broker,
    shutdown(): Promise<void> {
      stopped ??= stop();
      return stopped;
    },
  };
}

// ---- the command ----

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The `serve` flags on `command` (the CLI adds them to its `serve` subcommand). */
export function addServeOptions(command: Command): Command {
  return command
    .option('-c, --config <path>', `JSON config file { "broker": {...}, "topicDefaults": {...} } (env ${CONFIG_PATH_ENV})`)
    .option('--data-dir <dir>', 'directory of the topic logs and metadata (default ./data)')
    .option('--grpc-port <port>', 'gRPC port, 0 for any free one (default 7070)')
    .option('--http-port <port>', 'HTTP admin port, 0 for any free one (default 7071)')
    .option('--host <address>', 'address both servers listen on (default 127.0.0.1)')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent (default info)')
    .option('--set <key=value>', 'a broker setting (repeatable)', collect, [])
    .option('--topic-default <key=value>', 'a default topic setting (repeatable)', collect, [])
    .option('--port-file <path>', 'write {"pid","host","grpcPort","httpPort","dataDir"} as JSON here once listening');
}

/** Parses `serve` flags from argv (without the node and script entries). Exits on --help or a bad flag. */
export function parseServeArgv(argv: readonly string[]): ServeFlags {
  const command = addServeOptions(new Command('sluice serve').description('Run a Sluice broker').allowExcessArguments(false));
  command.parse([...argv], { from: 'user' });
  return command.opts<ServeFlags>();
}

/** Where shutdown signals come from (`process`, or an emitter standing in for it). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface RunServeOptions {
  /** Defaults to `process.env`. */
  env?: Environment;
  /** Defaults to `process`. */
  signals?: SignalSource;
  /** Called when a second signal arrives during shutdown; defaults to `process.exit(1)`. */
  forceExit?: () => void;
  /** Called once both servers listen. */
  onReady?: (server: RunningServer) => void;
  /** Where the JSON log lines go; standard output unless given. */
  logDestination?: { write(line: string): void };
}

const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function createLogger(level: string, destination: { write(line: string): void } | undefined): PinoLogger {
  const options = { name: 'sluice', level };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * Runs a broker until SIGTERM/SIGINT, then shuts down gracefully. Resolves with the exit code:
 * 0 after a clean shutdown, 1 when start-up or shutdown failed (the reason is logged). A second
 * signal during shutdown exits 1 at once.
 */
export async function runServe(input: ServeFlags | readonly string[] = process.argv.slice(2), options: RunServeOptions = {}): Promise<number> {
  const flags = Array.isArray(input) ? parseServeArgv(input as readonly string[]) : (input as ServeFlags);
  const env = options.env ?? process.env;
  let loaded: LoadedSettings;
  try {
    loaded = loadSettings({ flags, env });
  } catch (error) {
    createLogger('info', options.logDestination).fatal({ err: error }, `cannot start: ${(error as Error).message}`);
    return 1;
  }
  const logger = createLogger(loaded.settings.logLevel, options.logDestination);
  for (const warning of loaded.warnings) logger.warn({}, warning);
  if (loaded.configPath !== undefined) logger.info({ configPath: loaded.configPath }, 'read config file');

  // Listen for signals before starting, so one that arrives during start-up shuts down cleanly after it.
  // The first signal starts the shutdown; any later one exits at once.
  const forceExit = options.forceExit ?? ((): void => process.exit(1));
  let firstSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    firstSignal = resolve;
  });
  let signalCount = 0;
  const onSignal = (received: NodeJS.Signals): void => {
    signalCount++;
    if (signalCount === 1) {
      firstSignal?.(received);
      return;
    }
    logger.warn({ signal: received }, 'second signal: exiting without finishing shutdown');
    forceExit();
  };
  const signals = options.signals ?? process;
  for (const name of SHUTDOWN_SIGNALS) signals.on(name, onSignal);
  try {
    let server: RunningServer;
    try {
      server = await startServer({ settings: loaded.settings, topicDefaults: loaded.topicDefaults, logger, ...(flags.portFile ? { portFile: flags.portFile } : {}) });
    } catch (error) {
      const code = error instanceof BrokerError ? error.code : (error as { code?: unknown }).code;
      logger.fatal({ err: error, code }, `cannot start: ${(error as Error).message}`);
      return 1;
    }
    options.onReady?.(server);
    const signal = await signalled;
    logger.info({ signal, graceMs: loaded.settings.shutdownGraceMs }, 'shutting down: no new requests; waiting for in-flight ones');
    try {
      await server.shutdown();
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      return 1;
    }
    logger.info({ dataDir: loaded.settings.dataDir }, 'sluice broker stopped');
    return 0;
  } finally {
    for (const name of SHUTDOWN_SIGNALS) signals.off(name, onSignal);
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exit(await runServe(process.argv.slice(2)));
}
