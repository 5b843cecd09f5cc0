// Raw HTTP and file-tree helpers for tests whose requests must reach the server
// byte-for-byte (fetch and URL normalise `..` and some escapes).
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request over a fresh connection; the path reaches the server exactly as given. */
export function send(port: number, method: string, rawPath: string, headers: OutgoingHttpHeaders = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const allHeaders: OutgoingHttpHeaders = { Connection: 'close', ...headers };
    if (body !== undefined) allHeaders['Content-Length'] = Buffer.byteLength(body);
    const req = httpRequest({ host: '127.0.0.1', port, method, path: rawPath, headers: allHeaders, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        if (!settled) reject(err);
      });
    });
    req.on('error', (err) => {
      if (!settled) reject(err);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${method} ${rawPath.slice(0, 120)}`)));
    req.end(body);
  });
}

/** Writes `bytes` on a fresh socket and reads until the server closes it. */

/** Relative path -> 'dir' | 'file:<sha256>' | 'link:<target>' for everything under root. */
export async function snapshot(root: string, exclude: readonly string[] = []): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (exclude.includes(rel)) continue;
      const st = await lstat(full);
      if (st.isSymbolicLink()) out[rel] = 'link:' + (await readlink(full));
      else if (st.isDirectory()) {
        out[rel] = 'dir';
        await walk(full);
      } else out[rel] = 'file:' + createHash('sha256').update(await readFile(full)).digest('hex');
    }
  }
  await walk(root);
  return out;
}
