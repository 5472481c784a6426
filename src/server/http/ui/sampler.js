// The broker overview, read every POLL_MS_MIN while the tab is visible, whatever page is open: it keeps
// the header's connection state current and the last WINDOW_MS of readings for the rate charts.
// Rates are computed here from two readings of the broker's counters and the broker's own clock
// (`nowMs`), so the browser's clock does not matter. A broker restart (a new `startedAtMs`) starts the
// history over, since its counters start from zero again.

import { api } from './api.js';
import { POLL_MS_MIN, poll } from './poll.js';

export const WINDOW_MS = 5 * 60_000;

const readings = [];
const listeners = new Set();
let latest;
let lastError;
let poller;

export function startSampler() {
  poller ??= poll(async () => {
    try {
      const overview = await api('/v1/broker');
      if (latest !== undefined && overview.startedAtMs !== latest.startedAtMs) readings.length = 0;
      readings.push(overview);
      while (readings.length > 2 && readings[0].nowMs < overview.nowMs - WINDOW_MS - POLL_MS_MIN) readings.shift();
      latest = overview;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    for (const listener of listeners) listener();
  }, POLL_MS_MIN);
}

/** Calls `listener()` after every reading (or failed reading); returns the unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function latestOverview() {
  return { overview: latest, error: lastError };
}

/**
 * Per-second rates between consecutive readings: `{ times, series: { name: number[] } }` with
 * `times` in seconds (broker clock), for the counters named.
 */
export function rates(names) {
  const times = [];
  const series = Object.fromEntries(names.map((name) => [name, []]));
  for (let i = 1; i < readings.length; i++) {
    const before = readings[i - 1];
    const after = readings[i];
    const seconds = (after.nowMs - before.nowMs) / 1000;
    if (seconds <= 0) continue;
    times.push(after.nowMs / 1000);
    for (const name of names) series[name].push(Math.max(0, (after.counters[name] - before.counters[name]) / seconds));
  }
  return { times, series };
}
