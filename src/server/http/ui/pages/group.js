// A consumer group: members and their partitions, committed offsets and lag per partition (charted
// over time), records in flight and retrying, pause/resume, and resetting offsets with a dry-run preview.

import { api, path } from '../api.js';
import { timeChart } from '../chart.js';
import { openDialog } from '../dialog.js';
import { h, replace, table, badge, stats, emptyState, errorState, showFailure, formatDuration, formatInt } from '../dom.js';
import { poll } from '../poll.js';

const HISTORY_MS = 5 * 60_000;
const CHART_SERIES_MAX = 10;

/** Lag readings per group, kept while the console is open: `{ t: seconds, lag: { "topic/partition": records } }[]`. */
const history = new Map();

function record(group, description) {
  let points = history.get(group);
  if (points === undefined) history.set(group, (points = []));
  const now = Date.now();
  points.push({ t: now / 1000, lag: Object.fromEntries(description.partitions.map((p) => [`${p.topic}/${p.partition}`, p.lagRecords])) });
  while (points.length > 0 && points[0].t < (now - HISTORY_MS) / 1000) points.shift();
  return points;
}

export function mount(main, { group: name }) {
  const head = h('div', { class: 'page-head' }, h('h1', {}, name));
  const status = h('p', { class: 'status', role: 'status' });
  const body = h('div', { 'aria-busy': 'true' });
  const chartBox = h('section', { 'aria-labelledby': 'lag-heading' }, h('h2', { id: 'lag-heading' }, 'Lag over time'));
  const details = h('div');
  const reset = resetForm(name, {
    done: (message) => {
      replace(status, message);
      void poller.now();
    },
  });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/groups' }, 'Consumer groups'), ' / ', name), head, status, body, chartBox, details, reset.section);
  const chart = timeChart(chartBox, { title: 'Lag in records, per partition', format: (v) => formatInt(v), integer: true });
  let gone = false;
  let loaded = false;

  async function load() {
    if (gone) return;
    try {
      const description = await api(path('v1', 'groups', name));
      body.setAttribute('aria-busy', 'false');
      loaded = true;
      render(description);
      reset.setGroup(description);
    } catch (error) {
      body.setAttribute('aria-busy', 'false');
      if (error.code === 'GROUP_NOT_FOUND') {
        gone = true;
        poller.stop();
        chart.destroy();
        chartBox.remove();
        details.remove();
        reset.section.remove();
        replace(body, emptyState(`Group “${name}” does not exist.`, 'It may have been deleted, or no consumer has joined it yet. ', h('a', { href: '#/groups' }, 'Back to the groups.')));
      } else showFailure(body, error, { hasData: loaded });
    }
  }

  async function setPaused(paused) {
    try {
      await api(path('v1', 'groups', name, paused ? 'pause' : 'resume'), { method: 'POST' });
      replace(status, paused ? 'Deliveries to this group are paused.' : 'Deliveries to this group resumed.');
    } catch (error) {
      replace(status, `${error.code}: ${error.message}`);
    }
    await poller.now();
  }

  function render(g) {
    replace(
      head,
      h('h1', {}, g.group),
      h('span', { class: 'badges' }, badge(g.state, g.state === 'active' ? 'ok' : 'neutral'), g.paused ? badge('paused', 'warn') : null),
      h('div', { class: 'actions' }, h('button', { type: 'button', on: { click: () => void setPaused(!g.paused) } }, g.paused ? 'Resume deliveries' : 'Pause deliveries')),
    );
    const lag = g.partitions.reduce((total, p) => total + p.lagRecords, 0);
    const inFlight = g.partitions.reduce((total, p) => total + p.inFlight, 0);
    const retrying = g.partitions.filter((p) => p.retrying !== undefined);
    replace(
      body,
      stats([
        { label: 'Members', value: formatInt(g.members.length) },
        { label: 'Total lag', value: `${formatInt(lag)} records`, tone: lag > 0 ? 'warn' : undefined },
        { label: 'In flight', value: formatInt(inFlight) },
        { label: 'Retrying', value: formatInt(retrying.length), tone: retrying.length > 0 ? 'warn' : undefined },
        { label: 'Generation', value: formatInt(g.generation) },
        { label: 'Strategy', value: g.strategy },
      ]),
    );

    const points = record(name, g);
    const keys = g.partitions.map((p) => `${p.topic}/${p.partition}`);
    const shown = keys.length > CHART_SERIES_MAX ? [...keys].sort((a, b) => (points.at(-1).lag[b] ?? 0) - (points.at(-1).lag[a] ?? 0)).slice(0, CHART_SERIES_MAX) : keys;
    chart.update(
      points.map((p) => p.t),
      shown,
      shown.map((key) => points.map((p) => p.lag[key] ?? null)),
      HISTORY_MS / 1000,
    );

    const memberOf = new Map(g.members.map((m) => [m.memberId, m]));
    replace(
      details,
      h('h2', {}, 'Members'),
      g.members.length === 0
        ? emptyState('No live members.', 'The group keeps its committed offsets; consumers that join continue from them.')
        : table({
            caption: `Members of ${g.group}`,
            columns: [{ label: 'Member' }, { label: 'Client' }, { label: 'Partitions' }, { label: 'In flight', numeric: true }, { label: 'Session' }],
            rows: g.members.map((m) => ({
              cells: [
                h('code', {}, m.memberId),
                [m.clientId, m.instanceId ? h('span', { class: 'muted' }, ` (static: ${m.instanceId})`) : null],
                m.partitions.length === 0 ? h('span', { class: 'muted' }, 'none') : m.partitions.map((p) => `${p.topic}/${p.partition}`).join(', '),
                formatInt(m.inFlight),
                m.disconnected ? badge(`disconnected, expires in ${formatDuration(m.sessionExpiresInMs)}`, 'warn') : `expires in ${formatDuration(m.sessionExpiresInMs)} without a heartbeat`,
              ],
            })),
          }),
      h('h2', {}, 'Partitions'),
      g.partitions.length === 0
        ? emptyState('No partitions yet.', 'Partitions appear once members subscribe to topics or the group commits offsets.')
        : table({
            caption: `Partitions of ${g.group}`,
            columns: [
              { label: 'Topic / partition' },
              { label: 'Committed offset', numeric: true },
              { label: 'High watermark', numeric: true },
              { label: 'Lag', numeric: true },
              { label: 'Oldest unconsumed' },
              { label: 'Owner' },
              { label: 'In flight', numeric: true },
              { label: 'Retrying' },
            ],
            rows: g.partitions.map((p) => ({
              cells: [
                h('span', {}, h('a', { href: `#/topics/${encodeURIComponent(p.topic)}` }, p.topic), ` / ${p.partition}`),
                formatInt(p.committedOffset),
                formatInt(p.highWatermark),
                formatInt(p.lagRecords),
                p.lagRecords > 0 ? `${formatDuration(p.lagSeconds * 1000)} old` : h('span', { class: 'muted' }, 'caught up'),
                p.ownerMemberId ? (memberOf.get(p.ownerMemberId)?.clientId ?? p.ownerMemberId) : h('span', { class: 'muted' }, 'unassigned'),
                formatInt(p.inFlight),
                p.retrying
                  ? badge(`offset ${p.retrying.offset}: ${p.retrying.failedAttempts} failed, retry in ${formatDuration(p.retrying.retryInMs)}`, 'warn')
                  : h('span', { class: 'muted' }, '–'),
              ],
            })),
          }),
    );
  }

  const poller = poll(load, 2000);
  return {
    unmount() {
      poller.stop();
      chart.destroy();
    },
  };
}

