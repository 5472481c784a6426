// Consumer groups: state, members and total lag of each.

import { api } from '../api.js';
import { h, replace, table, badge, emptyState, showFailure, formatInt } from '../dom.js';
import { poll } from '../poll.js';

export function mount(main) {
  const list = h('div', { 'aria-busy': 'true' });
  main.append(h('h1', {}, 'Consumer groups'), list);

  let loaded = false;

  async function load() {
    try {
      const { groups } = await api('/v1/groups');
      list.setAttribute('aria-busy', 'false');
      loaded = true;
      if (groups.length === 0) {
        replace(list, emptyState('No consumer groups yet.', 'A group appears when a consumer joins it (and stays while it has committed offsets).'));
        return;
      }
      replace(
        list,
        table({
          caption: 'Consumer groups',
          columns: [{ label: 'Group' }, { label: 'State' }, { label: 'Members', numeric: true }, { label: 'Total lag (records)', numeric: true }],
          rows: groups.map((g) => ({
            cells: [
              h('a', { href: `#/groups/${encodeURIComponent(g.group)}` }, g.group),
              h('span', {}, badge(g.state, g.state === 'active' ? 'ok' : 'neutral'), g.paused ? [' ', badge('paused', 'warn')] : null),
              formatInt(g.memberCount),
              formatInt(g.lagRecords),
            ],
          })),
        }),
      );
    } catch (error) {
      list.setAttribute('aria-busy', 'false');
      showFailure(list, error, { hasData: loaded });
    }
  }

  const poller = poll(load, 3000);
  return { unmount: () => poller.stop() };
}
