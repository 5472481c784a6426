// Dead letters: the topics that have a dead-letter topic, with how many records it holds.

import { api } from '../api.js';
import { h, replace, table, emptyState, showFailure, formatInt, formatBytes } from '../dom.js';
import { poll } from '../poll.js';

export function mount(main) {
  const list = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Dead letters'),
    h('p', { class: 'hint' }, 'A record is dead-lettered after failing its topic’s max delivery attempts in a consumer group, or when a consumer rejects it. It keeps its bytes and gains its provenance.'),
    list,
  );

  let loaded = false;

  async function load() {
    try {
      const { topics } = await api('/v1/topics');
      list.setAttribute('aria-busy', 'false');
      loaded = true;
      const byName = new Map(topics.map((t) => [t.name, t]));
      const rows = topics.filter((t) => t.dlqTopic !== t.name && byName.has(t.dlqTopic)).sort((a, b) => a.name.localeCompare(b.name));
      if (rows.length === 0) {
        replace(list, emptyState('No dead letters.', 'No record has failed its delivery attempts yet: no topic has a dead-letter topic.'));
        return;
      }
      replace(
        list,
        table({
          caption: 'Topics with dead letters',
          columns: [{ label: 'Topic' }, { label: 'Dead-letter topic' }, { label: 'Records stored', numeric: true }, { label: 'Size', numeric: true }],
          rows: rows.map((t) => {
            const dlq = byName.get(t.dlqTopic);
            return { cells: [h('a', { href: `#/dlq/${encodeURIComponent(t.name)}` }, t.name), h('a', { href: `#/topics/${encodeURIComponent(dlq.name)}` }, dlq.name), formatInt(dlq.recordCount), formatBytes(dlq.sizeBytes)] };
          }),
        }),
        h('p', { class: 'hint' }, 'A dead-letter topic is a log: redriven records stay in it. Each topic’s page says how many are left to redrive.'),
      );
    } catch (error) {
      list.setAttribute('aria-busy', 'false');
      showFailure(list, error, { hasData: loaded });
    }
  }

  const poller = poll(load, 5000);
  return { unmount: () => poller.stop() };
}
