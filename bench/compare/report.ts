/**
 * The comparison's output: one plain-text table (median, min-max, and each Sluice row's ratio to the
 * best peer at the same durability), issue 6's targets checked as PASS/FAIL, and the same figures as
 * JSON and as an SVG bar chart (hand-written: one cluster of bars per workload, size and durability).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Environment, formatRatio, writeJsonResults } from '../harness.js';
import type { CompareOptions } from './options.js';
import type { RunContext } from './runner.js';
import { type Figure, type FigureGroup, groupKey, ratioToBestPeer } from './stats.js';
import type { Durability, SystemName } from './workload.js';

export interface Target {
  name: string;
  pass: boolean;
  detail: string;
}

const SHORT_SETTING: Record<SystemName, Record<Durability, string>> = {
  sluice: { always: 'always', interval: 'interval 200ms' },
  redis: { always: 'aof always', interval: 'aof everysec' },
  nats: { always: 'n/a', interval: 'js default' },
};

function sizeLabel(valueBytes: number): string {
  return valueBytes % 1024 === 0 ? `${valueBytes / 1024} KiB` : `${valueBytes} B`;
}

function workloadLabel(group: FigureGroup): string {
  if (group.workload === 'latency') return `latency @${group.ratePerSecond! >= 1000 ? `${group.ratePerSecond! / 1000}k` : group.ratePerSecond}/s`;
  if (group.workload === 'produce-4') return 'produce x4';
  if (group.workload === 'produce-1') return 'produce x1';
  return group.workload === 'memory' ? 'memory (slow consumer)' : 'consume+ack';
}

function number(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '-';
  if (unit === 'records/s') return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : `${(value / 1e3).toFixed(1)}k`;
  if (unit === 'ms') return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

/** The figure a row leads with for each workload (its other figures are in the JSON, or beside it). */
function primaryMetric(figure: Figure): boolean {
  if (figure.workload === 'latency') return figure.metric === 'p99';
  if (figure.workload === 'memory') return figure.metric === 'peak RSS';
  return figure.metric === 'throughput';
}

function find(figures: readonly Figure[], like: Figure, metric: string): Figure | undefined {
  return figures.find((f) => f.system === like.system && f.metric === metric && groupKey(f) === groupKey(like));
}

function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const SYSTEM_ORDER: readonly SystemName[] = ['sluice', 'redis', 'nats'];
const WORKLOAD_ORDER: readonly string[] = ['produce-1', 'produce-4', 'consume', 'latency', 'memory'];

/** Rows compared with each other next to each other: by durability, workload, value size, rate, then system. */
function tableOrder(a: Figure, b: Figure): number {
  return (
    a.durability.localeCompare(b.durability) ||
    WORKLOAD_ORDER.indexOf(a.workload) - WORKLOAD_ORDER.indexOf(b.workload) ||
    a.valueBytes - b.valueBytes ||
    (a.ratePerSecond ?? 0) - (b.ratePerSecond ?? 0) ||
    SYSTEM_ORDER.indexOf(a.system) - SYSTEM_ORDER.indexOf(b.system)
  );
}

export function formatTable(figures: readonly Figure[]): string {
  const header = ['workload', 'value', 'durability', 'system (setting)', 'median', '(min-max)', 'also', 'vs best peer'];
  const rows = figures.filter(primaryMetric).sort(tableOrder).map((figure) => {
    let also = '';
    if (figure.unit === 'records/s') also = `${number(find(figures, figure, 'bandwidth')?.median ?? Number.NaN, 'MB/s')} MB/s`;
    if (figure.workload === 'latency') {
      const p50 = find(figures, figure, 'p50')?.median ?? Number.NaN;
      const p999 = find(figures, figure, 'p99.9')?.median ?? Number.NaN;
      const delivered = find(figures, figure, 'delivered')?.median ?? Number.NaN;
      also = `p50 ${number(p50, 'ms')} p99.9 ${number(p999, 'ms')}${delivered < 100 ? ` (${delivered.toFixed(0)}% in time)` : ''}`;
    }
    if (figure.workload === 'memory') also = `${number(find(figures, figure, 'RSS after')?.median ?? Number.NaN, 'MB')} MB after`;
    const ratio = ratioToBestPeer(figure, figures);
    return [
      workloadLabel(figure),
      sizeLabel(figure.valueBytes),
      figure.durability,
      `${figure.system} (${SHORT_SETTING[figure.system][figure.durability]})`,
      `${number(figure.median, figure.unit)} ${figure.unit}`,
      `(${number(figure.min, figure.unit)}-${number(figure.max, figure.unit)})`,
      also,
      ratio === undefined ? '' : `${formatRatio(ratio.ratio)} ${ratio.peer}`,
    ];
  });
  return renderTable(header, rows);
}

