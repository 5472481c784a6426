/**
 * The web console end to end: a real broker (gRPC and the HTTP admin server on free ports, data
 * produced and consumed with the real client) and the console in a real headless Chromium (Debian's
 * `chromium` package, driven by playwright-core). Each test looks at a page the way an operator
 * would, through roles and visible text, and saves a screenshot under test/output/console/.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it), or SLUICE_CHROMIUM
 * pointing at another Chromium.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/base/index.js';
import type { ConsumerSession, DeliveredRecord, SluiceClient } from '../../src/client/index.js';
import { type HttpServer, startHttpServer } from '../../src/server/http/index.js';
import { type TestBroker, startTestBroker, waitUntil } from '../helpers/broker.js';

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT_DIR = path.resolve(import.meta.dirname, '../output/console');
const VIEWPORT = { width: 1280, height: 800 };

let env: TestBroker;
let http: HttpServer;
let client: SluiceClient;
let browser: Browser;
let page: Page;
let base: string;
const pageErrors: string[] = [];
const screenshots: string[] = [];

/** Processes a session's deliveries with `handle` (true: ack, false: nack with no delay) until it ends. */
function work(session: ConsumerSession, handle: (record: DeliveredRecord) => boolean, seen: DeliveredRecord[] = []): Promise<void> {
  return (async () => {
    for await (const event of session.events()) {
      if (event.type !== 'records') continue;
      const ok: number[] = [];
      for (const record of event.records) {
        seen.push(record);
        if (handle(record)) ok.push(record.offset);
        else {
          session.ack(record, ok.splice(0));
          session.nack(record, { error: `cannot process ${record.value?.toString() ?? 'null'}: amount is not a number`, errorClass: 'ValidationError', delayMs: 0 });
          break;
        }
      }
      session.ack(event, ok);
    }
  })();
}

