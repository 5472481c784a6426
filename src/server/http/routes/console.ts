/**
 * The web console: static pages under `/ui/` (plain HTML, CSS and ES modules from
 * `src/server/http/ui/`, no build step) and uPlot for its charts under `/ui/vendor/` (from the
 * `uplot` package). The pages only call the admin API on the same origin, so they can do nothing
 * the API does not allow, with the same validation.
 *
 * Where the pages are: `tsc` compiles `src/` to `dist/` but copies no other files, so the directory
 * is looked up next to this module's directory (`src/server/http/ui` when running from source) and
 * then at `src/server/http/ui` under the package root (when running `dist/`). Without it the broker
 * still starts, logs a warning, and `/ui/` answers 404.
 *
 * Headers: a Content-Security-Policy that allows only this origin (no inline scripts or styles, no
 * framing), `nosniff`, and revalidation of the pages on every load (ETag) so an upgrade is seen at once.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RouteContext } from '../context.js';

export const CONSOLE_PREFIX = '/ui/';

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The uPlot files the pages load, by the name they are served under. */
const VENDOR_FILES: Readonly<Record<string, string>> = { 'uplot.min.js': 'uPlot.iife.min.js', 'uplot.min.css': 'uPlot.min.css' };

/** The directory holding the console's pages, or undefined when the package has none. */
export function consoleDirectory(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const packageRoot = path.resolve(here, '../../../..');
  const candidates = [path.resolve(here, '../ui'), path.join(packageRoot, 'src', 'server', 'http', 'ui')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
}

function uplotDirectory(): string | undefined {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
  } catch {
    return undefined;
  }
}

function secure(reply: FastifyReply): void {
  void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
}

export function consoleRoutes(app: FastifyInstance, { logger }: RouteContext): void {
  const root = consoleDirectory();
  const vendor = uplotDirectory();
  if (root === undefined) {
    logger.warn({ lookedFor: 'src/server/http/ui/index.html' }, 'web console files not found; /ui/ is not served');
    return;
  }
  if (vendor === undefined) logger.warn({ package: 'uplot' }, 'uplot not found; the console shows its numbers without charts');

  // The console is what a person opening the admin port in a browser wants.
  for (const url of ['/', CONSOLE_PREFIX.slice(0, -1)]) app.get(url, { schema: { hide: true } }, (_request, reply) => reply.redirect(CONSOLE_PREFIX));

  void app.register(fastifyStatic, {
    root,
    prefix: CONSOLE_PREFIX,
    index: 'index.html',
    dotfiles: 'ignore',
    // Pages are small and change with the broker: revalidate (ETag) on every load.
    maxAge: 0,
    setHeaders: (reply) => secure(reply),
  });
  if (vendor !== undefined) {
    for (const [name, file] of Object.entries(VENDOR_FILES)) {
      app.get(`${CONSOLE_PREFIX}vendor/${name}`, { schema: { hide: true } }, (_request, reply) => {
        secure(reply);
        // uPlot changes only with the package: a day in the browser's cache.
        return reply.sendFile(file, vendor, { maxAge: '1d' });
      });
    }
  }
}
