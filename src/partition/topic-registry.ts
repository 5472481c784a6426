/**
 * The topics of this broker and their partitions: created, loaded at start-up, deleted.
 *
 * Metadata (name, id, partition count, setting overrides) lives in the metadata store; records live
 * in `<dataDir>/topics/<name>-<topicId>/<partition>/`. The id in the directory name keeps a
 * re-created topic from ever seeing a deleted one's files. Creation writes the logs first and the
 * metadata last (durably), deletion removes the metadata first: a crash in between leaves only an
 * orphan directory, which the next start-up removes.
 *
 * Interleaving: `create` and `delete` await the metadata store; a name being created or deleted is
 * reserved meanwhile, so a second call for it fails instead of racing.
 */
import path from 'node:path';
import { type Clock, type Logger, assert } from '../base/index.js';
import { TOPIC_NAME_PATTERN, topicConfig, type TopicConfig } from '../config.js';
import { BrokerError } from '../errors.js';
import type { MetaStore, TopicRecord } from '../meta/index.js';
import { type FileIO, Journal, type JournalStats, nodeFileIO } from '../storage/index.js';
import { Partition } from './partition.js';

export interface Topic {
  readonly name: string;
  readonly topicId: number;
  readonly partitions: readonly Partition[];
  /** The settings this topic overrides (as given), and the effective config. */
  readonly overrides: Readonly<Record<string, string | number>>;
  readonly config: TopicConfig;
  readonly createdAtMs: number;
}

export interface JournalSample extends JournalStats {
  syncSecondsMax: number;
  files: number;
}

export interface TopicLimits {
  topicNameBytesMax: number;
  journalFileBytesMax: number;
  journalAppendBytesMax: number;
  journalBytesPerSecondMax: number;
  partitionCountMax: number;
  producerIdExpirationMs: number;
}

export interface TopicRegistryOptions {
  dataDir: string;
  meta: MetaStore;
  /** The broker's defaults for topic settings. */
  topicDefaults: TopicConfig;
  limits: TopicLimits;
  clock: Clock;
  logger: Logger;
  io?: FileIO;
}

export class TopicRegistry {
  private readonly topics = new Map<string, Topic>();
  private readonly busyNames = new Set<string>();
  private readonly io: FileIO;
  private readonly topicsDir: string;
  /** Shared by the partitions' logs: the `always` ones sync it instead of their segments. */
  private readonly journal: Journal;

  private constructor(private readonly options: TopicRegistryOptions) {
    this.io = options.io ?? nodeFileIO;
    this.topicsDir = path.join(options.dataDir, 'topics');
    this.journal = Journal.open({
      dir: path.join(options.dataDir, 'journal'),
      fileBytesMax: options.limits.journalFileBytesMax,
      appendBytesMax: options.limits.journalAppendBytesMax,
      bytesPerSecondMax: options.limits.journalBytesPerSecondMax,
      clock: options.clock,
      io: this.io,
      logger: options.logger,
    });
  }

  /**
   * Loads every topic in the metadata store (each log replays what the journal holds for it),
   * removes orphan topic directories, then lets the journal start afresh.
   */
  static open(options: TopicRegistryOptions): TopicRegistry {
    const registry = new TopicRegistry(options);
    registry.io.mkdirp(registry.topicsDir);
    const known = new Set<string>();
    for (const record of options.meta.listTopics()) {
      registry.topics.set(record.name, registry.load(record));
      known.add(registry.dirName(record));
    }
    for (const entry of registry.io.readdir(registry.topicsDir)) {
      if (known.has(entry)) continue;
      options.logger.warn({ dir: entry }, 'removing an orphan topic directory (an interrupted create or delete)');
      registry.io.removeTree(path.join(registry.topicsDir, entry));
    }
    registry.journal.finishRecovery((key) => registry.io.exists(path.join(options.dataDir, key)));
    return registry;
  }

  private dirName(record: Pick<TopicRecord, 'name' | 'topicId'>): string {
    return `${record.name}-${record.topicId}`;
  }

  private load(record: TopicRecord): Topic {
    const { meta, clock, logger, limits } = this.options;
    const config = topicConfig(record.config, this.options.topicDefaults);
    const partitions = Array.from({ length: record.partitionCount }, (_, id) => {
      const partition = Partition.open({
        topic: record.name,
        id,
        dir: path.join(this.topicsDir, this.dirName(record), String(id)),
        config,
        clock,
        logger,
        ...(this.options.io ? { io: this.options.io } : {}),
        journal: this.journal,
        ...this.snapshotOption(meta.getProducerSnapshot(record.topicId, id)),
      });
      partition.producerIdExpirationMs = limits.producerIdExpirationMs;
      return partition;
    });
    return { name: record.name, topicId: record.topicId, partitions, overrides: record.config, config, createdAtMs: record.createdAtMs };
  }

