// Listening on a Unix socket that may be left over from a killed process, without ever
// taking one that a live process still answers on: the admin socket (the token store's
// single-writer lock) and the socket nginx reaches the app through (LISTEN_SOCKET).
//
// The server listens on a private name first, then link()s it to the wanted name: link()
// fails if the name exists, so of two processes starting at once exactly one gets it. A
// name that nobody answers on is moved aside, checked once more, and replaced.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, rename, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { socketPathProblem } from '../domain/path-limits.js';

export class SocketPathTooLong extends Error {}

/**
 * Whether a process listens on the socket now. Only a refused connection or a missing file
 * means no: any other failure (a full backlog, no file descriptors left) counts as yes, so
 * a busy server is never mistaken for a dead one.
 */
export function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

export interface ClaimedSocket {
  /** Stops listening and removes the name, if it still names this socket. */
  close(): Promise<void>;
}

/**
 * Makes `server` listen on `socketPath` with file mode `mode`. Throws what `inUse` makes
 * when a live process answers there.
 */
export async function listenOnSocket(server: net.Server, socketPath: string, mode: number, inUse: () => Error): Promise<ClaimedSocket> {
  const problem = socketPathProblem(socketPath);
  if (problem) throw new SocketPathTooLong(problem);
  await mkdir(path.dirname(socketPath), { recursive: true });
  if (await isListening(socketPath)) throw inUse();
  const stop = (): Promise<void> => new Promise<void>((resolve) => server.close(() => resolve()));
  const privatePath = path.join(path.dirname(socketPath), `.${path.basename(socketPath)}-${randomBytes(6).toString('hex')}`);
  let inode: number;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(privatePath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(privatePath, mode);
    inode = (await stat(privatePath)).ino;
    await claimName(privatePath, socketPath, inUse);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    await unlink(privatePath).catch(() => undefined);
  }
  return {
    async close() {
      await stop();
      // The name is ours to remove only while it still names our socket.
      if ((await stat(socketPath).catch(() => null))?.ino === inode) await unlink(socketPath).catch(() => undefined);
    },
  };
}

/** Links our socket to `name`, replacing a socket nobody listens on (a killed process's). */
async function claimName(ours: string, name: string, inUse: () => Error): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await link(ours, name);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isListening(name)) throw inUse();
    // Moved aside in one step, then checked: if someone claimed it in between, it goes back.
    const aside = `${name}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(name, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const live = await isListening(aside);
    if (live) await link(aside, name).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    if (live) throw inUse();
  }
  throw inUse();
}
