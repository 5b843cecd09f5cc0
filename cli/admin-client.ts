// How an admin command reaches the store: through the running server's admin socket, or,
// when none runs, by opening the repository itself while holding that socket (so a server
// started meanwhile refuses to start instead of becoming a second writer).
import http from 'node:http';
import pino from 'pino';
import type { Config } from '../server/config/config.js';
import type { AdminRequest, AdminResponse } from '../server/admin/operations.js';
import { adminSocketPath, DataDirInUse, isListening, startAdminSocket } from '../server/admin/admin-socket.js';

function viaSocket(socketPath: string, request: AdminRequest): Promise<AdminResponse> {
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method: request.method,
        path: request.path,
        headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 500, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch {
            reject(new Error('the server answered the admin socket with something other than JSON'));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface AdminCall {
  response: AdminResponse;
  /** Whether a running server answered, or this process opened the store itself. */
  via: 'server' | 'data-dir';
}

// Another command holding the store (no server running) finishes within moments: wait.
const BUSY_WAIT_MS = 15_000;

export async function adminCall(config: Config, request: AdminRequest): Promise<AdminCall> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    let call: AdminCall | null = null;
    try {
      call = await adminCallOnce(config, request);
    } catch (err) {
      // The holder went away while we talked to it (a command finishing): ask again.
      if (!LOST_HOLDER.has((err as NodeJS.ErrnoException).code ?? '') || Date.now() > deadline) throw err;
    }
    if (call && (!(call.via === 'server' && call.response.status === 503) || Date.now() > deadline)) return call;
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
  }
}

const LOST_HOLDER = new Set(['ECONNRESET', 'ECONNREFUSED', 'ENOENT', 'EPIPE']);

async function adminCallOnce(config: Config, request: AdminRequest): Promise<AdminCall> {
  const socketPath = adminSocketPath(config.tokensDir);
  if (await isListening(socketPath)) return { response: await viaSocket(socketPath, request), via: 'server' };
  let socket;
  try {
    socket = await startAdminSocket(config.tokensDir, 'cli');
  } catch (err) {
    // Someone claimed the store between the probe and the claim: ask them.
    if (err instanceof DataDirInUse && (await isListening(socketPath))) return { response: await viaSocket(socketPath, request), via: 'server' };
    throw err;
  }
  try {
    const logger = pino({ level: 'warn', base: undefined }, pino.destination({ dest: 2, sync: true }));
    // Loaded only here: a command a running server answers starts in a fraction of the time.
    const [{ openRepository }, { handleAdmin }] = await Promise.all([import('../server/repository.js'), import('../server/admin/operations.js')]);
    const repo = await openRepository(config, { logger, provisionMaster: false });
    try {
      return { response: await handleAdmin(repo, request, 'cli'), via: 'data-dir' };
    } finally {
      await repo.close();
    }
  } finally {
    await socket.close();
  }
}
