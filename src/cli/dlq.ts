/**
 * `sluice dlq list|redrive TOPIC`: a source topic's dead letters and redriving them.
 *
 * `redrive` moves dead letters back to their original topic and partition (or `--to` another
 * topic). It is resumable: run the same command again after an interruption and it continues
 * without duplicating. `--dry-run` shows what would move.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, withClient } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat, formatDeadLetters, formatRedrive } from './output.js';

interface ListOptions extends BrokerOptions {
  partition?: number;
  fromOffset?: number;
  errorContains?: string;
  limit?: number;
  format: OutputFormat;
}

interface RedriveOptions extends BrokerOptions {
  to?: string;
  partition?: number;
  fromOffset?: number;
  toOffset?: number;
  originalPartition?: number;
  errorContains?: string;
  rate?: number;
  redriveCountMax?: number;
  force?: boolean;
  dryRun?: boolean;
  format: OutputFormat;
}

function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('text');
}

export function registerDlqCommands(program: Command, io: CliIo): void {
  const out = io.stdout;
  const dlq = program.command('dlq').description("a topic's dead letters: list and redrive them");

  addBrokerOption(
    dlq
      .command('list')
      .description("dead letters of TOPIC (read from its DLQ topic), with where they came from and why they failed")
      .argument('<topic>', 'the source topic')
      .option('--partition <partition>', 'only this DLQ partition', integerOption(0))
      .option('--from-offset <offset>', 'start at this DLQ offset', integerOption(0))
      .option('--error-contains <text>', 'only dead letters whose last error contains this')
      .option('--limit <count>', 'at most this many (default 100, at most 1000)', integerOption(1, 1000))
      .addOption(formatOption()),
  ).action(async (topic: string, options: ListOptions) => {
    const result = await withClient(options, (client) =>
      client.listDeadLetters({
        topic,
        ...(options.partition === undefined ? {} : { partition: options.partition }),
        ...(options.fromOffset === undefined ? {} : { fromOffset: options.fromOffset }),
        ...(options.errorContains === undefined ? {} : { errorContains: options.errorContains }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
      }),
    );
    out.write(formatDeadLetters(result, options.format));
  });

  addBrokerOption(
    dlq
      .command('redrive')
      .description('republish dead letters of TOPIC to where they came from (resumable; --dry-run shows what would move)')
      .argument('<topic>', 'the source topic')
      .option('--to <topic>', 'republish to this topic instead')
      .option('--partition <partition>', 'only this DLQ partition', integerOption(0))
      .option('--from-offset <offset>', 'DLQ offsets from this one (inclusive)', integerOption(0))
      .option('--to-offset <offset>', 'DLQ offsets below this one', integerOption(0))
      .option('--original-partition <partition>', 'only dead letters from this partition of their topic', integerOption(0))
      .option('--error-contains <text>', 'only dead letters whose last error contains this')
      .option('--rate <records-per-second>', 'rate limit', integerOption(1))
      .option('--redrive-count-max <count>', 'loop guard: skip records redriven this many times already (default 3)', integerOption(1))
      .option('--force', 'redrive records the loop guard would skip')
      .option('--dry-run', 'show what would move, move nothing')
      .addOption(formatOption()),
  ).action(async (topic: string, options: RedriveOptions) => {
    const result = await withClient(options, (client) =>
      client.redrive({
        topic,
        ...(options.to === undefined ? {} : { toTopic: options.to }),
        ...(options.partition === undefined ? {} : { dlqPartition: options.partition }),
        ...(options.fromOffset === undefined ? {} : { fromOffset: options.fromOffset }),
        ...(options.toOffset === undefined ? {} : { toOffset: options.toOffset }),
        ...(options.originalPartition === undefined ? {} : { originalPartition: options.originalPartition }),
        ...(options.errorContains === undefined ? {} : { errorContains: options.errorContains }),
        ...(options.rate === undefined ? {} : { recordsPerSecondMax: options.rate }),
        ...(options.redriveCountMax === undefined ? {} : { redriveCountMax: options.redriveCountMax }),
        force: options.force === true,
        dryRun: options.dryRun === true,
      }, { timeoutMs: 24 * 60 * 60 * 1000 }),
    );
    out.write(formatRedrive(result, options.format));
  });
}
