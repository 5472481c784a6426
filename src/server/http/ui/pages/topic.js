// A topic: its settings, per-partition offsets and sizes, the record browser, and deleting it.

import { api, path } from '../api.js';
import { openDialog } from '../dialog.js';
import { h, replace, table, badge, stats, emptyState, errorState, showFailure, bytesBlock, formatBytes, formatInt, formatRetention, timeElement } from '../dom.js';
import { poll } from '../poll.js';

const PAGE_SIZES = [20, 50, 100];

export function mount(main, { topic: name }) {
  const head = h('div', { class: 'page-head' }, h('h1', {}, name));
  const body = h('div', { 'aria-busy': 'true' });
  const browser = recordBrowser(name);
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/topics' }, 'Topics'), ' / ', name), head, body, browser.section);
  let description;
  let gone = false;

  async function load() {
    if (gone) return;
    try {
      const [topic, { topics }] = await Promise.all([api(path('v1', 'topics', name)), api('/v1/topics')]);
      description = topic;
      body.setAttribute('aria-busy', 'false');
      render(topic, topics);
      browser.setTopic(topic);
    } catch (error) {
      body.setAttribute('aria-busy', 'false');
      if (error.code === 'TOPIC_NOT_FOUND') {
        gone = true;
        poller.stop();
        replace(head, h('h1', {}, name));
        replace(body, emptyState(`Topic “${name}” does not exist.`, 'It may have been deleted. ', h('a', { href: '#/topics' }, 'Back to the topics.')));
        browser.section.remove();
      } else showFailure(body, error, { hasData: description !== undefined });
    }
  }

  function render(topic, topics) {
    const summary = topics.find((t) => t.name === topic.name);
    const hasDlq = summary !== undefined && topics.some((t) => t.name === summary.dlqTopic);
    replace(
      head,
      h('h1', {}, topic.name),
      h(
        'div',
        { class: 'actions' },
        hasDlq ? h('a', { class: 'button', href: `#/dlq/${encodeURIComponent(topic.name)}` }, 'Dead letters') : null,
        h('button', { type: 'button', class: 'danger', on: { click: () => void deleteTopic() } }, 'Delete topic'),
      ),
    );
    const records = topic.partitions.reduce((total, p) => total + (p.highWatermark - p.logStartOffset), 0);
    const bytes = topic.partitions.reduce((total, p) => total + p.sizeBytes, 0);
    replace(
      body,
      stats([
        { label: 'Partitions', value: formatInt(topic.partitionCount) },
        { label: 'Records', value: formatInt(records) },
        { label: 'Size', value: formatBytes(bytes) },
        { label: 'Retention', value: formatRetention(topic.config.retentionMs, topic.config.retentionBytes) },
        { label: 'Max delivery attempts', value: formatInt(topic.config.maxDeliveryAttempts) },
        { label: 'Created', value: timeElement(topic.createdAtMs) },
      ]),
      h('h2', {}, 'Partitions'),
      table({
        caption: `Partitions of ${topic.name}`,
        columns: [
          { label: 'Partition', numeric: true },
          { label: 'Start offset', numeric: true },
          { label: 'End offset', numeric: true },
          { label: 'High watermark', numeric: true },
          { label: 'Records', numeric: true },
          { label: 'Size', numeric: true },
          { label: 'Segments', numeric: true },
          { label: 'State' },
          { label: '' },
        ],
        rows: topic.partitions.map((p) => ({
          cells: [
            String(p.partition),
            formatInt(p.logStartOffset),
            formatInt(p.logEndOffset),
            formatInt(p.highWatermark),
            formatInt(p.highWatermark - p.logStartOffset),
            formatBytes(p.sizeBytes),
            formatInt(p.segmentCount),
            p.offline ? h('span', { title: p.offline.message }, badge(`offline: ${p.offline.code}`, 'bad')) : badge('online', 'ok'),
            h('button', { type: 'button', class: 'link', on: { click: () => browser.show(p.partition) }, 'aria-label': `Browse records of partition ${p.partition}` }, 'Browse'),
          ],
        })),
      }),
      h(
        'details',
        { class: 'settings' },
        h('summary', {}, 'Settings in effect'),
        table({
          caption: `Settings of ${topic.name}`,
          columns: [{ label: 'Setting' }, { label: 'Value' }, { label: '' }],
          rows: Object.entries(topic.config)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([key, value]) => ({ cells: [h('code', {}, key), String(value === '' ? '(empty)' : value), key in topic.overrides ? badge('set on this topic', 'info') : h('span', { class: 'muted' }, 'broker default')] })),
        }),
      ),
    );
  }

  async function deleteTopic() {
    const { confirmed } = await openDialog({
      title: `Delete topic ${name}?`,
      danger: true,
      confirmLabel: 'Delete topic',
      requireText: name,
      body: h('p', {}, 'Its records are deleted from disk, and every consumer group’s offsets on it are forgotten. This cannot be undone.'),
      onConfirm: () => api(path('v1', 'topics', name), { method: 'DELETE' }),
    });
    if (confirmed) location.hash = '#/topics';
  }

  const poller = poll(load, 5000);
  return {
    unmount() {
      poller.stop();
      browser.abort();
    },
  };
}