  private snapshotOption<T>(snapshot: T | undefined): { snapshot?: T } {
    return snapshot === undefined ? {} : { snapshot };
  }

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  /** The topic, or TOPIC_NOT_FOUND. */
  require(name: string): Topic {
    const topic = this.topics.get(name);
    if (topic === undefined) throw new BrokerError('TOPIC_NOT_FOUND', `topic ${JSON.stringify(name)} does not exist`, { topic: name });
    return topic;
  }

  /** The partition, or TOPIC_NOT_FOUND / PARTITION_NOT_FOUND. */
  partition(topicName: string, id: number): Partition {
    const topic = this.require(topicName);
    const partition = Number.isInteger(id) ? topic.partitions[id] : undefined;
    if (partition === undefined) {
      throw new BrokerError('PARTITION_NOT_FOUND', `topic ${topicName} has partitions 0..${topic.partitions.length - 1}, not ${id}`, {
        topic: topicName,
        partition: id,
        partitionCount: topic.partitions.length,
      });
    }
    return partition;
  }

  list(): Topic[] {
    return [...this.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The journal's counters, its longest sync since the previous call, and its files on disk (for a metrics scrape). */
  journalSample(): JournalSample {
    return { ...this.journal.stats, syncSecondsMax: this.journal.takeSyncSecondsMax(), files: this.journal.fileCount() };
  }

  /** Checks a topic name against the naming rules; INVALID_ARGUMENT with the rule broken. */
  validateName(name: string): void {
    const max = this.options.limits.topicNameBytesMax;
    if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > max || !TOPIC_NAME_PATTERN.test(name)) {
      throw new BrokerError(
        'INVALID_ARGUMENT',
        `invalid topic name ${JSON.stringify(name)}: 1 to ${max} characters from A-Z a-z 0-9 . _ - (and not "." or "..")`,
        { field: 'name', value: name, topicNameBytesMax: max },
      );
    }
  }

  async create(request: { name: string; partitionCount: number; config?: Readonly<Record<string, string | number>> }): Promise<Topic> {
    const { name, partitionCount } = request;
    this.validateName(name);
    const max = this.options.limits.partitionCountMax;
    if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > max) {
      throw new BrokerError('INVALID_ARGUMENT', `partition count must be an integer from 1 to ${max}, got ${partitionCount}`, {
        field: 'partitionCount',
        value: partitionCount,
        partitionCountMax: max,
      });
    }
    const overrides = { ...(request.config ?? {}) };
    topicConfig(overrides, this.options.topicDefaults); // INVALID_CONFIG before anything is written
    if (this.topics.has(name) || this.busyNames.has(name)) {
      throw new BrokerError('TOPIC_EXISTS', `topic ${JSON.stringify(name)} already exists`, { topic: name });
    }
    this.busyNames.add(name);
    try {
      const record: TopicRecord = {
        name,
        topicId: await this.options.meta.nextTopicId(),
        partitionCount,
        config: overrides,
        createdAtMs: this.options.clock.nowMs(),
      };
      const topic = this.load(record);
      await this.options.meta.putTopic(record);
      this.topics.set(name, topic);
      this.options.logger.info({ topic: name, partitionCount, overrides }, 'created topic');
      return topic;
    } finally {
      this.busyNames.delete(name);
    }
  }

  async delete(name: string): Promise<void> {
    const topic = this.require(name);
    assert(!this.busyNames.has(name), 'a loaded topic is never being created');
    this.busyNames.add(name);
    try {
      await this.options.meta.deleteTopic(name);
      await this.options.meta.deleteProducerSnapshots(topic.topicId);
      this.topics.delete(name);
      await Promise.all(topic.partitions.map((p) => p.close()));
      this.io.removeTree(path.join(this.topicsDir, this.dirName(topic)));
      this.options.logger.info({ topic: name }, 'deleted topic');
    } finally {
      this.busyNames.delete(name);
    }
  }

  /** Saves every partition's idempotent-producer state (periodically and at close). */
  async snapshotProducers(): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const topic of this.topics.values()) {
      topic.partitions.forEach((partition, id) => {
        const snapshot = partition.producerSnapshot();
        if (snapshot !== undefined) writes.push(this.options.meta.putProducerSnapshot(topic.topicId, id, snapshot));
      });
    }
    await Promise.all(writes);
  }

  async close(): Promise<void> {
    await this.snapshotProducers();
    await Promise.all([...this.topics.values()].flatMap((topic) => topic.partitions.map((p) => p.close())));
    await this.journal.close();
  }
}
