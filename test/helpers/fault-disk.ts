/**
 * Damaging a partition directory the way a crash or a bad disk would, the same way on the real disk
 * (a temporary directory) and on MemoryFileIO, plus the layout facts fault tests need (which batch
 * sits where in which segment file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type FileIO, type MemoryFileIO, nodeFileIO, readBatchHeader } from '../../src/storage/index.js';

/** A partition directory whose files a test can read, replace and delete behind the log's back. */
export interface FaultDisk {
  readonly kind: 'memory' | 'node';
  readonly io: FileIO;
  readonly dir: string;
  /** File names in the directory, sorted. */
  names(): string[];
  exists(name: string): boolean;
  /** A copy of the file's bytes. */
  read(name: string): Buffer;
  /** Replaces the file's bytes (creating it if missing). */
  write(name: string, bytes: Buffer): void;
  remove(name: string): void;
  /** An independent copy of the directory (same kind of disk). */
  clone(): FaultDisk;
}

export function memoryDisk(io: MemoryFileIO, dir: string): FaultDisk {
  const full = (name: string): string => path.join(dir, name);
  return {
    kind: 'memory',
    io,
    dir,
    names: () => (io.exists(dir) ? io.readdir(dir) : []),
    exists: (name) => io.exists(full(name)),
    read: (name) => Buffer.from(io.contentOf(full(name))),
    write: (name, bytes) => {
      if (!io.exists(full(name))) io.close(io.openReadWrite(full(name)));
      io.overwrite(full(name), bytes);
    },
    remove: (name) => io.unlink(full(name)),
    clone: () => {
      // After a clean close every byte and name is durable, so the crash image is an exact copy.
      const copy = memoryDisk(io.crashed(), dir);
      for (const name of io.readdir(dir)) {
        if (!copy.exists(name) || !copy.read(name).equals(io.contentOf(full(name)))) {
          throw new Error(`clone of ${dir} differs in ${name}: was the log closed cleanly?`);
        }
      }
      return copy;
    },
  };
}

const tempDirs: string[] = [];

/** A fresh directory under os.tmpdir(); `removeTempDirs` deletes every one made so far. */
export function makeTempDir(prefix = 'sluice-fault-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A partition directory on the real disk. `dir` is created on first use by the log. */
export function nodeDisk(dir: string): FaultDisk {
  const full = (name: string): string => path.join(dir, name);
  return {
    kind: 'node',
    io: nodeFileIO,
    dir,
    names: () => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []),
    exists: (name) => fs.existsSync(full(name)),
    read: (name) => fs.readFileSync(full(name)),
    write: (name, bytes) => fs.writeFileSync(full(name), bytes),
    remove: (name) => fs.unlinkSync(full(name)),
    clone: () => {
      const copy = path.join(makeTempDir(), 'log');
      fs.cpSync(dir, copy, { recursive: true });
      return nodeDisk(copy);
    },
  };
}

export function segmentFileName(baseOffset: number, suffix: '.log' | '.index' | '.timeindex'): string {
  return `${String(baseOffset).padStart(20, '0')}${suffix}`;
}

/** The base offsets of the segments on disk (their .log files), ascending. */
export function segmentBases(disk: FaultDisk): number[] {
  return disk
    .names()
    .filter((name) => /^\d{20}\.log$/.test(name))
    .map((name) => Number(name.slice(0, 20)))
    .sort((a, b) => a - b);
}

/** Every file's bytes, by name. */
export function snapshotFiles(disk: FaultDisk): Map<string, Buffer> {
  return new Map(disk.names().map((name) => [name, disk.read(name)]));
}

export interface BatchPlace {
  segmentBase: number;
  position: number;
  batchBytes: number;
  baseOffset: number;
  lastOffset: number;
}

/** Where each batch of an intact segment file sits, by walking its headers. */
export function batchPlaces(disk: FaultDisk, segmentBase: number): BatchPlace[] {
  const bytes = disk.read(segmentFileName(segmentBase, '.log'));
  const places: BatchPlace[] = [];
  for (let position = 0; position < bytes.length; ) {
    const header = readBatchHeader(bytes, position);
    places.push({
      segmentBase,
      position,
      batchBytes: header.batchBytes,
      baseOffset: header.baseOffset,
      lastOffset: header.baseOffset + header.lastOffsetDelta,
    });
    position += header.batchBytes;
  }
  return places;
}

/** Returns a copy of `bytes` with the byte at `position` XORed with a non-zero `mask`. */
export function flipByte(bytes: Buffer, position: number, mask: number): Buffer {
  if (mask < 1 || mask > 255) throw new Error(`flip mask ${mask} is not a non-zero byte`);
  const copy = Buffer.from(bytes);
  copy[position] = copy[position]! ^ mask;
  return copy;
}
