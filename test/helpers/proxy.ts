// Talking to the build proxy in tests: curl with a clean environment (this machine sets
// SSL_CERT_FILE, REQUESTS_CA_BUNDLE and others globally), and a raw CONNECT tunnel that
// stays open across requests.
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { MintedToken } from './harness.js';
import { findTool, run, type RunResult } from './tools.js';

/** A minimal environment for a client program: PATH and HOME, nothing inherited. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...extra };
}

export function proxyUrl(port: number, token?: MintedToken, password = token?.password): string {
  return token ? `http://${token.username}:${password}@127.0.0.1:${port}` : `http://127.0.0.1:${port}`;
}

/** The repository's proxy CA, fetched as a build would, written beside `dir`. */
export async function fetchProxyCa(baseUrl: string, dir: string): Promise<string> {
  const res = await fetch(`${baseUrl}/-/proxy/ca.pem`);
  if (!res.ok) throw new Error(`ca.pem: ${res.status}`);
  const file = path.join(dir, 'repo-ca.pem');
  await writeFile(file, await res.text());
  return file;
}

export interface CurlResult extends RunResult {
  status: number;
  body: string;
}

/** curl through the proxy; the status is the last HTTP code curl saw (the proxy's or the origin's). */
export async function curlVia(proxy: string, url: string, caFile: string, home: string, extra: string[] = []): Promise<CurlResult> {
  const result = await run(findTool('curl') as string, ['-sS', '--proxy', proxy, '--cacert', caFile, '-o', '-', '-w', '\n%{http_code}', ...extra, url], { env: cleanEnv(home), timeoutMs: 60_000 });
  const at = result.stdout.lastIndexOf('\n');
  return { ...result, status: Number(result.stdout.slice(at + 1)), body: result.stdout.slice(0, at) };
}

/** A CONNECT tunnel to `host:port`, TLS inside, for several requests on one connection. */
export async function openTunnel(proxyPort: number, authority: string, servername: string, credentials: string | null, ca: string): Promise<{ request(raw: string): Promise<string>; close(): void; connectAnswer: string; socket: net.Socket }> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${credentials ? `Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n` : ''}\r\n`);
  const connectAnswer = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  if (!connectAnswer.startsWith('HTTP/1.1 200')) return { request: async () => '', close: () => socket.destroy(), connectAnswer, socket };
  const secure = tls.connect({ socket, servername, ca });
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  // Read, as a client does: a paused socket would not see the proxy close it.
  secure.on('error', () => undefined).resume();
  return {
    connectAnswer,
    socket: secure,
    request: (raw) =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString('latin1');
          const head = text.indexOf('\r\n\r\n');
          if (head === -1) return;
          const length = Number(/content-length: (\d+)/i.exec(text.slice(0, head))?.[1] ?? 0);
          if (text.length >= head + 4 + length) {
            secure.off('data', onData);
            resolve(text);
          }
        };
        secure.on('data', onData);
        secure.once('error', reject);
        secure.write(raw);
      }),
    close: () => secure.destroy(),
  };
}

/** Counts connections to an address while it holds it (a stand-in for an origin that must not be asked). */
export async function countingListener(host: string, port: number): Promise<{ count(): number; close(): Promise<void> }> {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  return { count: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
