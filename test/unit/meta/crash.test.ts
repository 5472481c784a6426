/**
 * A durable metadata write survives the process being killed (SIGKILL) right after its promise
 * resolved: the child reports its writes, the parent kills it at once and reopens the store.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MetaStore } from '../../../src/meta/index.js';
import type { CrashWriterReport } from '../../helpers/meta-crash-writer.js';
import { tempDir } from '../../helpers/temp-dir.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WRITER_PATH = path.join(REPO_ROOT, 'test/helpers/meta-crash-writer.ts');
const OK_TIMEOUT_MS = 15_000;

/** Runs the writer on `dir`, kills it with SIGKILL as soon as it prints `ok`, and returns its report. */
function runWriterUntilKilled(dir: string, round: number): Promise<CrashWriterReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER_PATH, '--dir', dir, '--round', String(round)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let report: CrashWriterReport | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the writer did not print ok within ${OK_TIMEOUT_MS} ms; stderr: ${stderr}`));
    }, OK_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^ok (.*)\n/m.exec(stdout);
      if (match !== null && report === undefined) {
        child.kill('SIGKILL');
        report = JSON.parse(match[1]!) as CrashWriterReport;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (report !== undefined && signal === 'SIGKILL') resolve(report);
      else reject(new Error(`the writer exited with code ${code} signal ${signal}; stderr: ${stderr}`));
    });
  });
}

describe('MetaStore after kill -9', () => {
  let store: MetaStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('keeps every durable write whose promise resolved, and never hands out an id twice', async () => {
    const dir = tempDir();
    const first = await runWriterUntilKilled(dir, 0);
    const second = await runWriterUntilKilled(dir, 1);
    expect(first).toEqual({ topicId: 1, producerId: 1, attempts: 1 });
    expect(second).toEqual({ topicId: 2, producerId: 2, attempts: 2 });

    store = MetaStore.open({ dir });
    expect(store.listTopics().map((t) => [t.name, t.topicId, t.config])).toEqual([
      ['topic-0', 1, { round: 0 }],
      ['topic-1', 2, { round: 1 }],
    ]);
    expect(store.getCommittedOffset('group', 'topic-0', 1)?.offset).toBe(100);
    expect(store.getCommittedOffset('group', 'topic-1', 1)?.offset).toBe(101);
    expect(store.getDeliveryAttempts('group', 'topic-0', 0, 7)).toMatchObject({ attempts: 2, lastError: 'failure in round 1', lastMemberId: 'member-1' });
    expect(await store.nextTopicId()).toBe(3);
    expect(await store.allocateProducerId()).toBe(3);
  });
});