/** Issue 6's targets, from whichever figures were measured. */
export function checkTargets(figures: readonly Figure[], options: { memoryRecords: number }): Target[] {
  const targets: Target[] = [];
  const get = (system: SystemName, group: FigureGroup, metric: string): Figure | undefined =>
    figures.find((f) => f.system === system && f.metric === metric && groupKey(f) === groupKey(group));
  const twiceRedis = (group: FigureGroup, metric: string, name: string): void => {
    const sluice = get('sluice', group, metric);
    const redis = get('redis', group, metric);
    if (sluice === undefined || redis === undefined) return;
    const ratio = sluice.median / redis.median;
    targets.push({ name, pass: ratio >= 2, detail: `${number(sluice.median, sluice.unit)} vs Redis ${number(redis.median, redis.unit)} ${sluice.unit}: ${formatRatio(ratio)} (target 2x)` });
  };
  for (const figure of figures.filter((f) => f.system === 'sluice' && f.metric === 'throughput')) {
    const label = `${workloadLabel(figure)} ${sizeLabel(figure.valueBytes)} ${figure.durability}`;
    if (figure.workload === 'produce-1' || figure.workload === 'consume') twiceRedis(figure, 'throughput', `${label}: >= 2x Redis`);
  }
  const absolute = (group: FigureGroup, metric: string, threshold: number, name: string): void => {
    const sluice = get('sluice', group, metric);
    if (sluice === undefined) return;
    targets.push({ name, pass: sluice.median >= threshold, detail: `${number(sluice.median, sluice.unit)} ${sluice.unit} (target >= ${threshold} ${sluice.unit})` });
  };
  absolute({ workload: 'produce-1', valueBytes: 100, durability: 'interval' }, 'throughput', 270_000, 'produce 100 B interval >= 270k records/s');
  absolute({ workload: 'produce-1', valueBytes: 1024, durability: 'always' }, 'bandwidth', 56, 'produce 1 KiB always >= 56 MB/s');
  for (const [durability, limitMs] of [['interval', 5], ['always', 10]] as const) {
    for (const figure of figures.filter((f) => f.system === 'sluice' && f.workload === 'latency' && f.metric === 'p99' && f.ratePerSecond === 5000 && f.durability === durability)) {
      targets.push({
        name: `p99 latency at 5k/s ${sizeLabel(figure.valueBytes)} ${durability} <= ${limitMs} ms`,
        pass: figure.median <= limitMs,
        detail: `${number(figure.median, 'ms')} ms`,
      });
    }
  }
  for (const figure of figures.filter((f) => f.system === 'sluice' && f.metric === 'peak RSS')) {
    targets.push({ name: `broker peak RSS < 300 MB with a ${options.memoryRecords.toLocaleString('en-US')}-record backlog (issue: 10M)`, pass: figure.median < 300, detail: `${number(figure.median, 'MB')} MB` });
  }
  return targets;
}

const SYSTEM_COLOURS: Record<SystemName, string> = { sluice: '#2b7bb9', redis: '#d9534f', nats: '#5cb85c' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal bars, one cluster per compared group, each bar scaled to the largest of its cluster. */
export function renderSvg(figures: readonly Figure[], title: string): string {
  const primary = figures.filter(primaryMetric).sort(tableOrder);
  const groups = new Map<string, Figure[]>();
  for (const figure of primary) groups.set(groupKey(figure), [...(groups.get(groupKey(figure)) ?? []), figure]);
  const barHeight = 16;
  const labelWidth = 300;
  const barWidth = 420;
  const width = labelWidth + barWidth + 200;
  const parts: string[] = [];
  let y = 50;
  for (const cluster of groups.values()) {
    const first = cluster[0]!;
    const better = first.better === 'higher' ? 'higher is better' : 'lower is better';
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(`${workloadLabel(first)}, ${sizeLabel(first.valueBytes)}, ${first.durability}: ${first.metric} ${first.unit} (${better})`)}</text>`);
    y += 20;
    const largest = Math.max(...cluster.map((f) => (Number.isFinite(f.median) ? f.median : 0)), Number.MIN_VALUE);
    for (const figure of cluster) {
      const length = Math.max(1, (barWidth * (Number.isFinite(figure.median) ? figure.median : 0)) / largest);
      const ratio = ratioToBestPeer(figure, figures);
      // The runs' spread as a whisker from min to max across the bar's end.
      const [low, high] = [figure.min, figure.max].map((v) => labelWidth + (barWidth * (Number.isFinite(v) ? v : 0)) / largest) as [number, number];
      const middle = y + (barHeight - 3) / 2;
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end">${escapeXml(`${figure.system} (${SHORT_SETTING[figure.system][figure.durability]})`)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight - 3}" fill="${SYSTEM_COLOURS[figure.system]}"/>`,
        `<line x1="${low.toFixed(1)}" y1="${middle}" x2="${high.toFixed(1)}" y2="${middle}" stroke="black"/>`,
        `<text x="${(labelWidth + Math.max(length, high - labelWidth) + 6).toFixed(1)}" y="${y + 12}">${escapeXml(`${number(figure.median, figure.unit)}${ratio === undefined ? '' : `  (${formatRatio(ratio.ratio)} best peer)`}`)}</text>`,
      );
      y += barHeight;
    }
    y += 10;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

export function writeResults(options: {
  resultsDir: string;
  compareOptions: CompareOptions;
  context: RunContext;
  environment: { atStart: Environment; loadAverageAtEnd: number };
  targets: Target[];
  elapsedMs: number;
}): { jsonPath: string; svgPath: string } {
  const { resultsDir, compareOptions, context, environment, targets } = options;
  const base = path.join(resultsDir, compareOptions.resultsName);
  const jsonPath = `${base}.json`;
  const svgPath = `${base}.svg`;
  writeJsonResults(jsonPath, {
    benchmark: 'compare',
    generatedAt: new Date().toISOString(),
    elapsedMs: Math.round(options.elapsedMs),
    environment,
    options: compareOptions,
    durabilitySettings: context.settings.map(({ system, durability, setting }) => ({ system, durability, ...setting })),
    skipped: context.skipped,
    failures: context.failures,
    figures: context.figures.all().map((figure) => ({ ...figure, vsBestPeer: ratioToBestPeer(figure, context.figures.all()) })),
    targets,
  });
  const title = `Sluice vs Redis Streams vs NATS JetStream (median of ${compareOptions.runs}${compareOptions.quick ? ', --quick' : ''})`;
  fs.writeFileSync(svgPath, renderSvg(context.figures.all(), title));
  return { jsonPath, svgPath };
}
