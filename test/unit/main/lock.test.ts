import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE, acquireDataDirLock } from '../../../src/main.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('data directory lock', () => {
  it('creates LOCK with this pid (creating the directory) and removes it on release', () => {
    const dataDir = path.join(tempDir(), 'nested', 'data');
    const lock = acquireDataDirLock(dataDir);
    expect(lock.path).toBe(path.join(dataDir, LOCK_FILE));
    expect(lock.staleOwnerPid).toBeUndefined();
    expect(fs.readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    expect(fs.existsSync(lock.path)).toBe(false);
    lock.release(); // idempotent
  });

  it('refuses a directory locked by a live process, naming its pid', () => {
    const dataDir = tempDir();
    fs.writeFileSync(path.join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    let error: unknown;
    try {
      acquireDataDirLock(dataDir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect(error).toMatchObject({ ownerPid: process.ppid, message: expect.stringContaining(`in use by process ${process.ppid}`) });
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').trim()).toBe(String(process.ppid));
  });

  it('refuses a second lock of the same directory in the same process', () => {
    const dataDir = tempDir();
    const lock = acquireDataDirLock(dataDir);
    expect(() => acquireDataDirLock(dataDir)).toThrow(DataDirLockedError);
    lock.release();
    acquireDataDirLock(dataDir).release();
  });

  it('takes over a stale lock: a dead pid, an empty file, or its own pid from a previous life', () => {
    const dead = deadPid();
    for (const [content, staleOwnerPid] of [[`${dead}\n`, dead], ['', 0], [`${process.pid}\n`, process.pid]] as const) {
      const dataDir = tempDir();
      fs.writeFileSync(path.join(dataDir, LOCK_FILE), content);
      const lock = acquireDataDirLock(dataDir);
      expect(lock.staleOwnerPid).toBe(staleOwnerPid);
      expect(fs.readFileSync(lock.path, 'utf8').trim(), JSON.stringify(content)).toBe(String(process.pid));
      lock.release();
    }
  });

  it('release leaves a lock that another process has taken over', () => {
    const dataDir = tempDir();
    const lock = acquireDataDirLock(dataDir);
    fs.writeFileSync(lock.path, `${process.ppid}\n`);
    lock.release();
    expect(fs.readFileSync(lock.path, 'utf8').trim()).toBe(String(process.ppid));
  });
});