/** Reset offsets: choose a topic and a target, preview it (dry run), then run it after a confirmation. */
function resetForm(group, { done }) {
  const topic = h('select', { id: 'reset-topic', name: 'topic' });
  const targets = [
    ['earliest', 'Earliest offset'],
    ['latest', 'Latest offset (skip everything)'],
    ['timestamp', 'First record at or after a time'],
    ['offsets', 'Specific offsets'],
  ];
  const radios = targets.map(([value, label], i) => {
    const input = h('input', { type: 'radio', name: 'reset-to', id: `reset-to-${value}`, value, checked: i === 0 });
    return h('label', { class: 'radio', for: input.id }, input, ` ${label}`);
  });
  const time = h('input', { type: 'datetime-local', id: 'reset-time', step: '1' });
  const timeField = h('p', { class: 'field' }, h('label', { for: time.id }, 'Time'), time);
  const offsetsBox = h('div', { class: 'offsets' });
  const force = h('input', { type: 'checkbox', id: 'reset-force' });
  const preview = h('button', { type: 'submit', class: 'primary' }, 'Preview reset');
  const execute = h('button', { type: 'button', class: 'danger', disabled: true }, 'Reset offsets');
  const plan = h('div', { class: 'plan', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'reset', 'aria-labelledby': 'reset-heading' },
    h('p', { class: 'field' }, h('label', { for: topic.id }, 'Topic'), topic),
    h('fieldset', {}, h('legend', {}, 'Move the committed offsets to'), radios),
    timeField,
    offsetsBox,
    h('p', { class: 'field checkbox' }, force, h('label', { for: force.id }, ' Force: reset even while members are connected (they are fenced and continue from the new offsets)')),
    h('div', { class: 'actions' }, preview, execute),
  );
  const section = h(
    'section',
    { 'aria-labelledby': 'reset-heading', class: 'panel' },
    h('h2', { id: 'reset-heading' }, 'Reset offsets'),
    h('p', { class: 'hint' }, 'Preview shows the new committed offsets and the lag they leave, and changes nothing.'),
    form,
    plan,
  );
  let description;
  let previewed;

  const target = () => form.querySelector('input[name="reset-to"]:checked').value;
  const request = () => {
    const body = { topic: topic.value, to: target(), force: force.checked };
    if (body.to === 'timestamp') body.timestampMs = time.value === '' ? Date.now() : new Date(time.value).getTime();
    if (body.to === 'offsets') body.offsets = Object.fromEntries([...offsetsBox.querySelectorAll('input')].map((input) => [input.dataset.partition, Number(input.value)]));
    return body;
  };
  const syncFields = () => {
    timeField.hidden = target() !== 'timestamp';
    offsetsBox.hidden = target() !== 'offsets';
    if (target() === 'offsets') renderOffsetInputs();
  };
  const invalidate = () => {
    previewed = undefined;
    execute.disabled = true;
  };
  form.addEventListener('change', (event) => {
    if (event.target === topic) renderOffsetInputs(true);
    syncFields();
    invalidate();
  });
  form.addEventListener('input', invalidate);

  function renderOffsetInputs(force = false) {
    if (!force && offsetsBox.childElementCount > 0 && offsetsBox.dataset.topic === topic.value) return;
    offsetsBox.dataset.topic = topic.value;
    const partitions = (description?.partitions ?? []).filter((p) => p.topic === topic.value);
    replace(
      offsetsBox,
      partitions.map((p) =>
        h('p', { class: 'field' }, h('label', { for: `reset-offset-${p.partition}` }, `Partition ${p.partition}`), h('input', { type: 'number', id: `reset-offset-${p.partition}`, min: '0', step: '1', required: true, value: String(p.committedOffset), dataset: { partition: String(p.partition) } })),
      ),
    );
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const body = request();
      replace(plan, h('p', { class: 'hint' }, 'Computing the plan…'));
      try {
        const result = await api(path('v1', 'groups', group, 'reset'), { method: 'POST', body: { ...body, dryRun: true } });
        previewed = body;
        renderPlan(result);
        execute.disabled = false;
      } catch (error) {
        replace(plan, errorState(error));
      }
    })();
  });

  function renderPlan(result) {
    const lagAfter = result.plan.reduce((total, p) => total + p.lagRecords, 0);
    const active = description?.state === 'active';
    replace(
      plan,
      h('h3', {}, result.executed ? 'Reset done' : 'Preview (nothing changed yet)'),
      table({
        caption: `Reset plan for ${result.topic}`,
        columns: [{ label: 'Partition', numeric: true }, { label: result.executed ? 'Committed before' : 'Committed now', numeric: true }, { label: 'New offset', numeric: true }, { label: 'Lag after', numeric: true }],
        rows: result.plan.map((p) => ({ cells: [String(p.partition), p.currentOffset === undefined ? '–' : formatInt(p.currentOffset), formatInt(p.newOffset), formatInt(p.lagRecords)] })),
      }),
      h('p', { class: 'plan-summary' }, `Lag after the reset: ${formatInt(lagAfter)} records.`),
      active && !previewed?.force ? h('p', { class: 'note warn' }, 'The group has live members: tick “Force” to reset anyway, or stop its consumers first.') : null,
    );
  }

  execute.addEventListener('click', () => {
    if (previewed === undefined) return;
    const body = previewed;
    void (async () => {
      const { confirmed, result } = await openDialog({
        title: `Reset ${group} on ${body.topic}?`,
        danger: true,
        confirmLabel: 'Reset offsets',
        body: h('p', {}, 'The group’s committed offsets move as previewed. Records before the new offsets are skipped; records after them are consumed again.'),
        onConfirm: () => api(path('v1', 'groups', group, 'reset'), { method: 'POST', body: { ...body, dryRun: false } }),
      });
      if (!confirmed) return;
      renderPlan(result);
      invalidate();
      const lagAfter = result.plan.reduce((total, p) => total + p.lagRecords, 0);
      done(`Offsets of ${group} on ${result.topic} were reset: lag is now ${formatInt(lagAfter)} records.`);
    })();
  });

  return {
    section,
    setGroup(next) {
      description = next;
      const topics = [...new Set(next.partitions.map((p) => p.topic))].sort();
      const selected = topic.value;
      if (topics.join('\u0000') !== [...topic.options].map((o) => o.value).join('\u0000')) {
        replace(topic, topics.map((t) => h('option', { value: t, selected: t === selected }, t)));
        renderOffsetInputs(true);
      }
      section.hidden = topics.length === 0;
      syncFields();
    },
  };
}
