/**
 * The web console's files as the admin app serves them: where they are, their headers, that every
 * page module and asset they load is served from this origin, and that they stay small. What the
 * pages do in a browser is test/e2e/console.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSOLE_PREFIX, consoleDirectory } from '../../../src/server/http/index.js';
import { openHttpApp } from '../../helpers/http-app.js';

/** Relative imports of an ES module (`import ... from './x.js'`). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

describe('HTTP admin: web console files', () => {
  it('lives in src/server/http/ui', () => {
    expect(consoleDirectory()).toBe(path.resolve(import.meta.dirname, '../../../src/server/http/ui'));
  });

  it('redirects / and /ui to /ui/ and serves the page with a strict Content-Security-Policy', async () => {
    const { app } = await openHttpApp();
    for (const url of ['/', '/ui']) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(302);
      expect(response.headers.location, url).toBe(CONSOLE_PREFIX);
    }
    const page = await app.inject({ url: CONSOLE_PREFIX });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers.etag).toBeDefined();
    expect(page.body).toContain('<main id="main"');
  });

  it('serves every asset and module the page loads, from this origin, under 200 KB in all', async () => {
    const { app } = await openHttpApp();
    const page = (await app.inject({ url: CONSOLE_PREFIX })).body;
    const assets = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((href) => !href.startsWith('#') && !href.startsWith('data:') && !href.startsWith('/docs'));
    for (const asset of assets) expect(asset, asset).not.toMatch(/^(https?:)?\/\//);
    const queue = [...assets];
    const seen = new Set<string>();
    let totalBytes = Buffer.byteLength(page);
    while (queue.length > 0) {
      const asset = queue.shift()!;
      if (seen.has(asset)) continue;
      seen.add(asset);
      const response = await app.inject({ url: `${CONSOLE_PREFIX}${asset}` });
      expect(response.statusCode, asset).toBe(200);
      expect(response.headers['content-type'], asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /^(application|text)\/javascript/);
      totalBytes += response.rawPayload.length;
      if (asset.endsWith('.js') && !asset.startsWith('vendor/')) {
        for (const imported of importsOf(response.body)) {
          expect(imported, `${asset} imports ${imported}`).toMatch(/^\.\.?\//);
          queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(asset), imported)));
        }
      }
    }
    expect([...seen]).toEqual(expect.arrayContaining(['vendor/uplot.min.js', 'vendor/uplot.min.css', 'console.css', 'app.js', 'api.js', 'pages/dlq-topic.js']));
    // Every module in the directory is reachable from app.js (no dead files shipped).
    const dir = consoleDirectory()!;
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js'));
    expect(files.map((file) => file.split(path.sep).join('/')).sort()).toEqual([...seen].filter((a) => a.endsWith('.js') && !a.startsWith('vendor/')).sort());
    expect(totalBytes).toBeLessThan(200 * 1024);
  });

  it('answers a file it does not have with the API’s 404, and serves nothing outside its directory', async () => {
    const { app } = await openHttpApp();
    for (const url of ['/ui/missing.js', '/ui/vendor/uPlot.esm.js', '/ui/vendor/package.json', '/ui/..%2f..%2fpackage.json', '/ui/%2e%2e/routes/console.ts']) {
      const response = await app.inject({ url });
      expect([403, 404], url).toContain(response.statusCode);
      expect(response.body, url).not.toContain('"name": "sluice"');
    }
    const missing = await app.inject({ url: '/ui/missing.js' });
    expect(missing.json().error.code).toBe('ROUTE_NOT_FOUND');
  });
});
