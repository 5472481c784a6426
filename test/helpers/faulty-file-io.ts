/**
 * A FileIO wrapper for fault tests: delegates every call to an inner FileIO (MemoryFileIO or
 * nodeFileIO), counts the calls, and can be told to
 * - fail the next call of a kind (or the one after `skip` more) with an errno-style error (as Node's
 *   fs would raise it), or
 * - hold `fdatasync` completions until the test releases them one by one (the inner sync runs at
 *   once, so it covers exactly what was written before the call; only its completion is delayed).
 */
import type { Fd, FileIO } from '../../src/storage/index.js';

export type FaultableCall = 'writeAll' | 'read' | 'fdatasync' | 'fdatasyncSync' | 'fsyncDir' | 'truncate' | 'rename';

/** An error shaped like the ones `node:fs` throws: a message starting with the code, and `code`. */
export function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected i/o error, ${syscall}`), { code, syscall });
}

interface HeldSync {
  release: () => void;
}

export class FaultyFileIO implements FileIO {
  /** Calls made so far, by kind (failed calls included). */
  readonly calls: Record<FaultableCall, number> = {
    writeAll: 0,
    read: 0,
    fdatasync: 0,
    fdatasyncSync: 0,
    fsyncDir: 0,
    truncate: 0,
    rename: 0,
  };
  /** Errors thrown or rejected so far, in order. */
  readonly injected: NodeJS.ErrnoException[] = [];
  /** fdatasync calls that have not completed yet (held ones included). */
  syncsInFlight = 0;
  private armed = new Map<FaultableCall, { code: string; skip: number }>();
  private holding = false;
  private held: HeldSync[] = [];

  constructor(readonly inner: FileIO) {}

  /**
   * Makes the next call of `call` fail with errno `code` (without reaching the inner FileIO), or
   * the call after `skip` more of them succeed.
   */
  failNext(call: FaultableCall, code = 'EIO', skip = 0): void {
    this.armed.set(call, { code, skip });
  }

  /** From now on, completions of `fdatasync` wait for `releaseSync`. */
  holdSyncs(): void {
    this.holding = true;
  }

  /** Stops holding and releases every held sync. */
  stopHoldingSyncs(): void {
    this.holding = false;
    for (const sync of this.held.splice(0)) sync.release();
  }

  get heldSyncCount(): number {
    return this.held.length;
  }

  /** Lets the oldest held fdatasync complete. */
  releaseSync(): void {
    const sync = this.held.shift();
    if (sync === undefined) throw new Error('no fdatasync is held');
    sync.release();
  }

  private count(call: FaultableCall): void {
    this.calls[call]++;
    const armed = this.armed.get(call);
    if (armed === undefined) return;
    if (armed.skip > 0) {
      armed.skip--;
      return;
    }
    this.armed.delete(call);
    const error = errnoError(armed.code, call);
    this.injected.push(error);
    throw error;
  }

  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  exists(filePath: string): boolean {
    return this.inner.exists(filePath);
  }
  openReadWrite(filePath: string): Fd {
    return this.inner.openReadWrite(filePath);
  }
  openReadOnly(filePath: string): Fd {
    return this.inner.openReadOnly(filePath);
  }
  close(fd: Fd): void {
    this.inner.close(fd);
  }
  sizeOf(fd: Fd): number {
    return this.inner.sizeOf(fd);
  }
  writeAll(fd: Fd, buffers: readonly Uint8Array[], position: number): void {
    this.count('writeAll');
    this.inner.writeAll(fd, buffers, position);
  }
  read(fd: Fd, into: Uint8Array, offset: number, length: number, position: number): number {
    this.count('read');
    return this.inner.read(fd, into, offset, length, position);
  }
  async fdatasync(fd: Fd): Promise<void> {
    this.syncsInFlight++;
    try {
      try {
        this.count('fdatasync');
      } catch (error) {
        // A real failed fsync completes on the thread pool: reject on a later turn, not synchronously.
        await new Promise((resolve) => setImmediate(resolve));
        throw error;
      }
      await this.inner.fdatasync(fd);
      if (this.holding) await new Promise<void>((resolve) => this.held.push({ release: resolve }));
    } finally {
      this.syncsInFlight--;
    }
  }
  fdatasyncSync(fd: Fd): void {
    this.count('fdatasyncSync');
    this.inner.fdatasyncSync(fd);
  }
  truncate(fd: Fd, size: number): void {
    this.count('truncate');
    this.inner.truncate(fd, size);
  }
  fsyncDir(dir: string): void {
    this.count('fsyncDir');
    this.inner.fsyncDir(dir);
  }
  unlink(filePath: string): void {
    this.inner.unlink(filePath);
  }
  rename(from: string, to: string): void {
    this.count('rename');
    this.inner.rename(from, to);
  }
  removeTree(dir: string): void {
    this.inner.removeTree(dir);
  }
}
