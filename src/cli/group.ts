/**
 * `sluice group list|describe|reset|pause|resume|delete`: consumer-group admin.
 *
 * `reset` shows its plan (new offset and the lag it leaves, per partition) and changes nothing
 * unless `--execute` is given; a group with live members also needs `--force` (they are fenced and
 * continue from the new offsets).
 */
import { type Command, Option } from 'commander';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, timestampOption, usageError, withClient } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat, formatGroupDescription, formatGroupList, formatResetPlan } from './output.js';

interface FormatOptions extends BrokerOptions {
  format: OutputFormat;
}

interface ResetOptions extends BrokerOptions {
  topic: string;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toTime?: number;
  partition?: number;
  execute?: boolean;
  force?: boolean;
  format: OutputFormat;
}

function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('text');
}

export function registerGroupCommands(program: Command, io: CliIo): void {
  const out = io.stdout;
  const group = program.command('group').description('list, describe, reset (replay), pause, resume and delete consumer groups');

  addBrokerOption(group.command('list').description('groups with their state, members and total lag').addOption(formatOption())).action(async (options: FormatOptions) => {
    out.write(formatGroupList(await withClient(options, (client) => client.listGroups()), options.format));
  });

  addBrokerOption(group.command('describe').description("a group's members, partitions, committed offsets and lag").argument('<group>').addOption(formatOption())).action(
    async (name: string, options: FormatOptions) => {
      out.write(formatGroupDescription(await withClient(options, (client) => client.describeGroup(name)), options.format));
    },
  );

  addBrokerOption(
    group
      .command('reset')
      .description("move a group's committed offsets on a topic (shows the plan; --execute applies it)")
      .argument('<group>')
      .requiredOption('--topic <topic>', 'the topic whose offsets move')
      .addOption(new Option('--to-earliest', 'to the log start').conflicts(['toLatest', 'toOffset', 'toTime']))
      .addOption(new Option('--to-latest', 'to the log end (skip everything)').conflicts(['toOffset', 'toTime']))
      .addOption(new Option('--to-offset <offset>', 'to this offset (every partition, or --partition)').argParser(integerOption(0)).conflicts('toTime'))
      .addOption(new Option('--to-time <time>', 'to the first record at or after this ISO 8601 time (or epoch ms)').argParser(timestampOption))
      .option('--partition <partition>', 'with --to-offset: only this partition', integerOption(0))
      .option('--execute', 'apply the plan (default: only show it)')
      .option('--force', 'reset even with live members (they are fenced and continue from the new offsets)')
      .addOption(formatOption()),
  ).action(async (name: string, options: ResetOptions) => {
    const to = await withClient(options, async (client) => {
      if (options.toEarliest === true) return 'earliest' as const;
      if (options.toLatest === true) return 'latest' as const;
      if (options.toTime !== undefined) return { timestampMs: options.toTime };
      if (options.toOffset !== undefined) {
        const partitions = options.partition === undefined ? (await client.describeTopic(options.topic)).partitions.map((p) => p.partition) : [options.partition];
        return { offsets: Object.fromEntries(partitions.map((p) => [p, options.toOffset!])) };
      }
      throw usageError('reset needs one of --to-earliest, --to-latest, --to-offset, --to-time');
    });
    if (options.partition !== undefined && options.toOffset === undefined) throw usageError('--partition goes with --to-offset');
    const result = await withClient(options, (client) =>
      client.resetGroup({ group: name, topic: options.topic, to, dryRun: options.execute !== true, force: options.force === true }),
    );
    out.write(formatResetPlan(name, options.topic, result, options.format));
  });

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    addBrokerOption(group.command(action).description(paused ? 'stop deliveries to the group (members stay joined)' : 'deliver to the group again').argument('<group>')).action(
      async (name: string, options: BrokerOptions) => {
        await withClient(options, (client) => client.setGroupPaused(name, paused));
        out.write(`${paused ? 'paused' : 'resumed'} group ${name}\n`);
      },
    );
  }

  addBrokerOption(group.command('delete').description('forget a group with no live members (its offsets and attempt counts)').argument('<group>')).action(
    async (name: string, options: BrokerOptions) => {
      await withClient(options, (client) => client.deleteGroup(name));
      out.write(`deleted group ${name}\n`);
    },
  );
}
