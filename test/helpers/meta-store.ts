import { afterEach } from 'vitest';
import { ManualClock } from '../../src/base/index.js';
import { MetaStore } from '../../src/meta/index.js';
import { tempDir } from './temp-dir.js';

const opened: MetaStore[] = [];

/** A store in a fresh temporary directory (or `dir`) on a manual clock, closed after the current test. */
export function openMetaStore(options: { dir?: string; clock?: ManualClock } = {}): { store: MetaStore; dir: string; clock: ManualClock } {
  const dir = options.dir ?? tempDir('sluice-meta-');
  const clock = options.clock ?? new ManualClock();
  const store = MetaStore.open({ dir, clock });
  opened.push(store);
  return { store, dir, clock };
}

/** Closes `store` and opens its directory again, as a restart would. */
export async function reopenMetaStore(store: MetaStore, clock?: ManualClock): Promise<MetaStore> {
  await store.close();
  return openMetaStore({ dir: store.dir, ...(clock ? { clock } : {}) }).store;
}

// Registered after temp-dir's hook, so it runs before the directories are removed.
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
