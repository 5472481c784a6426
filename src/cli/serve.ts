/**
 * `sluice serve [flags]`: runs a broker, exactly as `node dist/main.js [flags]` does: the flags are
 * main.ts's own (`addServeOptions`) and the run is its `runServe` (signals, graceful shutdown, exit
 * code).
 *
 * main.ts is imported only when `serve` runs: it brings the whole broker (storage, LMDB, gRPC and
 * HTTP servers), which would add about half a second to every other command's start-up. So the
 * `serve` command registered here takes its arguments as they are and hands them to a command built
 * from `addServeOptions` once main.ts is loaded; that command parses them (and prints `--help`).
 */
import { Command } from 'commander';
import { BROKER_ENV, type CliIo, CliError } from './context.js';

export function registerServeCommand(program: Command, _io: CliIo): void {
  program
    .command('serve')
    .description('run a broker (the flags of `node dist/main.js`; see `sluice serve --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_options: unknown, command: Command) => {
      const main = await import('../main.js');
      // The program's error handling (exit override, usage-error format) carries over.
      const serve = main
        .addServeOptions(new Command('sluice serve').copyInheritedSettings(command).helpOption('-h, --help', 'display help for command'))
        .description('Run a Sluice broker')
        .allowExcessArguments(false);
      serve.parse(command.args, { from: 'user' });
      // SLUICE_BROKER is the CLI's, not a broker setting: the broker would warn about it as unknown.
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== BROKER_ENV));
      const exitCode = await main.runServe(serve.opts(), { env });
      // The broker logged why it failed (as JSON on standard output); nothing more to print.
      if (exitCode !== 0) throw new CliError('SERVE_FAILED', 'the broker stopped with an error', exitCode, true);
    });
}
