/**
 * The in-memory twin of the file system, for fast tests of everything above storage and for power-loss
 * simulation. It keeps, for each file, what a crash would leave: the content as of its last completed
 * fdatasync and the writes since, and for each directory the names as of its last fsync.
 * `crashed()` returns the disk as a power loss would leave it: only synced content and synced names,
 * optionally plus a prefix of the unsynced writes with the last of them torn.
 */
import path from 'node:path';
import { assert, type Random } from '../base/index.js';
import type { Fd, FileIO } from './file-io.js';

type PendingOp = { kind: 'write'; position: number; bytes: Buffer } | { kind: 'truncate'; size: number };

class Inode {
  content: Buffer = Buffer.alloc(0);
  durable: Buffer = Buffer.alloc(0);
  /** Writes and truncations since the last completed sync, in order. */
  pending: PendingOp[] = [];
  /** Operations applied so far; `durable` holds the first `durableOps` of them. */
  appliedOps = 0;
  durableOps = 0;

  apply(op: PendingOp): void {
    this.content = applyOp(this.content, op);
    this.pending.push(op);
    this.appliedOps++;
  }
}

function applyOp(content: Buffer, op: PendingOp): Buffer {
  if (op.kind === 'truncate') {
    if (op.size <= content.length) return Buffer.from(content.subarray(0, op.size));
    return Buffer.concat([content, Buffer.alloc(op.size - content.length)]);
  }
  const end = op.position + op.bytes.length;
  const grown = end > content.length ? Buffer.concat([content, Buffer.alloc(end - content.length)]) : content;
  op.bytes.copy(grown, op.position);
  return grown;
}

function ioError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export interface CrashOptions {
  /** Apply a random prefix of each file's unsynced writes and tear the last one applied. */
  tornWrites?: Random;
}

export class MemoryFileIO implements FileIO {
  /** Names as the running system sees them. */
  private names = new Map<string, Inode>();
  /** Names as they would be after a crash: updated for a directory when it is fsynced. */
  private durableNames = new Map<string, Inode>();
  private dirs = new Set<string>(['/']);
  private fds = new Map<Fd, { inode: Inode; writable: boolean }>();
  private nextFd = 3;

  mkdirp(dir: string): void {
    for (let d = path.resolve(dir); !this.dirs.has(d); d = path.dirname(d)) this.dirs.add(d);
  }

  readdir(dir: string): string[] {
    const resolved = path.resolve(dir);
    if (!this.dirs.has(resolved)) throw ioError('ENOENT', `no such directory ${dir}`);
    const entries = new Set<string>();
    for (const p of [...this.names.keys(), ...this.dirs]) {
      if (path.dirname(p) === resolved && p !== resolved) entries.add(path.basename(p));
    }
    return [...entries].sort();
  }

  exists(filePath: string): boolean {
    const resolved = path.resolve(filePath);
    return this.names.has(resolved) || this.dirs.has(resolved);
  }

  openReadWrite(filePath: string): Fd {
    const resolved = path.resolve(filePath);
    if (!this.dirs.has(path.dirname(resolved))) throw ioError('ENOENT', `no such directory for ${filePath}`);
    let inode = this.names.get(resolved);
    if (inode === undefined) {
      inode = new Inode();
      this.names.set(resolved, inode);
    }
    return this.register(inode, true);
  }

  openReadOnly(filePath: string): Fd {
    const inode = this.names.get(path.resolve(filePath));
    if (inode === undefined) throw ioError('ENOENT', `no such file ${filePath}`);
    return this.register(inode, false);
  }

  private register(inode: Inode, writable: boolean): Fd {
    const fd = this.nextFd++;
    this.fds.set(fd, { inode, writable });
    return fd;
  }

  private file(fd: Fd): { inode: Inode; writable: boolean } {
    const open = this.fds.get(fd);
    if (open === undefined) throw ioError('EBADF', `bad file descriptor ${fd}`);
    return open;
  }

  close(fd: Fd): void {
    this.file(fd);
    this.fds.delete(fd);
  }

  sizeOf(fd: Fd): number {
    return this.file(fd).inode.content.length;
  }

  writeAll(fd: Fd, buffers: readonly Uint8Array[], position: number): void {
    const open = this.file(fd);
    if (!open.writable) throw ioError('EBADF', 'file not open for writing');
    const bytes = Buffer.concat(buffers);
    if (bytes.length > 0) open.inode.apply({ kind: 'write', position, bytes });
  }

  read(fd: Fd, into: Uint8Array, offset: number, length: number, position: number): number {
    const { content } = this.file(fd).inode;
    const n = Math.max(0, Math.min(length, content.length - position));
    if (n > 0) content.copy(into, offset, position, position + n);
    return n;
  }

