/**
 * What every client command shares: the `--broker` option, connecting a client, option parsers that
 * turn bad input into usage errors, exit codes, and `CliError` for failures decided by the CLI
 * itself (bad input, records not acknowledged). Failures the broker or the client report stay
 * `SluiceError`s; output.ts prints both the same way (`error: <CODE>: <message>`).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Sluice, SluiceClient } from '../client/index.js';

export const DEFAULT_BROKER = '127.0.0.1:7070';
export const BROKER_ENV = 'SLUICE_BROKER';
/** The CLI's client id: the broker's quotas and metrics see it. */
export const CLI_CLIENT_ID = 'sluice-cli';
/** A CLI is interactive: fail fast when nothing listens at the address. */
export const CONNECT_TIMEOUT_MS = 5_000;

export const EXIT_OK = 0;
/** A command failed (the broker refused, records were not acknowledged, ...). */
export const EXIT_FAILURE = 1;
/** The command line itself is wrong (unknown flag, missing argument, conflicting flags). */
export const EXIT_USAGE = 2;

/** Codes the CLI itself reports, beside the broker's and the client's catalogs. */
export type CliErrorCode = 'USAGE' | 'INVALID_INPUT' | 'NOT_ACKNOWLEDGED' | 'SERVE_FAILED';

export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly code: CliErrorCode,
    message: string,
    readonly exitCode: number = code === 'USAGE' ? EXIT_USAGE : EXIT_FAILURE,
    /** Already reported (e.g. by the broker's own log): exit without printing anything more. */
    readonly reported = false,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError('USAGE', message);
}

/** Where a command reads and writes (the process's streams; tests may pass others). */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Adds a command group to the program: each command file exports one (main.ts lists them). */
export type RegisterCommands = (program: Command, io: CliIo) => void;

export interface BrokerOptions {
  broker: string;
}

/** Adds `--broker host:port` (env SLUICE_BROKER, default 127.0.0.1:7070) to a client command. */
export function addBrokerOption(command: Command): Command {
  return command.addOption(
    new Option('--broker <host:port>', "the broker's gRPC address").env(BROKER_ENV).default(DEFAULT_BROKER).argParser(parseBrokerAddress),
  );
}

/**
 * Runs `action` with a low-level client connected to `--broker`, closing it afterwards whatever
 * happens. The client does no retries; the commands that retry take their schedule from the client
 * library (`retryDelayMs`, `sleep`).
 */
export async function withClient<T>(options: BrokerOptions, action: (client: SluiceClient) => Promise<T>): Promise<T> {
  const client = await SluiceClient.connect({ broker: options.broker, clientId: CLI_CLIENT_ID, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  try {
    return await action(client);
  } finally {
    client.close();
  }
}

/**
 * The client library for `--broker` (`produce`, `consume --group` and `work` use its Producer and
 * Consumer). Each producer or consumer opens its own connection on first use; commands call its
 * `connect()` first, so a broker that does not answer fails the command within CONNECT_TIMEOUT_MS
 * instead of being retried.
 */
export function sluiceFor(options: BrokerOptions): Sluice {
  return new Sluice({ brokers: [options.broker], clientId: CLI_CLIENT_ID, connectTimeoutMs: CONNECT_TIMEOUT_MS });
}

// ---- option parsers (commander calls them; InvalidArgumentError becomes a usage error) ----

function parseBrokerAddress(value: string): string {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) throw new InvalidArgumentError(`expected host:port, got ${JSON.stringify(value)}`);
  return value;
}

/** A parser for an integer option in [min, max]. */
export function integerOption(min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const parsed = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}, got ${JSON.stringify(value)}` : `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

/** A parser for a repeatable `key=value` option; collects the pairs in order. */
export function keyValueOption(value: string, previous: readonly [string, string][] | undefined): [string, string][] {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected key=value, got ${JSON.stringify(value)}`);
  return [...(previous ?? []), [value.slice(0, at), value.slice(at + 1)]];
}

/** `--from-time`: an ISO 8601 date-time (`2024-05-01T12:00:00Z`), or milliseconds since the epoch. */
export function timestampOption(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidArgumentError(`expected an ISO 8601 time or epoch milliseconds, got ${JSON.stringify(value)}`);
  return ms;
}
