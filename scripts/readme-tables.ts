/**
 * The README's generated tables (errors, log settings) come from their single sources: refresh them
 * with `npx tsx scripts/readme-tables.ts`; a unit test fails when the README is out of date.
 */
import { ERROR_CATALOG } from '../src/errors.js';
import { BROKER_SETTINGS, LOG_SETTINGS, describeSettings } from '../src/config.js';

const grpcNames: Record<number, string> = {
  3: 'INVALID_ARGUMENT',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  11: 'OUT_OF_RANGE',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
};

export function errorTable(): string {
  const rows = Object.entries(ERROR_CATALOG).map(
    ([code, spec]) =>
      `| \`${code}\` | ${grpcNames[spec.grpcStatus] ?? spec.grpcStatus} (${spec.grpcStatus}) | ${spec.httpStatus} | ${spec.retriable ? 'yes' : 'no'} | ${spec.summary} |`,
  );
  return ['| code | gRPC status | HTTP | retriable | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export function logSettingsTable(): string {
  const rows = describeSettings(LOG_SETTINGS).map((s) => `| \`${s.key}\` | ${s.default} | ${s.description} |`);
  return ['| setting | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function brokerSettingsTable(): string {
  const rows = describeSettings(BROKER_SETTINGS).map((s) => `| \`${s.key}\` | ${s.default} | ${s.description} |`);
  return ['| setting | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The README sections generated here, keyed by the name in their `<!-- name:begin -->` markers. */
export const GENERATED_SECTIONS: Record<string, () => string> = {
  errors: errorTable,
  'log-settings': logSettingsTable,
  'broker-settings': brokerSettingsTable,
};

export function sectionPattern(name: string): RegExp {
  return new RegExp(`(<!-- ${name}:begin -->\\n)([\\s\\S]*?)(<!-- ${name}:end -->)`);
}

/** Rewrites the generated sections of `readme` from their sources. */
export function refreshReadme(readme: string): string {
  return Object.entries(GENERATED_SECTIONS).reduce(
    (text, [name, render]) => text.replace(sectionPattern(name), (_match, begin: string, _old: string, end: string) => `${begin}${render()}\n${end}`),
    readme,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fs = await import('node:fs');
  const readmePath = new URL('../README.md', import.meta.url);
  fs.writeFileSync(readmePath, refreshReadme(fs.readFileSync(readmePath, 'utf8')));
  console.log('README.md tables refreshed');
}
