/**
 * `sluice topic create|list|describe|delete`: the topic admin RPCs, one subcommand each.
 */
import { type Command, Option } from 'commander';
import { type BrokerOptions, type CliIo, addBrokerOption, integerOption, keyValueOption, withClient } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat, formatTopicCreated, formatTopicDeleted, formatTopicDescription, formatTopicList } from './output.js';

interface CreateOptions extends BrokerOptions {
  partitions: number;
  config?: [string, string][];
}

interface FormatOptions extends BrokerOptions {
  format: OutputFormat;
}

function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('text');
}

export function registerTopicCommands(program: Command, io: CliIo): void {
  const out = io.stdout;
  const topic = program.command('topic').description('create, list, describe and delete topics');

  addBrokerOption(
    topic
      .command('create')
      .description('create a topic')
      .argument('<name>', 'topic name')
      .requiredOption('--partitions <count>', 'number of partitions', integerOption(1))
      .option('--config <key=value>', 'a topic setting, e.g. retentionMs=86400000 (repeatable; README "Partition log settings")', keyValueOption),
  ).action(async (name: string, options: CreateOptions) => {
    const created = await withClient(options, (client) =>
      client.createTopic({ name, partitionCount: options.partitions, config: Object.fromEntries(options.config ?? []) }),
    );
    out.write(formatTopicCreated(created));
  });

  addBrokerOption(topic.command('list').description('list the topics (text: one name per line)').addOption(formatOption())).action(
    async (options: FormatOptions) => {
      const topics = await withClient(options, (client) => client.listTopics());
      out.write(formatTopicList(topics, options.format));
    },
  );

  addBrokerOption(
    topic.command('describe').description("a topic's settings and partitions (offsets, size)").argument('<name>', 'topic name').addOption(formatOption()),
  ).action(async (name: string, options: FormatOptions) => {
    const description = await withClient(options, (client) => client.describeTopic(name));
    out.write(formatTopicDescription(description, options.format));
  });

  addBrokerOption(topic.command('delete').description('delete a topic and its data').argument('<name>', 'topic name')).action(
    async (name: string, options: BrokerOptions) => {
      await withClient(options, (client) => client.deleteTopic(name));
      out.write(formatTopicDeleted(name));
    },
  );
}