async function screenshot(name: string): Promise<void> {
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

async function open(hash: string): Promise<void> {
  await page.goto(`${base}/ui/#${hash}`);
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set SLUICE_CHROMIUM`);
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  env = await startTestBroker({ settings: { retryBackoffMs: 0, groupTickIntervalMs: 20 } });
  http = await startHttpServer({ broker: env.broker, logger: silentLogger, host: '127.0.0.1', port: 0, version: '0.1.0-e2e' });
  base = `http://127.0.0.1:${http.port}`;
  client = await env.client({ clientId: 'console-e2e' });
  // Root cannot use Chromium's sandbox (CI runs as root).
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  page = await browser.newPage({ viewport: VIEWPORT });
  page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A failed request is reported by the page itself (the error states are what some tests check).
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${message.text()}`);
  });

  await client.createTopic({ name: 'orders', partitionCount: 3 });
  for (let batch = 0; batch < 3; batch++) {
    await client.produce({
      topic: 'orders',
      records: Array.from({ length: 100 }, (_, i) => {
        const n = batch * 100 + i;
        return { key: `customer-${n % 30}`, value: JSON.stringify({ order: n, amount: (n * 7) % 100, currency: 'EUR' }), headers: [{ key: 'trace-id', value: `t-${n}` }] };
      }),
    });
  }
  await client.createTopic({ name: 'telemetry', partitionCount: 1 });
  await client.produce({ topic: 'telemetry', records: [{ key: null, value: Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x41]) }] });
});

afterAll(async () => {
  await browser?.close();
  await http?.close(1_000);
  await env?.stop();
  if (screenshots.length > 0) console.log(`console screenshots:\n${screenshots.map((file) => `  ${file}`).join('\n')}`);
});

describe('web console', () => {
  it('serves its pages and assets from the admin port, small and without a CDN', async () => {
    const response = await page.goto(`${base}/`);
    expect(page.url()).toBe(`${base}/ui/`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    // (Code run in the page is given as text: this project's TypeScript has no DOM types.)
    const assets = await page.evaluate<{ name: string; bytes: number }[]>("performance.getEntriesByType('resource').map((e) => ({ name: e.name, bytes: e.encodedBodySize }))");
    for (const asset of assets) expect(asset.name.startsWith(base), asset.name).toBe(true);
    const scripts = assets.filter((a) => a.name.includes('/ui/'));
    expect(scripts.some((a) => a.name.endsWith('/ui/vendor/uplot.min.js'))).toBe(true);
    const total = scripts.reduce((sum, a) => sum + a.bytes, 0);
    expect(total).toBeGreaterThan(50_000);
    expect(total).toBeLessThan(200 * 1024);
  });

  it('overview: uptime, data size and live produce and consume rates', async () => {
    const session = await client.consume({ group: 'dashboards', topics: ['telemetry'] });
    const worker = work(session, () => true);
    let producing = true;
    const producer = (async () => {
      for (let n = 0; producing; n++) {
        await client.produce({ topic: 'telemetry', records: Array.from({ length: 40 }, (_, i) => ({ value: `reading ${n}-${i}` })) });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      await open('/');
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.getByText('Connected · v0.1.0-e2e').waitFor();
      const tiles = page.locator('.stats');
      await tiles.getByText('Data on disk').waitFor();
      expect(await tiles.locator('.stat', { hasText: 'Topics' }).locator('dd').textContent()).toBe('2');
      // Two readings of the counters, 2 s apart, make the first rate.
      const recordRates = page.locator('.chart-summary').first();
      await recordRates.filter({ hasText: /Produced: [1-9]/ }).waitFor({ state: 'attached', timeout: 10_000 });
      await recordRates.filter({ hasText: /Delivered to groups: [1-9]/ }).waitFor({ state: 'attached', timeout: 10_000 });
      expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(2);
      // Two rates make a line for the screenshot.
      await page.locator('.chart:not([data-points="0"]):not([data-points="1"])').first().waitFor({ timeout: 10_000 });
      await screenshot('overview');
    } finally {
      producing = false;
      await producer;
      await session.leave();
      await worker;
    }
  });

  it('topics: the list, a topic’s partitions and the record browser', async () => {
    await open('/topics');
    const row = page.getByRole('row', { name: /^orders\b/ });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 3)).toEqual(['3', '300', expect.stringMatching(/KiB$/)]);
    expect(cells[3]).toBe('7 d');
    await screenshot('topics');

    await row.getByRole('link', { name: 'orders' }).click();
    await page.getByRole('heading', { name: 'orders', level: 1 }).waitFor();
    const partitions = page.getByRole('table', { name: 'Partitions of orders' });
    await partitions.waitFor();
    expect(await partitions.locator('tbody tr').count()).toBe(3);
    const recordsPerPartition = await partitions.locator('tbody tr td:nth-child(5)').allTextContents();
    expect(recordsPerPartition.map(Number).reduce((a, b) => a + b, 0)).toBe(300);

    // Earliest records of partition 0: offset 0 first, short JSON as it is, headers shown.
    await page.getByLabel('Partition', { exact: true }).selectOption('0');
    await page.getByLabel('Start at').selectOption('earliest');
    await page.getByRole('button', { name: 'Show records' }).click();
    const records = page.getByRole('table', { name: 'Records of orders partition 0' });
    await records.waitFor();
    expect(await records.locator('tbody tr').count()).toBe(20);
    const first = records.locator('tbody tr').first();
    expect(await first.locator('th').textContent()).toBe('0');
    expect(await first.getByLabel('Value of offset 0').textContent()).toMatch(/^\{"order":\d+,"amount":\d+,"currency":"EUR"\}$/);
    expect(await first.getByLabel('Key of offset 0').textContent()).toMatch(/^customer-\d+$/);
    expect(await first.locator('dl.headers dt').textContent()).toBe('trace-id');
    await page.getByLabel('Show values as').selectOption('json');
    expect(await first.getByLabel('Value of offset 0').textContent()).toMatch(/^\{\n {2}"order": \d+,\n {2}"amount": \d+,\n {2}"currency": "EUR"\n\}$/);
    await page.getByLabel('Show values as').selectOption('auto');
    await screenshot('topic-orders');

    // Page on, then look at the values as hex.
    await page.getByRole('button', { name: 'Newer →' }).click();
    await page.getByText(/^Offsets 20–39 of partition 0/).waitFor();
    await page.getByLabel('Show values as').selectOption('hex');
    expect(await records.locator('tbody tr').first().getByLabel('Value of offset 20').textContent()).toMatch(/^000000 {2}7b 22 6f 72/);

    // A time after the last record: the end of the partition.
    await page.getByLabel('Start at').selectOption('time');
    await page.getByLabel('At or after').fill('2999-01-01T00:00:00');
    await page.getByRole('button', { name: 'Show records' }).click();
    await page.getByText('No records here: this is the end of the partition.').waitFor();

    // Binary values fall back to hex in the automatic view.
    await open('/topics/telemetry');
    await page.getByLabel('Start at').selectOption('earliest');
    await page.getByRole('button', { name: 'Show records' }).click();
    expect(await page.getByLabel('Value of offset 0').textContent()).toBe('000000  00 01 fe ff 41                                   ....A');
  });

  it('creates a topic and deletes it, each after a confirmation; a deleted topic says so', async () => {
    await open('/topics');
    await page.getByRole('button', { name: 'Create topic' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create topic' });
    await dialog.getByLabel('Name').fill('scratch-pad');
    await dialog.getByLabel('Partitions').fill('2');
    await dialog.getByLabel('Retention').selectOption({ label: '1 day' });
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').getByText('with 2 partitions').waitFor();
    await page.getByRole('row', { name: /^scratch-pad\b/ }).waitFor();
    expect(env.broker.describeTopic('scratch-pad').config.retentionMs).toBe(86_400_000);

    // The API's validation is the console's: a taken name is refused in the dialog.
    await page.getByRole('button', { name: 'Create topic' }).click();
    await dialog.getByLabel('Name').fill('orders');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByRole('alert').getByText(/^TOPIC_EXISTS: /).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('row', { name: /^scratch-pad\b/ }).getByRole('link', { name: 'scratch-pad' }).click();
    await page.getByRole('button', { name: 'Delete topic' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete topic scratch-pad?' });
    const deleteButton = confirm.getByRole('button', { name: 'Delete topic' });
    expect(await deleteButton.isDisabled()).toBe(true);
    await confirm.getByLabel('Type scratch-pad to confirm').fill('scratch-pad');
    await deleteButton.click();
    await page.waitForURL(/#\/topics$/);
    await page.getByRole('row', { name: /^orders\b/ }).waitFor();
    expect(await page.getByRole('row', { name: /^scratch-pad\b/ }).count()).toBe(0);
    expect(env.broker.listTopics().some((t) => t.name === 'scratch-pad')).toBe(false);

    await open('/topics/scratch-pad');
    await page.getByText('Topic “scratch-pad” does not exist.').waitFor();
  });

  it('dead letters: a poison record reaches the DLQ page, is redriven from it, and nothing is left to redrive', async () => {
    await client.createTopic({ name: 'payments', partitionCount: 1, config: { maxDeliveryAttempts: 2 } });
    await client.produce({ topic: 'payments', records: ['{"amount":10}', 'poison', '{"amount":12}'].map((value) => ({ key: 'account-7', value })) });
    let fixed = false;
    const seen: DeliveredRecord[] = [];
    const session = await client.consume({ group: 'billing', topics: ['payments'] });
    const worker = work(session, (record) => fixed || record.value?.toString() !== 'poison', seen);
    try {
      await waitUntil(async () => (await client.listDeadLetters({ topic: 'payments' })).deadLetters.length === 1, 10_000, 'the dead letter');

      await open('/dlq');
      const row = page.getByRole('row', { name: /^payments\b/ });
      await row.waitFor();
      expect(await row.locator('td').allTextContents()).toEqual(['payments.dlq', '1', expect.stringMatching(/B$/)]);
      await row.getByRole('link', { name: 'payments', exact: true }).click();

      await page.getByRole('heading', { name: 'Dead letters of payments' }).waitFor();
      const letters = page.getByRole('table', { name: 'Dead letters of payments' });
      await letters.waitFor();
      const letter = letters.locator('tbody tr');
      expect(await letter.count()).toBe(1);
      const cells = await letter.locator('td').allTextContents();
      expect(cells.slice(1, 7)).toEqual(['0 / 0', '0 / 1', '2', 'nack in billing', 'ValidationError: cannot process poison: amount is not a number', expect.stringMatching(/^first \d{4}-\d\d-\d\d \d\d:\d\d:\d\dlast \d{4}-/)]);
      expect(cells[7]).toBe('to redrive');
      await page.locator('.stat', { hasText: 'Left to redrive' }).getByText('1', { exact: true }).waitFor();

      // The filter goes to the API (errorContains).
      await page.getByLabel('Last error contains').fill('Timeout');
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      await page.getByText('No dead letters whose error contains “Timeout”.').waitFor();
      await page.getByLabel('Last error contains').fill('');
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      await letters.waitFor();
      await letter.getByText('Record').click();
      await letter.getByText('sluice.dlq.error', { exact: true }).waitFor();
      await screenshot('dlq-payments');

      // "Fixed the bug": redrive everything, after the confirmation.
      fixed = true;
      await page.getByRole('button', { name: 'Redrive all (1)' }).click();
      const confirm = page.getByRole('dialog', { name: 'Redrive all dead letters of payments?' });
      await confirm.waitFor();
      await screenshot('dlq-redrive-confirm');
      await confirm.getByRole('button', { name: 'Redrive 1' }).click();
      await page.getByRole('status').getByText('Redrive done: moved 1 record back to payments.').waitFor();
      await page.getByText('Nothing left to redrive.').waitFor();
      await page.locator('.stat', { hasText: 'Left to redrive' }).getByText('0', { exact: true }).waitFor();
      expect(await page.getByRole('button', { name: 'Redrive all (0)' }).isDisabled()).toBe(true);
      expect(await letters.locator('tbody tr td').nth(7).textContent()).toBe('redriven');
      await screenshot('dlq-payments-redriven');

      await waitUntil(() => seen.some((r) => r.value?.toString() === 'poison' && r.headers.some((h) => h.key === 'sluice.redrive.count')), 10_000, 'the redriven record');
      await waitUntil(async () => (await client.describeGroup('billing')).partitions.every((p) => p.lagRecords === 0), 10_000, 'billing to catch up');
    } finally {
      await session.leave();
      await worker;
    }
  });

  it('consumer groups: the list, a live group, and an offset reset through the form with a dry-run preview', async () => {
    // A group that read all of orders and left: lag 0, no members.
    const seen: DeliveredRecord[] = [];
    const auditor = await client.consume({ group: 'auditors', topics: ['orders'] });
    const auditing = work(auditor, () => true, seen);
    await waitUntil(async () => (await client.describeGroup('auditors')).partitions.reduce((lag, p) => lag + p.lagRecords, 0) === 0 && seen.length >= 300, 10_000, 'auditors to catch up');
    await auditor.leave();
    await auditing;
    // A live group holding records: members, in flight.
    const live = await client.consume({ group: 'shipping', topics: ['orders'], inFlightMax: 5, ackTimeoutMs: 60_000 });

    try {
      await open('/groups');
      const auditors = page.getByRole('row', { name: /^auditors\b/ });
      await auditors.waitFor();
      expect(await auditors.locator('td').allTextContents()).toEqual(['empty', '0', '0']);
      await page.getByRole('row', { name: /^shipping\b/ }).getByText('active').waitFor();
      await screenshot('groups');

      await page.getByRole('link', { name: 'shipping' }).click();
      await page.getByRole('table', { name: 'Members of shipping' }).waitFor();
      await page.locator('.stat', { hasText: 'In flight' }).locator('dd').getByText(/^[1-9]/).waitFor();
      await page.locator('.chart canvas').first().waitFor();
      await screenshot('group-shipping');

      await open('/groups/auditors');
      await page.getByRole('heading', { name: 'auditors' }).waitFor();
      await page.locator('.stat', { hasText: 'Total lag' }).getByText('0 records').waitFor();
      await page.getByLabel('Topic', { exact: true }).selectOption('orders');
      await page.getByLabel('Earliest offset').check();
      await page.getByRole('button', { name: 'Preview reset' }).click();
      const plan = page.getByRole('table', { name: 'Reset plan for orders' });
      await plan.waitFor();
      expect(await plan.locator('tbody tr').count()).toBe(3);
      await page.getByText('Lag after the reset: 300 records.').waitFor();
      await screenshot('group-auditors-preview');
      // The preview changed nothing.
      expect((await client.describeGroup('auditors')).partitions.reduce((lag, p) => lag + p.lagRecords, 0)).toBe(0);

      await page.getByRole('button', { name: 'Reset offsets' }).click();
      await page.getByRole('dialog', { name: 'Reset auditors on orders?' }).getByRole('button', { name: 'Reset offsets' }).click();
      await page.getByRole('status').getByText('Offsets of auditors on orders were reset: lag is now 300 records.').waitFor();
      await page.locator('.stat', { hasText: 'Total lag' }).getByText('300 records').waitFor();
      expect((await client.describeGroup('auditors')).partitions.map((p) => p.committedOffset)).toEqual([0, 0, 0]);
      await screenshot('group-auditors-reset');

      // The API refuses a reset of a live group without force, and the form shows why.
      await open('/groups/shipping');
      await page.getByRole('heading', { name: 'shipping' }).waitFor();
      await page.getByLabel('Latest offset (skip everything)').check();
      await page.getByRole('button', { name: 'Preview reset' }).click();
      await page.getByText('The group has live members: tick “Force” to reset anyway, or stop its consumers first.').waitFor();
      await page.getByRole('button', { name: 'Reset offsets' }).click();
      const refused = page.getByRole('dialog', { name: 'Reset shipping on orders?' });
      await refused.getByRole('button', { name: 'Reset offsets' }).click();
      await refused.getByRole('alert').getByText(/^GROUP_NOT_EMPTY: /).waitFor();
      await refused.getByRole('button', { name: 'Cancel' }).click();
    } finally {
      live.abandon();
    }
  });

  it('works from the keyboard: skip link, navigation, dialogs that hold and give back focus', async () => {
    // A fresh load: focus starts at the top of the document.
    await page.goto('about:blank');
    await open('/topics');
    await page.getByRole('row', { name: /^orders\b/ }).waitFor();
    const focused = (): Promise<string> => page.evaluate<string>('`${document.activeElement?.tagName} ${document.activeElement?.id || document.activeElement?.textContent}`');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('A Skip to content');
    await page.keyboard.press('Enter');
    expect(await focused()).toBe('MAIN main');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('BUTTON Create topic');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Create topic' }).waitFor();
    expect(await focused()).toBe('INPUT new-topic-name');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect(await focused()).toBe('BUTTON Create topic');
    // Shift+Tab back to the main navigation, then to its "Consumer groups" link.
    await page.getByRole('link', { name: 'Dead letters', exact: true }).focus();
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('A Consumer groups');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Consumer groups', level: 1 }).waitFor();
    expect(await focused()).toBe('MAIN main');
    expect(await page.getByRole('link', { name: 'Consumer groups' }).getAttribute('aria-current')).toBe('page');
  });

  it('says when the broker is unreachable, and keeps the last data shown', async () => {
    await open('/topics');
    await page.getByRole('row', { name: /^orders\b/ }).waitFor();
    await http.close(1_000);
    await page.getByRole('alert').getByText('The broker is unreachable.').waitFor({ timeout: 10_000 });
    await page.getByText('Broker unreachable', { exact: true }).waitFor();
    expect(await page.getByRole('row', { name: /^orders\b/ }).count()).toBe(1);
    await screenshot('unreachable');
  });

  it('logged no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
