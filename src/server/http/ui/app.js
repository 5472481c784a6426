// The console's shell: hash routes (#/topics/orders) to pages, the header's connection state, and a
// banner while the broker is unreachable. A page is a module exporting `mount(main, params)` that
// returns `{ unmount() }`; pages stop their polling when unmounted.

import { onConnectionChange } from './api.js';
import { h, replace, formatDuration } from './dom.js';
import { latestOverview, startSampler, subscribe } from './sampler.js';
import * as overview from './pages/overview.js';
import * as topics from './pages/topics.js';
import * as topic from './pages/topic.js';
import * as groups from './pages/groups.js';
import * as group from './pages/group.js';
import * as deadLetters from './pages/dlq.js';
import * as deadLettersOfTopic from './pages/dlq-topic.js';

const ROUTES = [
  { pattern: /^\/?$/, page: overview, nav: 'overview' },
  { pattern: /^\/topics$/, page: topics, nav: 'topics' },
  { pattern: /^\/topics\/([^/]+)$/, page: topic, nav: 'topics', params: ['topic'] },
  { pattern: /^\/groups$/, page: groups, nav: 'groups' },
  { pattern: /^\/groups\/([^/]+)$/, page: group, nav: 'groups', params: ['group'] },
  { pattern: /^\/dlq$/, page: deadLetters, nav: 'dlq' },
  { pattern: /^\/dlq\/([^/]+)$/, page: deadLettersOfTopic, nav: 'dlq', params: ['topic'] },
];

const main = document.getElementById('main');
const connection = document.getElementById('connection');
const banner = document.getElementById('banner');
let current;
let routed = false;

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function route() {
  const target = location.hash.replace(/^#/, '') || '/';
  current?.unmount();
  current = undefined;
  main.replaceChildren();
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(target) })).find(({ m }) => m !== null);
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (match && link.dataset.nav === match.r.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (match) {
    const params = Object.fromEntries((match.r.params ?? []).map((name, i) => [name, safeDecode(match.m[i + 1])]));
    current = match.r.page.mount(main, params);
  } else {
    main.append(h('h1', {}, 'Not found'), h('p', {}, `Nothing lives at ${safeDecode(target)}. `, h('a', { href: '#/' }, 'Go to the overview.')));
  }
  document.title = `${main.querySelector('h1')?.textContent ?? 'Console'} · Sluice`;
  // Move focus to the new page so keyboard and screen-reader users start there (not on first load).
  if (routed) main.focus({ preventScroll: true });
  routed = true;
  window.scrollTo(0, 0);
}

function showConnection() {
  const { overview, error } = latestOverview();
  if (error?.code === 'UNREACHABLE' || error?.code === 'SHUTTING_DOWN') {
    connection.className = 'connection connection-down';
    replace(connection, error.code === 'SHUTTING_DOWN' ? 'Broker shutting down' : 'Broker unreachable');
  } else if (overview) {
    connection.className = 'connection connection-up';
    replace(connection, `Connected · v${overview.version} · up ${formatDuration(overview.uptimeMs)}`);
  }
}

onConnectionChange((reachable, error) => {
  if (reachable) {
    banner.hidden = true;
    banner.replaceChildren();
  } else {
    replace(
      banner,
      error?.code === 'SHUTTING_DOWN' ? 'The broker is shutting down. ' : 'The broker is unreachable. ',
      'What you see is the last data received; the console keeps retrying and updates once it answers.',
    );
    banner.hidden = false;
  }
});

// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

subscribe(showConnection);
startSampler();
window.addEventListener('hashchange', route);
route();
