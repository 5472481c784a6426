/**
 * Packaging: the repository installs into a separate project (`npm install <repo path>`, which runs
 * the `prepare` build), and there `import { Sluice } from 'sluice'` works. The README's quickstart
 * runs unchanged (but for the broker address) against a test broker, without loading any of the
 * broker's modules, and a TypeScript file using the package type-checks against its declarations.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestBroker, startTestBroker } from '../helpers/broker.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The README's quickstart: the first ```js block starting with `// quickstart.mjs`. */
function readmeQuickstart(): string {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const match = /```js\n(\/\/ quickstart\.mjs[\s\S]*?)```/.exec(readme);
  if (match === null) throw new Error('README.md has no quickstart.mjs example');
  return match[1]!;
}

/** Records every file module the program loads (a module resolution hook), one URL per line. */
const LOAD_RECORDER = `
import { register } from 'node:module';
import { appendFileSync } from 'node:fs';
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => appendFileSync(process.env.LOADED_FILE, url + '\\n'));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(\`
  let port;
  export function initialize(data) { port = data.port; }
  export async function resolve(specifier, context, next) {
    const result = await next(specifier, context);
    port.postMessage(result.url);
    return result;
  }
\`), { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
`;

const TYPED_USAGE = `
import { Sluice, json, isSluiceError, type ConsumerMessage, type RecordMetadata } from 'sluice';

interface Order { order: number; total: number }
const sluice = new Sluice({ brokers: ['127.0.0.1:7070'] });
const producer = sluice.producer({ serializer: json<Order>() });
export async function send(): Promise<RecordMetadata[]> {
  return producer.send({ topic: 'orders', messages: [{ key: 'c-1', value: { order: 1, total: 5 } }] });
}
const consumer = sluice.consumer({ groupId: 'billing', topics: ['orders'], deserializer: json<Order>() });
export async function work(): Promise<void> {
  await consumer.run({
    eachMessage: async ({ message }: { message: ConsumerMessage<Order> }) => {
      const total: number = message.value?.total ?? 0;
      if (total < 0) throw new Error('negative');
    },
  });
}
export function code(error: unknown): string | undefined {
  return isSluiceError(error) ? error.code : undefined;
}
`;

describe('the sluice package', () => {
  let env: TestBroker;
  let project: string;

  beforeAll(async () => {
    env = await startTestBroker();
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-package-'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-sluice', private: true, type: 'module' }));
    await run(NPM, ['install', REPO, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, timeout: 120_000 });
  }, 150_000);

  afterAll(async () => {
    await env.stop();
    fs.rmSync(project, { recursive: true, force: true });
  });

  it('installs from the repository path with its build', () => {
    const installed = path.join(project, 'node_modules', 'sluice');
    expect(fs.realpathSync(installed)).toBe(fs.realpathSync(REPO));
    expect(fs.existsSync(path.join(installed, 'dist', 'client', 'index.js'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist', 'client', 'index.d.ts'))).toBe(true);
  });

  it("runs the README's quickstart from the other project, loading the client only", async () => {
    fs.writeFileSync(path.join(project, 'quickstart.mjs'), readmeQuickstart().replaceAll('127.0.0.1:7070', env.address));
    fs.writeFileSync(path.join(project, 'record-loads.mjs'), LOAD_RECORDER);
    const loaded = path.join(project, 'loaded.txt');
    const { stdout } = await run(process.execPath, ['--import', './record-loads.mjs', 'quickstart.mjs'], {
      cwd: project,
      timeout: 30_000,
      env: { ...process.env, LOADED_FILE: loaded },
    });
    expect(stdout).toContain("topic: 'orders'");
    expect(stdout).toMatch(/customer-1 \{ order: 1, total: 5 \} attempt 1/);
    expect(stdout).toMatch(/customer-2 \{ order: 2, total: 7 \} attempt 1/);
    const modules = fs.readFileSync(loaded, 'utf8').split('\n').filter(Boolean);
    expect(modules.some((url) => url.endsWith('/dist/client/index.js'))).toBe(true);
    expect(modules.filter((url) => /\/dist\/(broker|main|server|storage|meta|group|partition|dlq|cli)\b|\/node_modules\/(lmdb|fastify|pino)\//.test(url))).toEqual([]);
    const client = await env.client();
    expect((await client.describeGroup('billing')).partitions.reduce((sum, p) => sum + p.committedOffset, 0)).toBe(2);
  });

  it('type-checks TypeScript that uses the package (types from its exports)', async () => {
    fs.writeFileSync(path.join(project, 'typed.ts'), TYPED_USAGE);
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.join(REPO, 'node_modules', '@types')],
        },
        files: ['typed.ts'],
      }),
    );
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, timeout: 60_000 }).catch((error: { stdout?: string }) => error);
    expect('stdout' in result ? result.stdout : '').toBe('');
  });
});
