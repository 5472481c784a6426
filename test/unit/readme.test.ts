import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_SECTIONS, refreshReadme, sectionPattern } from '../../scripts/readme-tables.js';

describe('README', () => {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('has every generated section', () => {
    for (const name of Object.keys(GENERATED_SECTIONS)) expect(readme, name).toMatch(sectionPattern(name));
  });

  it('documents the current error catalog and settings (run `npx tsx scripts/readme-tables.ts` after changing them)', () => {
    expect(readme).toBe(refreshReadme(readme));
  });

  it('gives the quick-start and test commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
