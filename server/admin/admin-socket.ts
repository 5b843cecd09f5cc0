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
import { chmod, mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Services } from '../services/services.js';
import { isListening, listenOnSocket, SocketPathTooLong } from '../http/unix-socket.js';
import { handleAdmin } from './operations.js';

export { isListening };

export const ADMIN_SOCKET = 'admin.sock';
const MAX_BODY = 16 * 1024;

export class DataDirInUse extends Error {}

export interface AdminSocket {
  readonly path: string;
  /** Starts answering with this repository (until then every request gets 503). */
  serve(repo: Services): void;
  close(): Promise<void>;
}

export function adminSocketPath(tokensDir: string): string {
  return path.join(tokensDir, ADMIN_SOCKET);
}

export async function startAdminSocket(tokensDir: string, role: 'server' | 'cli', logger?: Logger): Promise<AdminSocket> {
  const socketPath = adminSocketPath(tokensDir);
  await mkdir(tokensDir, { recursive: true });
  await chmod(tokensDir, 0o700);
  const inUse = (): DataDirInUse =>
    new DataDirInUse(`${tokensDir} is in use by another artifact-repo process (a server, or an admin command): ${ADMIN_SOCKET} answers`);

  let repo: Services | null = null;
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
  let claimed;
  try {
    claimed = await listenOnSocket(server, socketPath, 0o600, inUse);
  } catch (err) {
    if (err instanceof SocketPathTooLong) throw new DataDirInUse(`TOKENS_DIR is too long for its admin socket: ${err.message}`);
    throw err;
  }
  const socket = claimed;
  return {
    path: socketPath,
    serve(ready) {
      repo = ready;
    },
    async close() {
      server.closeAllConnections();
      await socket.close();
    },
  };
}
