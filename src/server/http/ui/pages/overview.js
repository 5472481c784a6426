// Overview: the broker at a glance, produce and consume rates over the last minutes, errors by code.

import { timeChart } from '../chart.js';
import { h, replace, stats, table, emptyState, errorState, formatBytes, formatDuration, formatInt, formatRate, timeElement } from '../dom.js';
import { WINDOW_MS, latestOverview, rates, subscribe } from '../sampler.js';

const RECORD_SERIES = [
  ['produceRecords', 'Produced'],
  ['deliveredRecords', 'Delivered to groups'],
  ['fetchRecords', 'Fetched'],
];
const BYTE_SERIES = [
  ['produceBytes', 'Produced'],
  ['deliveredBytes', 'Delivered to groups'],
  ['fetchBytes', 'Fetched'],
];

export function mount(main) {
  const tiles = h('div', { class: 'tiles' });
  const charts = h('div', { class: 'charts' });
  const errors = h('section', { 'aria-labelledby': 'errors-heading' });
  main.append(
    h('h1', {}, 'Overview'),
    tiles,
    h(
      'section',
      { 'aria-labelledby': 'rates-heading' },
      h('h2', { id: 'rates-heading' }, 'Throughput'),
      h('p', { class: 'hint' }, `Per second, from the broker’s counters read every 2 s while this console is open (up to the last ${WINDOW_MS / 60_000} minutes).`),
      charts,
    ),
    errors,
  );
  const recordsChart = timeChart(charts, { title: 'Records per second', format: (v) => formatRate(v, 'rec/s') });
  const bytesChart = timeChart(charts, { title: 'Bytes per second', format: (v) => formatRate(v, 'B/s'), binary: true });

  function render() {
    const { overview, error } = latestOverview();
    if (overview === undefined) {
      replace(tiles, error ? errorState(error) : h('p', { class: 'hint' }, 'Loading…'));
      return;
    }
    const c = overview.counters;
    replace(
      tiles,
      stats([
        { label: 'Uptime', value: formatDuration(overview.uptimeMs), detail: ['since ', timeElement(overview.startedAtMs)] },
        { label: 'Data on disk', value: formatBytes(overview.logSizeBytes) },
        { label: 'Topics', value: formatInt(overview.topicCount) },
        { label: 'Partitions', value: overview.offlinePartitionCount > 0 ? `${formatInt(overview.partitionCount)} (${overview.offlinePartitionCount} offline)` : formatInt(overview.partitionCount), tone: overview.offlinePartitionCount > 0 ? 'bad' : undefined },
        { label: 'Consumer groups', value: formatInt(overview.groupCount) },
        { label: 'Dead-lettered', value: formatInt(c.deadLetteredRecords), tone: c.deadLetteredRecords > 0 ? 'warn' : undefined },
        { label: 'Errors', value: formatInt(c.errors), tone: c.errors > 0 ? 'warn' : undefined },
      ]),
      h('p', { class: 'hint' }, `Version ${overview.version} · data directory `, h('code', {}, overview.dataDir), ' (bytes of partition logs; the metadata store is not counted)'),
    );
    const recordRates = rates(RECORD_SERIES.map(([name]) => name));
    recordsChart.update(recordRates.times, RECORD_SERIES.map(([, label]) => label), RECORD_SERIES.map(([name]) => recordRates.series[name]), WINDOW_MS / 1000);
    const byteRates = rates(BYTE_SERIES.map(([name]) => name));
    bytesChart.update(byteRates.times, BYTE_SERIES.map(([, label]) => label), BYTE_SERIES.map(([name]) => byteRates.series[name]), WINDOW_MS / 1000);

    replace(
      errors,
      h('h2', { id: 'errors-heading' }, 'Errors since start-up'),
      h(
        'p',
        { class: 'hint' },
        `Produce rejections (backpressure, quotas): ${formatInt(c.produceRejections)} · redeliveries: ${formatInt(c.redeliveredRecords)} · dead-lettered: ${formatInt(c.deadLetteredRecords)}`,
      ),
      overview.errors.length === 0
        ? emptyState('No errors since the broker started.')
        : table({
            caption: 'Requests answered with an error, by transport and code',
            columns: [{ label: 'Code' }, { label: 'Transport' }, { label: 'Count', numeric: true }],
            rows: overview.errors.map((e) => ({ cells: [h('code', {}, e.code), e.transport === 'grpc' ? 'gRPC' : 'HTTP', formatInt(e.count)] })),
          }),
    );
  }

  const unsubscribe = subscribe(render);
  render();
  return {
    unmount() {
      unsubscribe();
      recordsChart.destroy();
      bytesChart.destroy();
    },
  };
}
