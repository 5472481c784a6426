#!/usr/bin/env node
/**
 * The `sluice` command: wiring only. Each command group lives in its own file and exports a
 * `RegisterCommands` function; COMMAND_GROUPS lists them in help order. To add a command group,
 * write `src/cli/<group>.ts` exporting `register<Group>Commands(program, io)` (use `addBrokerOption`
 * and `withClient` from context.ts, print through output.ts, throw `SluiceError`s or `CliError`s)
 * and add it to the list.
 *
 * Exit codes: 0 on success; 1 when the command failed (`error: <CODE>: <message>` on stderr, the
 * code from the broker's catalog, the client's, or the CLI's own, see context.ts); 2 for a usage
 * error (`error: USAGE: ...`).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { BROKER_ENV, type CliIo, CliError, DEFAULT_BROKER, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type RegisterCommands } from './context.js';
import { registerConsumeCommand } from './consume.js';
import { formatError, formatUsageError } from './output.js';
import { registerProduceCommand } from './produce.js';
import { registerServeCommand } from './serve.js';
import { registerTopicCommands } from './topic.js';
import { registerGroupCommands } from './group.js';
import { registerDlqCommands } from './dlq.js';
import { registerWorkCommand } from './work.js';

export const COMMAND_GROUPS: readonly RegisterCommands[] = [
  registerServeCommand,
  registerTopicCommands,
  registerProduceCommand,
  registerConsumeCommand,
  registerWorkCommand,
  registerGroupCommands,
  registerDlqCommands,
];

function readVersion(): string {
  try {
    // src/cli/ and dist/cli/ are both two levels below the package root.
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('sluice')
    .description('Sluice, a Kafka-style message broker: run it, manage topics, produce and consume records')
    .version(readVersion())
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(formatUsageError(text)),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `\nClient commands connect to --broker host:port (env ${BROKER_ENV}, default ${DEFAULT_BROKER}).\n` +
        'Exit codes: 0 success, 1 failure (error: <CODE>: <message> on stderr), 2 usage error.',
    );
  for (const register of COMMAND_GROUPS) register(program, io);
  return program;
}

/** Runs the CLI on `argv` (without node and the script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander printed the message or the help already; help asked for exits 0, help shown for a bad call 1 (here 2).
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      if (!error.reported) io.stderr.write(error.code === 'USAGE' ? `${formatError(error)}(add --help for usage)\n` : formatError(error));
      return error.exitCode;
    }
    io.stderr.write(formatError(error));
    return EXIT_FAILURE;
  }
}

/** Resolves once what was written to `stream` so far is handed to the OS. */
function flushed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
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
  const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const exitCode = await runCli(process.argv.slice(2), io);
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  // Exit now rather than when the last handle closes (gRPC channels linger for a moment).
  process.exit(exitCode);
}
