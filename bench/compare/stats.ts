/**
 * Figures from repeated runs: each run adds a sample, and a figure is reported as the median of its
 * samples with their min and max. Latency percentiles are nearest-rank over one run's samples.
 */
import type { Durability, SystemName } from './workload.js';

export type WorkloadName = 'produce-1' | 'produce-4' | 'consume' | 'latency' | 'memory';
export const WORKLOAD_NAMES: readonly WorkloadName[] = ['produce-1', 'produce-4', 'consume', 'latency', 'memory'];

/** What one row of the results is about; rows with equal groups are compared with each other. */
export interface FigureGroup {
  workload: WorkloadName;
  valueBytes: number;
  durability: Durability;
  /** The offered rate of a latency row, records/s. */
  ratePerSecond?: number;
}

export interface Figure extends FigureGroup {
  system: SystemName;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  samples: number[];
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of `values`, sorted here. */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function groupKey(group: FigureGroup): string {
  return `${group.workload}|${group.valueBytes}|${group.durability}|${group.ratePerSecond ?? ''}`;
}

/** Collects the samples of every figure, in the order they were first seen. */
export class Figures {
  private readonly figures = new Map<string, Figure>();

  add(sample: FigureGroup & { system: SystemName; metric: string; unit: string; better: 'higher' | 'lower'; value: number }): void {
    const key = `${groupKey(sample)}|${sample.system}|${sample.metric}`;
    let figure = this.figures.get(key);
    if (figure === undefined) {
      const { value: _value, ...rest } = sample;
      figure = { ...rest, samples: [], median: Number.NaN, min: Number.NaN, max: Number.NaN };
      this.figures.set(key, figure);
    }
    figure.samples.push(sample.value);
    figure.median = median(figure.samples);
    figure.min = Math.min(...figure.samples);
    figure.max = Math.max(...figure.samples);
  }

  all(): Figure[] {
    return [...this.figures.values()];
  }
}

/**
 * How far Sluice leads the best peer on a figure: >1 means Sluice is ahead (for lower-is-better
 * figures the ratio is inverted so that the reading is the same). Undefined without a peer figure.
 */
export function ratioToBestPeer(figure: Figure, all: readonly Figure[]): { ratio: number; peer: SystemName } | undefined {
  if (figure.system !== 'sluice') return undefined;
  const peers = all.filter((f) => f.system !== 'sluice' && f.metric === figure.metric && groupKey(f) === groupKey(figure) && Number.isFinite(f.median));
  if (peers.length === 0) return undefined;
  const best = peers.reduce((a, b) => ((figure.better === 'higher' ? b.median > a.median : b.median < a.median) ? b : a));
  const ratio = figure.better === 'higher' ? figure.median / best.median : best.median / figure.median;
  return { ratio, peer: best.system };
}
