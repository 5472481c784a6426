// Time-series charts with uPlot (loaded as a classic script from /ui/vendor/). A chart is a <figure>
// with a visible caption and, under the plot, the latest value of each series in text, so the numbers
// are there for keyboard and screen-reader users (and when uPlot did not load).

import { h, replace } from './dom.js';

const WINDOW_SECONDS_MIN = 60;

export const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9333ea', '#0d9488'];

const pad = (n) => String(n).padStart(2, '0');
const clock = (seconds) => {
  const date = new Date(seconds * 1000);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
};
/** Axis ticks: minutes alone when on the minute. */
const tick = (seconds) => {
  const date = new Date(seconds * 1000);
  return date.getSeconds() === 0 ? `${pad(date.getHours())}:${pad(date.getMinutes())}` : clock(seconds);
};
/** Tick steps for byte values: 1, 2, 4, 8 ... so ticks fall on round KiB and MiB. */
const BINARY_INCREMENTS = Array.from({ length: 48 }, (_, i) => 2 ** i);
/** Tick steps for counts: 1, 2, 5, 10, 20, 50 ... (never a fraction of a record). */
const INTEGER_INCREMENTS = Array.from({ length: 15 }, (_, i) => [1, 2, 5].map((m) => m * 10 ** i)).flat();
const lastValue = (values) => {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
};

/**
 * A chart of series over time in `parent`; `binary`: byte values, with ticks on powers of two;
 * `integer`: counts, with whole-number ticks.
 * `update(times, labels, values, windowSeconds)`: `times` in seconds, `values` one array per series
 * (null: no value). The series may change from one update to the next: the plot is rebuilt when
 * `labels` differ from the last ones.
 */
export function timeChart(parent, { title, format, height = 200, binary = false, integer = false }) {
  const plotBox = h('div', { class: 'chart-plot' });
  const available = typeof window.uPlot === 'function';
  // uPlot's legend shows the latest values (and the values under the pointer); this line says the same
  // in words for screen readers, and for everyone when uPlot did not load.
  const summary = h('p', { class: available ? 'chart-summary visually-hidden' : 'chart-summary' });
  const figure = h('figure', { class: 'chart' }, h('figcaption', {}, title), plotBox, summary);
  parent.append(figure);
  if (!available) plotBox.append(h('p', { class: 'note' }, 'Charts are unavailable (uPlot did not load); the latest values are below.'));
  let plot;
  let labels = [];
  const resize = new ResizeObserver(() => plot?.setSize({ width: plotBox.clientWidth, height }));
  resize.observe(plotBox);

  function build(nextLabels) {
    plot?.destroy();
    labels = nextLabels;
    const options = {
      width: Math.max(200, plotBox.clientWidth),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { values: (_u, ticks) => ticks.map(tick), space: 70, stroke: '#4b5563', grid: { stroke: '#e5e7eb' } },
        { values: (_u, ticks) => ticks.map(format), size: 84, stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ...(binary ? { incrs: BINARY_INCREMENTS } : integer ? { incrs: INTEGER_INCREMENTS } : {}) },
      ],
      series: [
        // Without the pointer on the plot (idx null) the legend shows the latest reading.
        { label: 'Time', value: (u, v, _s, idx) => ((idx === null ? lastValue(u.data[0]) : v) === null ? '–' : clock(idx === null ? lastValue(u.data[0]) : v)) },
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          value: (u, v, s, idx) => {
            const value = idx === null ? lastValue(u.data[s]) : v;
            return value === null || value === undefined ? '–' : format(value);
          },
        })),
      ],
    };
    plot = new window.uPlot(options, [[], ...labels.map(() => [])], plotBox);
  }

  return {
    figure,
    update(times, seriesLabels, values, windowSeconds) {
      if (available) {
        if (plot === undefined || seriesLabels.join('\u0000') !== labels.join('\u0000')) build(seriesLabels);
        plot.setData([times, ...values], false);
        // The window grows with the history, from a minute up to `windowSeconds`.
        const end = times.at(-1) ?? Date.now() / 1000;
        const start = Math.max(end - windowSeconds, Math.min(times[0] ?? end, end - WINDOW_SECONDS_MIN));
        plot.setScale('x', { min: start, max: end });
        if (plot.cursor.idx === null || plot.cursor.idx === undefined) plot.setLegend({ idx: null });
      }
      figure.dataset.points = String(times.length);
      const latest = seriesLabels.map((label, i) => {
        const value = values[i]?.at(-1);
        return `${label}: ${value === null || value === undefined ? '–' : format(value)}`;
      });
      replace(summary, times.length === 0 ? 'Waiting for the first readings…' : `Now — ${latest.join(' · ')}`);
    },
    destroy() {
      resize.disconnect();
      plot?.destroy();
      figure.remove();
    },
  };
}
