// Building DOM without a framework: `h('tr', {}, h('td', {}, text))`. Text always goes in as text nodes
// (never innerHTML), so record keys, values and error texts cannot inject markup.

/**
 * Creates an element. `props`: `class`, `text`, `on: { event: handler }`, `dataset`, boolean and string
 * attributes, and DOM properties for `value`, `checked`, `disabled`, `hidden`, `selected`.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (name === 'text') element.textContent = String(value);
    else if (name === 'on') for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (['value', 'checked', 'disabled', 'hidden', 'selected', 'indeterminate'].includes(name)) element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A table with a caption (for screen readers), column headers and rows of cells. */
export function table({ caption, columns, rows, className }) {
  return h(
    'table',
    { class: ['data', className] },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col', class: column.numeric ? 'num' : undefined }, column.label)))),
    h(
      'tbody',
      {},
      rows.map((row) =>
        h(
          'tr',
          row.attrs ?? {},
          row.cells.map((cell, i) => h(i === 0 && row.header !== false ? 'th' : 'td', { scope: i === 0 && row.header !== false ? 'row' : undefined, class: columns[i]?.numeric ? 'num' : undefined }, cell)),
        ),
      ),
    ),
  );
}

/** A message for a page or a section with nothing to show (or that failed). */
export function emptyState(title, ...detail) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), detail.length > 0 ? h('p', {}, ...detail) : null);
}

/** A failure that is about the connection (the header banner says so), not about this page's data. */
export function isOutage(error) {
  return error?.code === 'UNREACHABLE' || error?.code === 'SHUTTING_DOWN';
}

/**
 * Shows a failed load in `container`, unless it is an outage and the container already shows data:
 * then the last data stays (the banner says it may be stale) and the next poll refreshes it.
 */
export function showFailure(container, error, { hasData }) {
  if (hasData && isOutage(error)) return;
  replace(container, errorState(error));
}

export function errorState(error, ...actions) {
  const unreachable = error?.code === 'UNREACHABLE';
  return h(
    'div',
    { class: 'empty error', role: 'alert' },
    h('p', { class: 'empty-title' }, unreachable ? 'The broker is unreachable' : `Request failed: ${error?.code ?? 'error'}`),
    h('p', {}, error?.message ?? String(error)),
    unreachable ? h('p', {}, 'The console keeps trying every few seconds.') : null,
    actions.length > 0 ? h('p', {}, ...actions) : null,
  );
}

/** A small label: `badge('active', 'ok')`. */
export function badge(text, tone = 'neutral') {
  return h('span', { class: `badge badge-${tone}` }, text);
}

/** Label and value tiles at the top of a page. */
export function stats(items) {
  return h(
    'dl',
    { class: 'stats' },
    items.map((item) =>
      h('div', { class: ['stat', item.tone ? `stat-${item.tone}` : null] }, h('dt', {}, item.label), h('dd', {}, item.value), item.detail ? h('dd', { class: 'stat-detail' }, item.detail) : null),
    ),
  );
}

export function link(href, text) {
  return h('a', { href }, text);
}

// ---- formatting ----

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function formatInt(value) {
  return integer.format(value);
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? integer.format(value) : decimal.format(value)} ${units[unit]}`;
}

export function formatRate(value, unit) {
  if (!Number.isFinite(value)) return '–';
  if (unit === 'B/s') return `${formatBytes(value)}/s`;
  return `${value >= 100 ? integer.format(value) : decimal.format(value)} ${unit}`;
}

export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const join = (big, bigUnit, small, smallUnit) => (small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`);
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return join(minutes, 'min', seconds % 60, 's');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return join(hours, 'h', minutes % 60, 'min');
  return join(Math.floor(hours / 24), 'd', hours % 24, 'h');
}

/** A retention setting (-1 is unlimited). */
export function formatRetention(ms, bytes) {
  const parts = [];
  parts.push(ms === -1 ? 'forever' : formatDuration(ms));
  if (bytes !== -1) parts.push(`${formatBytes(bytes)} / partition`);
  return parts.join(', ');
}

/** Local date and time with seconds, e.g. 2026-01-31 14:05:09. */
export function formatTime(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  const date = new Date(ms);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A `<time>` element showing local time, with the exact ISO instant as its machine-readable value. */
export function timeElement(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, formatTime(ms));
}

// ---- record bytes ({ text, base64 } as the API renders them) ----

export function bytesOf(rendered) {
  const binary = atob(rendered.base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const HEX_BYTES_SHOWN = 4096;
const AUTO_JSON_INLINE_CHARS = 120;

export function hexDump(bytes) {
  const lines = [];
  const shown = Math.min(bytes.length, HEX_BYTES_SHOWN);
  for (let at = 0; at < shown; at += 16) {
    const row = bytes.subarray(at, Math.min(at + 16, shown));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > shown) lines.push(`… ${formatInt(bytes.length - shown)} more bytes`);
  return lines.join('\n');
}

/**
 * Renders a key or value as `mode` (auto, text, json, hex). Returns `{ text, note }`: the text to show
 * and, when the bytes are not what `mode` asked for, why it fell back to something else.
 */
export function renderBytes(rendered, mode) {
  if (rendered === null) return { text: '(null)', kind: 'null' };
  if (rendered.base64 === '') return { text: '(empty)', kind: 'null' };
  const asText = rendered.text;
  if (mode === 'hex' || (asText === null && mode === 'auto')) return { text: hexDump(bytesOf(rendered)), kind: 'hex' };
  if (asText === null) return { text: hexDump(bytesOf(rendered)), kind: 'hex', note: 'not UTF-8: shown as hex' };
  if (mode === 'text') return { text: asText, kind: 'text' };
  const trimmed = asText.trim();
  const looksJson = trimmed.startsWith('{') || trimmed.startsWith('[');
  // Auto: short one-line JSON stays as it is (one line per record reads best); longer JSON is indented.
  if (mode === 'json' || (looksJson && (asText.length > AUTO_JSON_INLINE_CHARS || asText.includes('\n')))) {
    try {
      return { text: JSON.stringify(JSON.parse(asText), null, 2), kind: 'json' };
    } catch {
      if (mode === 'json') return { text: asText, kind: 'text', note: 'not JSON: shown as text' };
    }
  }
  return { text: asText, kind: 'text' };
}

/** A `<pre>` holding a rendered key or value. */
export function bytesBlock(rendered, mode, { label } = {}) {
  const { text, kind, note } = renderBytes(rendered, mode);
  return h('div', { class: 'bytes' }, h('pre', { class: `bytes-${kind}`, 'aria-label': label }, text), note ? h('p', { class: 'note' }, note) : null);
}
