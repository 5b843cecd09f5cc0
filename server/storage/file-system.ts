// What the stores on the local volume do with files: publish with one rename, copy with
// reflinks where the file system has them, remove a sealed build's read-only tree, tell
// a file that changed from one that did not. System errors pass on as they are.
import type { Stats } from 'node:fs';
import { constants as fsConstants, statSync } from 'node:fs';
import { chmod, cp, lstat, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export type Identity = Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>;

/**
 * The same file as when it was read: inode, size, mtime and ctime. Any write to it moves
 * its ctime (which no one can set), and an upload or a copy is always another inode.
 */
export function sameFile(a: Identity, b: Identity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export async function copyTree(source: string, target: string): Promise<void> {
  // COPYFILE_FICLONE: a reflink where the filesystem offers one, a byte copy elsewhere.
  // Timestamps are kept: a file's recorded checksum is valid for its size and mtime.
  await cp(source, target, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, mode: fsConstants.COPYFILE_FICLONE });
}

export { renameCreatingParents } from './io/rename.js';

/**
 * A symbolic link this volume or this target cannot hold (a target over the volume's
 * limit, a file system without links): the caller keeps the same data in a small file.
 */
export function symlinkRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENAMETOOLONG' || code === 'EPERM' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EINVAL';
}

export function statSyncOrNull(p: string): Stats | null {
  // No exception for a missing file: building one costs more than the stat.
  return statSync(p, { throwIfNoEntry: false }) ?? null;
}

export async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await stat(p);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * rm -rf that also removes a sealed build's tree (folders 0555), which a non-root service
 * user may not empty until they are writable again.
 */
export async function removeTree(target: string): Promise<void> {
  try {
    await rm(target, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    await makeFoldersWritable(target);
    await rm(target, { recursive: true, force: true });
  }
}

export async function makeFoldersWritable(dir: string): Promise<void> {
  const stats = await lstat(dir).catch(() => null);
  if (!stats?.isDirectory()) return;
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeFoldersWritable(path.join(dir, entry.name));
  }
}

/**
 * Replaces a small file whole (keys, secrets, the proxy's certificate): written to a
 * temporary name with `mode` (only the service's user by default), on disk before it
 * replaces the old one, so a crash leaves one whole file or the other, and never a stray
 * copy left behind.
 */
export async function replaceFile(file: string, contents: string, mode = 0o600): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(contents);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