/** `ms` as a datetime-local input's value (local time, seconds). */
function localInputValue(ms) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The record browser: a partition, where to start (latest, earliest, an offset, a time), a page size and how to show values. */
function recordBrowser(topicName) {
  const ids = { partition: 'browse-partition', from: 'browse-from', offset: 'browse-offset', time: 'browse-time', limit: 'browse-limit', view: 'browse-view' };
  const partition = h('select', { id: ids.partition });
  const from = h(
    'select',
    { id: ids.from },
    h('option', { value: 'latest' }, 'Latest records'),
    h('option', { value: 'earliest' }, 'Earliest record'),
    h('option', { value: 'offset' }, 'Offset'),
    h('option', { value: 'time' }, 'Time'),
  );
  const offset = h('input', { id: ids.offset, type: 'number', min: '0', step: '1', value: '0' });
  const time = h('input', { id: ids.time, type: 'datetime-local', step: '1', value: localInputValue(Date.now() - 3_600_000) });
  const limit = h('select', { id: ids.limit }, PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === 20 }, String(n))));
  const view = h(
    'select',
    { id: ids.view },
    h('option', { value: 'auto' }, 'Auto'),
    h('option', { value: 'text' }, 'Text'),
    h('option', { value: 'json' }, 'JSON'),
    h('option', { value: 'hex' }, 'Hex'),
  );
  const offsetField = h('p', { class: 'field' }, h('label', { for: ids.offset }, 'Offset'), offset);
  const timeField = h('p', { class: 'field' }, h('label', { for: ids.time }, 'At or after'), time);
  const results = h('div', { class: 'records', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Record browser' },
    h('p', { class: 'field' }, h('label', { for: ids.partition }, 'Partition'), partition),
    h('p', { class: 'field' }, h('label', { for: ids.from }, 'Start at'), from),
    offsetField,
    timeField,
    h('p', { class: 'field' }, h('label', { for: ids.limit }, 'Per page'), limit),
    h('p', { class: 'field' }, h('label', { for: ids.view }, 'Show values as'), view),
    h('p', { class: 'field field-button' }, h('button', { type: 'submit', class: 'primary' }, 'Show records')),
  );
  const section = h('section', { class: 'browser', 'aria-labelledby': 'browser-heading' }, h('h2', { id: 'browser-heading' }, 'Records'), form, results);
  let topic;
  let lastPage;
  let controller;

  const syncFields = () => {
    offsetField.hidden = from.value !== 'offset';
    timeField.hidden = from.value !== 'time';
  };
  from.addEventListener('change', syncFields);
  syncFields();
  view.addEventListener('change', () => lastPage && renderPage(lastPage));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load(startQuery());
  });

  function bounds() {
    return topic?.partitions.find((p) => p.partition === Number(partition.value));
  }

  function startQuery() {
    const size = Number(limit.value);
    const p = bounds();
    switch (from.value) {
      case 'earliest':
        return {};
      case 'offset':
        return { offset: Number(offset.value) };
      case 'time': {
        const ms = time.value === '' ? Date.now() : new Date(time.value).getTime();
        return { timestampMs: Math.max(0, ms) };
      }
      default:
        return p ? { offset: Math.max(p.logStartOffset, p.highWatermark - size) } : {};
    }
  }

  async function load(query) {
    controller?.abort();
    controller = new AbortController();
    const params = new URLSearchParams({ limit: limit.value });
    for (const [key, value] of Object.entries(query)) params.set(key, String(value));
    replace(results, h('p', { class: 'hint' }, 'Loading…'));
    try {
      const page = await api(`${path('v1', 'topics', topicName, 'partitions', partition.value, 'records')}?${params}`, { signal: controller.signal });
      lastPage = page;
      renderPage(page);
    } catch (error) {
      if (error?.name === 'AbortError') return;
      lastPage = undefined;
      if (error.code === 'OFFSET_OUT_OF_RANGE') {
        replace(results, emptyState(`Offset ${error.details.offset} is outside this partition.`, `Partition ${partition.value} holds offsets ${error.details.logStartOffset} to ${Math.max(error.details.logStartOffset, error.details.highWatermark - 1)}.`));
      } else replace(results, errorState(error));
    }
  }

  function renderPage(page) {
    const size = Number(limit.value);
    const first = page.records[0]?.offset;
    const last = page.records.at(-1)?.offset;
    const previous = h('button', { type: 'button', disabled: page.fromOffset <= page.logStartOffset, on: { click: () => void load({ offset: Math.max(page.logStartOffset, page.fromOffset - size) }) } }, '← Older');
    const next = h('button', { type: 'button', disabled: page.nextOffset >= page.highWatermark, on: { click: () => void load({ offset: page.nextOffset }) } }, 'Newer →');
    const refresh = h('button', { type: 'button', on: { click: () => void load({ offset: page.fromOffset }) } }, 'Refresh');
    const range =
      page.records.length === 0
        ? `No records from offset ${formatInt(page.fromOffset)}`
        : `Offsets ${formatInt(first)}–${formatInt(last)} of partition ${page.partition} (stored: ${formatInt(page.logStartOffset)}–${formatInt(Math.max(page.logStartOffset, page.highWatermark - 1))})`;
    const pager = h('div', { class: 'pager' }, h('p', { class: 'range', role: 'status' }, range), h('div', { class: 'actions' }, previous, refresh, next));
    if (page.records.length === 0) {
      replace(
        results,
        pager,
        emptyState(page.highWatermark === page.logStartOffset ? `Partition ${page.partition} has no records.` : 'No records here: this is the end of the partition.', 'New records appear with “Refresh”.'),
      );
      return;
    }
    const mode = view.value;
    replace(
      results,
      pager,
      table({
        caption: `Records of ${topicName} partition ${page.partition}`,
        className: 'record-table',
        columns: [{ label: 'Offset', numeric: true }, { label: 'Time' }, { label: 'Key' }, { label: 'Value' }, { label: 'Headers' }],
        rows: page.records.map((record) => ({
          cells: [
            formatInt(record.offset),
            timeElement(record.timestampMs),
            bytesBlock(record.key, mode === 'hex' ? 'hex' : 'text', { label: `Key of offset ${record.offset}` }),
            bytesBlock(record.value, mode, { label: `Value of offset ${record.offset}` }),
            record.headers.length === 0
              ? h('span', { class: 'muted' }, 'none')
              : h(
                  'dl',
                  { class: 'headers' },
                  record.headers.map((header) => [h('dt', {}, header.key), h('dd', {}, header.value === null ? '(null)' : (header.value.text ?? `base64:${header.value.base64}`))]),
                ),
          ],
        })),
      }),
    );
  }

  return {
    section,
    setTopic(next) {
      const firstTime = topic === undefined;
      topic = next;
      const selected = partition.value;
      replace(
        partition,
        next.partitions.map((p) => h('option', { value: String(p.partition), selected: String(p.partition) === selected }, String(p.partition))),
      );
      if (firstTime) void load(startQuery());
    },
    show(partitionId) {
      partition.value = String(partitionId);
      from.value = 'latest';
      syncFields();
      void load(startQuery());
      section.scrollIntoView({ block: 'start' });
      partition.focus({ preventScroll: true });
    },
    abort() {
      controller?.abort();
    },
  };
}
