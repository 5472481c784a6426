/**
 * The one seam through which storage touches files. Production uses `nodeFileIO`; tests use the
 * in-memory twin (`MemoryFileIO`, which can also simulate a power loss) or wrap either one to make a
 * chosen call fail. Everything is synchronous except `fdatasync`, which runs on libuv's thread pool
 * so that appends keep arriving (and get batched into the next sync) while a sync is in flight.
 */
import fs from 'node:fs';
import path from 'node:path';

export type Fd = number;

export interface FileIO {
  mkdirp(dir: string): void;
  readdir(dir: string): string[];
  exists(filePath: string): boolean;
  /** Opens for reading and writing, creating the file if missing. */
  openReadWrite(filePath: string): Fd;
  openReadOnly(filePath: string): Fd;
  close(fd: Fd): void;
  sizeOf(fd: Fd): number;
  /** Writes all of `buffers` at `position` (looping over short writes). */
  writeAll(fd: Fd, buffers: readonly Uint8Array[], position: number): void;
  /** Reads up to `length` bytes at `position` into `into`; returns the bytes read (short at end of file). */
  read(fd: Fd, into: Uint8Array, offset: number, length: number, position: number): number;
  fdatasync(fd: Fd): Promise<void>;
  fdatasyncSync(fd: Fd): void;
  truncate(fd: Fd, size: number): void;
  /** Makes creations, renames and deletions in `dir` durable. */
  fsyncDir(dir: string): void;
  unlink(filePath: string): void;
  rename(from: string, to: string): void;
  /** Deletes a directory and everything below it (deleting a topic). */
  removeTree(dir: string): void;
}

export const nodeFileIO: FileIO = {
  mkdirp(dir) {
    fs.mkdirSync(dir, { recursive: true });
  },
  readdir(dir) {
    return fs.readdirSync(dir);
  },
  exists(filePath) {
    return fs.existsSync(filePath);
  },
  openReadWrite(filePath) {
    return fs.openSync(filePath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  },
  openReadOnly(filePath) {
    return fs.openSync(filePath, fs.constants.O_RDONLY);
  },
  close(fd) {
    fs.closeSync(fd);
  },
  sizeOf(fd) {
    return fs.fstatSync(fd).size;
  },
  writeAll(fd, buffers, position) {
    let pending = buffers.filter((b) => b.length > 0);
    while (pending.length > 0) {
      let written = fs.writevSync(fd, pending, position);
      position += written;
      const rest: Uint8Array[] = [];
      for (const buffer of pending) {
        if (written >= buffer.length) {
          written -= buffer.length;
        } else {
          rest.push(buffer.subarray(written));
          written = 0;
        }
      }
      pending = rest;
    }
  },
  read(fd, into, offset, length, position) {
    return fs.readSync(fd, into, offset, length, position);
  },
  fdatasync(fd) {
    return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
  },
  fdatasyncSync(fd) {
    fs.fdatasyncSync(fd);
  },
  truncate(fd, size) {
    fs.ftruncateSync(fd, size);
  },
  fsyncDir(dir) {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  unlink(filePath) {
    fs.unlinkSync(filePath);
  },
  rename(from, to) {
    fs.renameSync(from, to);
  },
  removeTree(dir) {
    fs.rmSync(dir, { recursive: true, force: true });
  },
};

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
export function readAt(io: FileIO, fd: Fd, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = io.read(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Writes a whole small file durably: temp file, fsync, rename over, fsync the directory. */
export function writeFileDurably(io: FileIO, filePath: string, data: Uint8Array): void {
  const temp = `${filePath}.tmp`;
  const fd = io.openReadWrite(temp);
  try {
    io.truncate(fd, 0);
    io.writeAll(fd, [data], 0);
    io.fdatasyncSync(fd);
  } finally {
    io.close(fd);
  }
  io.rename(temp, filePath);
  io.fsyncDir(path.dirname(filePath));
}

export function readWholeFile(io: FileIO, filePath: string): Buffer {
  const fd = io.openReadOnly(filePath);
  try {
    return readAt(io, fd, 0, io.sizeOf(fd));
  } finally {
    io.close(fd);
  }
}
