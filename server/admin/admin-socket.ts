// The admin socket, TOKENS_DIR/admin.sock: how the admin CLI reaches a running server, and
// the lock that keeps a single writer on the token store (lowdb holds the whole store in
// memory and rewrites it: two writers would undo each other's changes).
//
// Whoever listens on the socket owns the store: the server for its whole life, or the CLI
// for one command when no server runs. A second claimant finds someone listening and
// stops (the server refuses to start; the CLI sends its command through the socket). A
// socket file nobody listens on is what a killed process left: it is replaced. Claiming is
// atomic (bind a private name, then link() it to admin.sock), so two processes starting
// at the same instant cannot both win. Access is
// the file system's: the folder is 0700 and the socket 0600, so only the service's own
// user (the one that can read the token store anyway) gets in.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, rename, stat, unlink } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Repository } from '../repository.js';
import { handleAdmin } from './operations.js';

export const ADMIN_SOCKET = 'admin.sock';
// sockaddr_un.sun_path is 108 bytes on Linux, with the terminating NUL.
const MAX_SOCKET_PATH = 107;
const MAX_BODY = 16 * 1024;

export class DataDirInUse extends Error {}

export interface AdminSocket {
  readonly path: string;
  /** Starts answering with this repository (until then every request gets 503). */
  serve(repo: Repository): void;
  close(): Promise<void>;
}

export function adminSocketPath(tokensDir: string): string {
  return path.join(tokensDir, ADMIN_SOCKET);
}

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

export async function startAdminSocket(tokensDir: string, role: 'server' | 'cli', logger?: Logger): Promise<AdminSocket> {
  const socketPath = adminSocketPath(tokensDir);
  // The private name it is first bound to is 13 bytes longer.
  if (Buffer.byteLength(socketPath) + 13 > MAX_SOCKET_PATH) throw new DataDirInUse(`TOKENS_DIR is too long for its admin socket (${socketPath} is over ${MAX_SOCKET_PATH} bytes)`);
  await mkdir(tokensDir, { recursive: true });
  await chmod(tokensDir, 0o700);
  const inUse = (): DataDirInUse =>
    new DataDirInUse(`${tokensDir} is in use by another artifact-repo process (a server, or an admin command): ${ADMIN_SOCKET} answers`);
  if (await isListening(socketPath)) throw inUse();

  let repo: Repository | null = null;
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!repo) {
        answer(503, { error: role === 'cli' ? `busy: an admin command (pid ${process.pid}) is changing the store; try again` : 'the server is starting; try again' });
        return;
      }
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        answer(400, { error: 'malformed JSON body' });
        return;
      }
      handleAdmin(repo, { method: req.method ?? 'GET', path: req.url ?? '/', body }, role).then(
        ({ status, body: out }) => answer(status, out),
        (err: unknown) => {
          logger?.error({ err: String(err) }, 'admin operation failed');
          answer(500, { error: 'internal error' });
        },
      );
    });
  });
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  // Listen on a private name first, then link it to admin.sock: link() fails if the name
  // exists, so of two processes starting at once exactly one gets it.
  const privatePath = path.join(tokensDir, `admin-${randomBytes(6).toString('hex')}.sock`);
  let inode: number;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(privatePath, () => resolve());
    });
    await chmod(privatePath, 0o600);
    inode = (await stat(privatePath)).ino;
    await claimName(privatePath, socketPath, inUse);
  } catch (err) {
    await close();
    throw err;
  } finally {
    await unlink(privatePath).catch(() => undefined);
  }
  return {
    path: socketPath,
    serve(ready) {
      repo = ready;
    },
    async close() {
      await close();
      // The name is ours to remove only while it still names our socket.
      if ((await stat(socketPath).catch(() => null))?.ino === inode) await unlink(socketPath).catch(() => undefined);
    },
  };
}

/** Links our socket to `name`, replacing a socket nobody listens on (a killed process's). */
async function claimName(ours: string, name: string, inUse: () => DataDirInUse): Promise<void> {
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
