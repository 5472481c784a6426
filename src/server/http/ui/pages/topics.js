// Topics: every topic with its partitions, records, bytes and retention; create a topic.

import { api } from '../api.js';
import { openDialog } from '../dialog.js';
import { h, replace, table, badge, emptyState, showFailure, formatBytes, formatInt, formatRetention } from '../dom.js';
import { poll } from '../poll.js';

export const TOPIC_NAME_PATTERN = '[A-Za-z0-9._\\-]+';

/** Names of the topics that are some topic's dead-letter topic, mapped to that topic. */
export function deadLetterSources(topics) {
  const names = new Set(topics.map((t) => t.name));
  const sources = new Map();
  for (const topic of topics) if (names.has(topic.dlqTopic) && topic.dlqTopic !== topic.name) sources.set(topic.dlqTopic, topic.name);
  return sources;
}

export function mount(main) {
  const list = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' });
  const status = h('p', { class: 'status', role: 'status' });
  const create = h('button', { type: 'button', class: 'primary', on: { click: () => void createTopic() } }, 'Create topic');
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Topics'), h('div', { class: 'actions' }, create)), status, list);

  let loaded = false;

  async function load() {
    try {
      const { topics } = await api('/v1/topics');
      list.setAttribute('aria-busy', 'false');
      loaded = true;
      render(topics);
    } catch (error) {
      list.setAttribute('aria-busy', 'false');
      showFailure(list, error, { hasData: loaded });
    }
  }

  function render(topics) {
    if (topics.length === 0) {
      replace(list, emptyState('No topics yet.', 'Create one with “Create topic”, with ', h('code', {}, 'sluice topic create'), ', or over the admin API.'));
      return;
    }
    const dlqOf = deadLetterSources(topics);
    const sorted = [...topics].sort((a, b) => a.name.localeCompare(b.name));
    replace(
      list,
      table({
        caption: 'Topics',
        className: 'topics',
        columns: [{ label: 'Topic' }, { label: 'Partitions', numeric: true }, { label: 'Records', numeric: true }, { label: 'Size', numeric: true }, { label: 'Retention' }, { label: 'Dead letters' }],
        rows: sorted.map((topic) => {
          const source = dlqOf.get(topic.name);
          return {
            cells: [
              h('span', {}, h('a', { href: `#/topics/${encodeURIComponent(topic.name)}` }, topic.name), source ? [' ', badge('DLQ', 'warn')] : null, topic.offlinePartitionCount > 0 ? [' ', badge(`${topic.offlinePartitionCount} offline`, 'bad')] : null),
              formatInt(topic.partitionCount),
              formatInt(topic.recordCount),
              formatBytes(topic.sizeBytes),
              formatRetention(topic.retentionMs, topic.retentionBytes),
              source
                ? h('span', { class: 'muted' }, 'dead letters of ', h('a', { href: `#/topics/${encodeURIComponent(source)}` }, source))
                : topics.some((t) => t.name === topic.dlqTopic)
                  ? h('a', { href: `#/dlq/${encodeURIComponent(topic.name)}` }, topic.dlqTopic)
                  : h('span', { class: 'muted' }, 'none yet'),
            ],
          };
        }),
      }),
    );
  }

  async function createTopic() {
    const name = h('input', { id: 'new-topic-name', name: 'name', type: 'text', required: true, pattern: TOPIC_NAME_PATTERN, maxlength: '249', autocomplete: 'off', spellcheck: 'false' });
    const partitions = h('input', { id: 'new-topic-partitions', name: 'partitionCount', type: 'number', required: true, min: '1', step: '1', value: '3' });
    const retention = h(
      'select',
      { id: 'new-topic-retention', name: 'retentionMs' },
      h('option', { value: '' }, 'Broker default'),
      h('option', { value: String(3_600_000) }, '1 hour'),
      h('option', { value: String(86_400_000) }, '1 day'),
      h('option', { value: String(7 * 86_400_000) }, '7 days'),
      h('option', { value: String(30 * 86_400_000) }, '30 days'),
      h('option', { value: '-1' }, 'Forever'),
    );
    const attempts = h('input', { id: 'new-topic-attempts', name: 'maxDeliveryAttempts', type: 'number', min: '1', max: '1000', step: '1', placeholder: 'broker default' });
    const { confirmed, result } = await openDialog({
      title: 'Create topic',
      confirmLabel: 'Create',
      body: [
        h('p', { class: 'field' }, h('label', { for: name.id }, 'Name'), name, h('span', { class: 'hint' }, 'Letters, digits, “.”, “_” and “-”.')),
        h('p', { class: 'field' }, h('label', { for: partitions.id }, 'Partitions'), partitions),
        h('p', { class: 'field' }, h('label', { for: retention.id }, 'Retention'), retention),
        h('p', { class: 'field' }, h('label', { for: attempts.id }, 'Max delivery attempts'), attempts, h('span', { class: 'hint' }, 'Failed deliveries to a group before a record is dead-lettered.')),
      ],
      onConfirm: () => {
        const config = {};
        if (retention.value !== '') config.retentionMs = Number(retention.value);
        if (attempts.value !== '') config.maxDeliveryAttempts = Number(attempts.value);
        return api('/v1/topics', {
          method: 'POST',
          body: { name: name.value.trim(), partitionCount: Number(partitions.value), ...(Object.keys(config).length > 0 ? { config } : {}) },
        });
      },
    });
    if (confirmed) {
      replace(status, 'Created topic ', h('a', { href: `#/topics/${encodeURIComponent(result.name)}` }, result.name), ` with ${result.partitionCount} partitions.`);
      await poller.now();
    }
  }

  const poller = poll(load, 5000);
  return { unmount: () => poller.stop() };
}