  fdatasync(fd: Fd): Promise<void> {
    const { inode } = this.file(fd);
    const snapshot = Buffer.from(inode.content);
    const synced = inode.appliedOps;
    return new Promise((resolve) =>
      setImmediate(() => {
        this.markSynced(inode, snapshot, synced);
        resolve();
      }),
    );
  }

  fdatasyncSync(fd: Fd): void {
    const { inode } = this.file(fd);
    this.markSynced(inode, Buffer.from(inode.content), inode.appliedOps);
  }

  /** Records that the first `syncedOps` operations are on disk. */
  private markSynced(inode: Inode, snapshot: Buffer, syncedOps: number): void {
    // An fdatasync that completes after a later one (say a blocking sync at a roll overtook it)
    // adds nothing: what a completed sync made durable stays durable.
    if (syncedOps <= inode.durableOps) return;
    inode.durable = snapshot;
    inode.pending = inode.pending.slice(syncedOps - inode.durableOps);
    inode.durableOps = syncedOps;
  }

  truncate(fd: Fd, size: number): void {
    const open = this.file(fd);
    if (!open.writable) throw ioError('EBADF', 'file not open for writing');
    open.inode.apply({ kind: 'truncate', size });
  }

  fsyncDir(dir: string): void {
    const resolved = path.resolve(dir);
    assert(this.dirs.has(resolved), () => `fsyncDir of a missing directory ${dir}`);
    for (const p of [...this.durableNames.keys()]) {
      if (path.dirname(p) === resolved && !this.names.has(p)) this.durableNames.delete(p);
    }
    for (const [p, inode] of this.names) {
      if (path.dirname(p) === resolved) this.durableNames.set(p, inode);
    }
  }

  unlink(filePath: string): void {
    const resolved = path.resolve(filePath);
    if (!this.names.delete(resolved)) throw ioError('ENOENT', `no such file ${filePath}`);
  }

  rename(from: string, to: string): void {
    const inode = this.names.get(path.resolve(from));
    if (inode === undefined) throw ioError('ENOENT', `no such file ${from}`);
    this.names.delete(path.resolve(from));
    this.names.set(path.resolve(to), inode);
  }

  removeTree(dir: string): void {
    const resolved = path.resolve(dir);
    const inside = (p: string): boolean => p === resolved || p.startsWith(`${resolved}/`);
    for (const p of [...this.names.keys()]) if (inside(p)) this.names.delete(p);
    for (const p of [...this.durableNames.keys()]) if (inside(p)) this.durableNames.delete(p);
    for (const d of [...this.dirs]) if (inside(d)) this.dirs.delete(d);
  }

  /** Bytes currently in `filePath`, as a reader would see them (for tests that damage files). */
  contentOf(filePath: string): Buffer {
    const inode = this.names.get(path.resolve(filePath));
    if (inode === undefined) throw ioError('ENOENT', `no such file ${filePath}`);
    return inode.content;
  }

  /** Replaces the content of `filePath` outright, as a bit flip or a torn write on disk would. */
  overwrite(filePath: string, content: Buffer): void {
    const inode = this.names.get(path.resolve(filePath));
    if (inode === undefined) throw ioError('ENOENT', `no such file ${filePath}`);
    inode.content = Buffer.from(content);
    inode.durable = Buffer.from(content);
    inode.pending = [];
    inode.durableOps = inode.appliedOps;
  }

  /**
   * The disk as a power loss at this instant would leave it: names as of each directory's last fsync,
   * content as of each file's last completed fdatasync (plus, with `tornWrites`, some of the writes
   * since, the last of them cut short). Open file descriptors are not carried over.
   */
  crashed(options: CrashOptions = {}): MemoryFileIO {
    const after = new MemoryFileIO();
    after.dirs = new Set(this.dirs);
    const survivors = new Map<Inode, Inode>();
    for (const [p, inode] of this.durableNames) {
      let copy = survivors.get(inode);
      if (copy === undefined) {
        copy = new Inode();
        let content: Buffer = Buffer.from(inode.durable);
        const random = options.tornWrites;
        if (random !== undefined && inode.pending.length > 0) {
          const applied = random.int(0, inode.pending.length + 1);
          for (let i = 0; i < applied; i++) {
            const op = inode.pending[i]!;
            const torn =
              i === applied - 1 && op.kind === 'write'
                ? { ...op, bytes: op.bytes.subarray(0, random.int(0, op.bytes.length + 1)) }
                : op;
            content = applyOp(content, torn);
          }
        }
        copy.content = content;
        copy.durable = Buffer.from(content);
        survivors.set(inode, copy);
      }
      after.names.set(p, copy);
      after.durableNames.set(p, copy);
    }
    return after;
  }
}
