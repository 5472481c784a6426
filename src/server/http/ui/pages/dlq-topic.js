// The dead letters of one topic: each with its provenance, a filter on the error text, and redrive
// (the selected ones, or all) after a confirmation.
//
// A dead-letter topic is a log: redriving republishes a record and leaves it where it is. What is left
// to redrive is what "Redrive all" (with the current filter) would still move: a redrive is a cursor
// over the dead-letter topic, and a dry run of it counts the records past its cursor. Each row says
// whether that redrive would move it ("to redrive") or has moved it already ("redriven").

import { api, path } from '../api.js';
import { openDialog } from '../dialog.js';
import { h, replace, table, badge, stats, emptyState, showFailure, bytesBlock, formatInt, timeElement } from '../dom.js';
import { poll } from '../poll.js';

const LIST_LIMIT = 100;
const REDRIVE_GUARD_DEFAULT = 3;
const DRY_RUN_REFRESH_MS = 30_000;

/** Records redriven one by one in this browser session, by `dlqTopic/partition/offset`. */
const redrivenBySelection = new Set();

export function mount(main, { topic: name }) {
  const summary = h('div');
  const status = h('p', { class: 'status', role: 'status' });
  const filterInput = h('input', { type: 'search', id: 'dlq-filter', placeholder: 'e.g. Timeout', maxlength: '1024' });
  const filterForm = h(
    'form',
    { class: 'toolbar', role: 'search', 'aria-label': 'Filter dead letters' },
    h('p', { class: 'field' }, h('label', { for: filterInput.id }, 'Last error contains'), filterInput),
    h('p', { class: 'field field-button' }, h('button', { type: 'submit' }, 'Filter')),
  );
  const redriveSelected = h('button', { type: 'button', disabled: true }, 'Redrive selected');
  const redriveAll = h('button', { type: 'button', class: 'primary', disabled: true }, 'Redrive all');
  const list = h('div', { 'aria-busy': 'true' });
  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/dlq' }, 'Dead letters'), ' / ', name),
    h('div', { class: 'page-head' }, h('h1', {}, `Dead letters of ${name}`), h('div', { class: 'actions' }, redriveSelected, redriveAll)),
    summary,
    status,
    filterForm,
    list,
  );

  let filter;
  let state;
  let redriveRuns = 0;
  const selected = new Set();
  let gone = false;

  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    filter = filterInput.value.trim() === '' ? undefined : filterInput.value.trim();
    selected.clear();
    void poller.now();
  });

  const key = (letter) => `${state?.dlqTopic}/${letter.partition}/${letter.offset}`;
  const redriveBody = () => (filter === undefined ? {} : { errorContains: filter });

  async function load() {
    if (gone) return;
    try {
      const query = new URLSearchParams({ limit: String(LIST_LIMIT) });
      if (filter !== undefined) query.set('errorContains', filter);
      const listing = await api(`${path('v1', 'topics', name, 'dlq')}?${query}`);
      const topics = (await api('/v1/topics')).topics;
      const dlq = topics.find((t) => t.name === listing.dlqTopic);
      // A dry run reads the dead-letter topic past the redrive's cursor: ask again only when something
      // changed (new dead letters, another filter, a redrive from here) and otherwise every 30 s (a
      // redrive from elsewhere), not on every poll.
      const dryRunKey = dlq === undefined ? undefined : `${dlq.recordCount}|${filter ?? ''}|${redriveRuns}|${Math.floor(Date.now() / DRY_RUN_REFRESH_MS)}`;
      let pending = dryRunKey !== undefined && dryRunKey === state?.dryRunKey ? state.pending : undefined;
      if (dryRunKey !== undefined && pending === undefined) pending = await api(path('v1', 'topics', name, 'dlq', 'redrive'), { method: 'POST', body: { ...redriveBody(), dryRun: true } });
      state = { ...listing, pending, dryRunKey, stored: dlq?.recordCount ?? 0 };
      list.setAttribute('aria-busy', 'false');
      render();
    } catch (error) {
      list.setAttribute('aria-busy', 'false');
      if (error.code === 'TOPIC_NOT_FOUND' && error.details?.topic === name) {
        gone = true;
        poller.stop();
        redriveAll.disabled = true;
        redriveSelected.disabled = true;
        replace(summary);
        filterForm.remove();
        replace(list, emptyState(`Topic “${name}” does not exist.`, 'It may have been deleted. ', h('a', { href: '#/dlq' }, 'Back to the dead letters.')));
      } else showFailure(list, error, { hasData: state !== undefined });
    }
  }

  function rowStatus(letter) {
    if (letter.provenance === null) return badge('not a dead letter', 'neutral');
    const pendingKeys = new Set((state.pending?.preview ?? []).map((p) => `${state.dlqTopic}/${p.dlqPartition}/${p.dlqOffset}`));
    if (pendingKeys.has(key(letter))) return redrivenBySelection.has(key(letter)) ? badge('redriven (selected)', 'ok') : badge('to redrive', 'warn');
    const complete = state.pending !== undefined && state.pending.movedCount <= state.pending.preview.length;
    if (!complete) return redrivenBySelection.has(key(letter)) ? badge('redriven (selected)', 'ok') : h('span', { class: 'muted' }, '–');
    if (letter.provenance.redriveCount >= REDRIVE_GUARD_DEFAULT) return badge('loop guard: skipped', 'bad');
    return badge('redriven', 'ok');
  }

  function render() {
    const pendingCount = state.pending?.movedCount ?? 0;
    const guarded = state.pending?.skippedByLoopGuardCount ?? 0;
    replace(
      summary,
      stats([
        { label: 'Dead-letter topic', value: h('a', { href: `#/topics/${encodeURIComponent(state.dlqTopic)}` }, state.dlqTopic) },
        { label: 'Records stored', value: formatInt(state.stored) },
        { label: filter === undefined ? 'Left to redrive' : 'Matching, left to redrive', value: formatInt(pendingCount), tone: pendingCount > 0 ? 'warn' : 'ok' },
        { label: 'Skipped by loop guard', value: formatInt(guarded), tone: guarded > 0 ? 'bad' : undefined },
      ]),
      state.pending === undefined
        ? null
        : pendingCount === 0
          ? h('p', { class: 'note ok', 'data-testid': 'nothing-left' }, 'Nothing left to redrive', filter === undefined ? '.' : ` matching “${filter}”.`, state.stored > 0 ? ' The records stay in the dead-letter topic, which is a log.' : '')
          : h('p', { class: 'note warn' }, `${formatInt(pendingCount)} ${pendingCount === 1 ? 'record is' : 'records are'} waiting to be redriven.`),
    );
    redriveAll.textContent = filter === undefined ? `Redrive all (${formatInt(pendingCount)})` : `Redrive all matching (${formatInt(pendingCount)})`;
    redriveAll.disabled = pendingCount === 0;
    for (const k of [...selected]) if (!state.deadLetters.some((l) => key(l) === k)) selected.delete(k);
    updateSelection();

    if (state.deadLetters.length === 0) {
      replace(list, filter === undefined ? emptyState(`No dead letters for ${name}.`, 'Records land here after failing their delivery attempts in a consumer group.') : emptyState(`No dead letters whose error contains “${filter}”.`));
      return;
    }
    const all = h('input', { type: 'checkbox', id: 'dlq-select-all', 'aria-label': 'Select every listed dead letter' });
    all.checked = state.deadLetters.every((l) => selected.has(key(l)));
    all.addEventListener('change', () => {
      for (const letter of state.deadLetters) if (all.checked) selected.add(key(letter));
      else selected.delete(key(letter));
      for (const box of list.querySelectorAll('input[data-key]')) box.checked = all.checked;
      updateSelection();
    });
    const rows = state.deadLetters.map((letter) => {
      const p = letter.provenance;
      const box = h('input', { type: 'checkbox', dataset: { key: key(letter) }, checked: selected.has(key(letter)), 'aria-label': `Select dead letter ${letter.partition}/${letter.offset}` });
      box.addEventListener('change', () => {
        if (box.checked) selected.add(key(letter));
        else selected.delete(key(letter));
        updateSelection();
      });
      return {
        header: false,
        cells: [
          box,
          `${letter.partition} / ${formatInt(letter.offset)}`,
          p ? `${p.partition} / ${formatInt(p.offset)}` : '–',
          p ? formatInt(p.attempts) : '–',
          p ? h('span', {}, h('code', {}, p.cause), p.group ? h('span', { class: 'muted' }, ` in ${p.group}`) : null) : '–',
          p ? h('span', { class: 'error-text' }, p.errorClass ? h('strong', {}, `${p.errorClass}: `) : null, p.error) : '–',
          p ? h('span', { class: 'times' }, 'first ', timeElement(p.firstFailureMs), h('br'), 'last ', timeElement(p.lastFailureMs)) : timeElement(letter.timestampMs),
          rowStatus(letter),
          h(
            'details',
            {},
            h('summary', {}, 'Record'),
            h('p', { class: 'label' }, 'Key'),
            bytesBlock(letter.key, 'text'),
            h('p', { class: 'label' }, 'Value'),
            bytesBlock(letter.value, 'auto'),
            h('p', { class: 'label' }, 'Headers'),
            h('dl', { class: 'headers' }, letter.headers.map((header) => [h('dt', {}, header.key), h('dd', {}, header.value === null ? '(null)' : (header.value.text ?? `base64:${header.value.base64}`))])),
          ),
        ],
      };
    });
    const listed = table({
      caption: `Dead letters of ${name}`,
      className: 'dlq-table',
      columns: [
        { label: '' },
        { label: ['In DLQ', h('span', { class: 'visually-hidden' }, ' (partition / offset)')] },
        { label: ['Origin', h('span', { class: 'visually-hidden' }, ' (partition / offset)')] },
        { label: 'Attempts', numeric: true },
        { label: 'Cause' },
        { label: 'Last error' },
        { label: 'Failures' },
        { label: 'Status' },
        { label: 'Details' },
      ],
      rows,
    });
    listed.querySelector('thead th').append(all);
    replace(
      list,
      listed,
      state.truncated || state.deadLetters.length >= LIST_LIMIT ? h('p', { class: 'hint' }, `Showing the first ${formatInt(state.deadLetters.length)} dead letters; narrow them with the filter.`) : null,
    );
  }

  function updateSelection() {
    redriveSelected.textContent = `Redrive selected (${selected.size})`;
    redriveSelected.disabled = selected.size === 0;
  }

  /** Contiguous selected offsets of one DLQ partition become one redrive range. */
  function selectedRanges() {
    const byPartition = new Map();
    for (const k of selected) {
      const [partition, offset] = k.split('/').slice(-2).map(Number);
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), offset]);
    }
    const ranges = [];
    for (const [partition, offsets] of byPartition) {
      offsets.sort((a, b) => a - b);
      let start = offsets[0];
      let end = start + 1;
      for (const offset of offsets.slice(1)) {
        if (offset === end) end++;
        else {
          ranges.push({ dlqPartition: partition, fromOffset: start, toOffset: end });
          start = offset;
          end = offset + 1;
        }
      }
      ranges.push({ dlqPartition: partition, fromOffset: start, toOffset: end });
    }
    return ranges;
  }

  redriveSelected.addEventListener('click', () => {
    void (async () => {
      const ranges = selectedRanges();
      const count = selected.size;
      const keys = [...selected];
      const { confirmed, result } = await openDialog({
        title: `Redrive ${count} dead ${count === 1 ? 'letter' : 'letters'}?`,
        confirmLabel: 'Redrive',
        body: [
          h('p', {}, `${count === 1 ? 'It is' : 'They are'} republished to ${count === 1 ? 'its' : 'their'} original topic and partition, where consumer groups receive ${count === 1 ? 'it' : 'them'} again.`),
          h('p', { class: 'hint' }, '“Redrive all” keeps its own place in the dead-letter topic: records redriven here are still counted by it and would be republished again by it.'),
        ],
        onConfirm: async () => {
          let moved = 0;
          for (const range of ranges) moved += (await api(path('v1', 'topics', name, 'dlq', 'redrive'), { method: 'POST', body: range })).movedCount;
          return moved;
        },
      });
      if (!confirmed) return;
      for (const k of keys) redrivenBySelection.add(k);
      selected.clear();
      redriveRuns++;
      replace(status, `Redrive done: moved ${formatInt(result)} ${result === 1 ? 'record' : 'records'} back to ${name}.`);
      await poller.now();
    })();
  });

  redriveAll.addEventListener('click', () => {
    void (async () => {
      const body = redriveBody();
      const count = state.pending?.movedCount ?? 0;
      const { confirmed, result } = await openDialog({
        title: filter === undefined ? `Redrive all dead letters of ${name}?` : `Redrive the dead letters matching “${filter}”?`,
        confirmLabel: `Redrive ${formatInt(count)}`,
        body: [
          h('p', {}, `${formatInt(count)} ${count === 1 ? 'record is' : 'records are'} republished to ${count === 1 ? 'its' : 'their'} original topic and partition. Run it again later and it moves only what was dead-lettered since.`),
          (state.pending?.skippedByLoopGuardCount ?? 0) > 0 ? h('p', { class: 'note warn' }, `${state.pending.skippedByLoopGuardCount} were redriven ${REDRIVE_GUARD_DEFAULT} times already and are skipped (loop guard).`) : null,
        ],
        onConfirm: () => api(path('v1', 'topics', name, 'dlq', 'redrive'), { method: 'POST', body }),
      });
      if (!confirmed) return;
      selected.clear();
      redriveRuns++;
      replace(status, `Redrive done: moved ${formatInt(result.movedCount)} ${result.movedCount === 1 ? 'record' : 'records'} back to ${name}.`);
      await poller.now();
    })();
  });

  const poller = poll(load, 5000);
  return { unmount: () => poller.stop() };
}
