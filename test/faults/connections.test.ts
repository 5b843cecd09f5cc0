// Hundreds of idle or slow connections do not stop a normal upload and download. Against the
// real server process (as `npm start` runs it) with HEADERS_TIMEOUT=3: 300 connections that
// send nothing, 100 that send their headers one byte every 500 ms, and 50 PUTs whose body
// arrives one byte a second. While they are all open, a 20 MiB PUT and its GET must come
// through byte-identical and /-/health must answer; the slow headers must get 408 once the
// header timeout has passed; the slow bodies, still moving, must not be cut; and once the
// clients go, nothing of their uploads may remain.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { basic, makeTempDir, mintWith, startChild, type ChildServer, type MintedToken } from '../helpers/harness.js';

const HEADERS_TIMEOUT_S = 3;
const IDLE = 300;
const SLOW_HEADERS = 100;
const SLOW_BODIES = 50;
const BIG = 20 * 1024 * 1024;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** One client connection and what happened to it. */
interface Held {
  kind: 'idle' | 'slow-header' | 'slow-body';
  socket: net.Socket;
  openedAt: number;
  /** When the server closed it (null while open, or when we closed it ourselves). */
  closedAt: number | null;
  /** Everything the server sent, latin1. */
  answer: string;
  timer: NodeJS.Timeout | null;
  sent: number;
}

function hold(port: number, kind: Held['kind'], start: (h: Held) => void): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const h: Held = { kind, socket, openedAt: 0, closedAt: null, answer: '', timer: null, sent: 0 };
    socket.on('data', (d: Buffer) => (h.answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (h.timer) clearInterval(h.timer);
      h.timer = null;
      if (h.closedAt === null) h.closedAt = Date.now();
    });
    socket.once('connect', () => {
      h.openedAt = Date.now();
      start(h);
      resolve(h);
    });
    socket.once('error', reject);
  });
}

/** Writes one byte of `text` every `ms` while the socket is open. */
function drip(h: Held, text: string, ms: number): void {
  h.timer = setInterval(() => {
    if (h.socket.destroyed || !h.socket.writable) return;
    h.socket.write(text[h.sent % text.length] ?? 'a');
    h.sent++;
  }, ms);
}

/** A PUT of `body` in 1 MiB writes, honouring backpressure. */
function putBig(url: string, auth: string, body: Buffer): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', agent: false, headers: { Authorization: auth, 'Content-Length': body.length } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('PUT timed out')));
    let at = 0;
    const pump = (): void => {
      while (at < body.length) {
        const chunk = body.subarray(at, at + 1024 * 1024);
        at += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** GET streamed into a hash: status, sha256, length, and the server's X-Checksum-Sha256. */
function getHash(url: string): Promise<{ status: number; sha256: string; length: number; declared: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (d: Buffer) => {
        hash.update(d);
        length += d.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), length, declared: res.headers['x-checksum-sha256'] as string | undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('GET timed out')));
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, every));
  }
  return check();
}

const open = (list: Held[]): number => list.filter((h) => h.closedAt === null).length;

describe('faults: hundreds of idle and slow connections', function () {
  this.timeout(60_000);
  let dataDir: string;
  let server: ChildServer;
  let port: number;
  let token: MintedToken;
  let auth: string;
  const idle: Held[] = [];
  const slowHeaders: Held[] = [];
  const slowBodies: Held[] = [];
  const all = (): Held[] => [...idle, ...slowHeaders, ...slowBodies];

  before(async function () {
    dataDir = await makeTempDir('connections-');
    server = await startChild(dataDir, { HEADERS_TIMEOUT: String(HEADERS_TIMEOUT_S) });
    port = Number(new URL(server.baseUrl).port);
    token = await mintWith(server.baseUrl, { type: 'conn', project: 'p', build: '1' });
    auth = basic(token.username, token.password);
    // Caches the token's proof, so that 50 parallel slow PUTs do not queue on argon2.
    expect((await fetch(`${server.baseUrl}/conn/p/1/warm.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'warm' })).status).to.equal(201);

    // Open them in batches, the slow headers last: their header timeout starts at once.
    for (let i = 0; i < IDLE; i += 50) idle.push(...(await Promise.all(Array.from({ length: Math.min(50, IDLE - i) }, () => hold(port, 'idle', () => undefined)))));
    for (let i = 0; i < SLOW_BODIES; i += 25) {
      slowBodies.push(
        ...(await Promise.all(
          Array.from({ length: 25 }, (_, k) =>
            hold(port, 'slow-body', (h) => {
              h.socket.write(`PUT /conn/p/1/slow/body-${i + k}.bin HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${auth}\r\nContent-Length: 100000\r\n\r\n`);
              drip(h, 'b', 1000);
            }),
          ),
        )),
      );
    }
    for (let i = 0; i < SLOW_HEADERS; i += 50) {
      slowHeaders.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, () =>
            hold(port, 'slow-header', (h) => {
              h.socket.write('GET / HTTP/1.1\r\n');
              drip(h, 'X-Slow-Header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 500);
            }),
          ),
        )),
      );
    }
  });

  after(async () => {
    for (const h of all()) {
      if (h.timer) clearInterval(h.timer);
      h.socket.destroy();
    }
    if (server) await server.stop('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`a 20 MiB PUT and GET come through byte-identical, and /-/health answers, while ${IDLE} idle, ${SLOW_HEADERS} slow-header and ${SLOW_BODIES} slow-body connections are open`, async () => {
    const openAtStart = { idle: open(idle), slowHeaders: open(slowHeaders), slowBodies: open(slowBodies) };
    expect(openAtStart.slowBodies, 'slow-body connections open when the transfer starts').to.equal(SLOW_BODIES);
    expect(openAtStart.slowHeaders, 'slow-header connections open when the transfer starts').to.equal(SLOW_HEADERS);
    const started = Date.now();
    const body = randomBytes(BIG);
    const url = `${server.baseUrl}/conn/p/1/big/payload.bin`;
    const [put, health] = await Promise.all([putBig(url, auth, body), fetch(`${server.baseUrl}/-/health`)]);
    expect(health.status, '/-/health during the upload').to.equal(200);
    expect(put.status, put.text).to.equal(201);
    const got = await getHash(url);
    const seconds = (Date.now() - started) / 1000;
    expect(got.status).to.equal(200);
    expect(got.length).to.equal(BIG);
    expect(got.sha256).to.equal(sha256(body));
    expect(got.declared).to.equal(sha256(body));
    expect((await fetch(`${server.baseUrl}/-/health`)).status, '/-/health after the transfer').to.equal(200);
    // A moving upload is never cut: every slow body is still open.
    expect(open(slowBodies), 'slow-body connections open after the transfer').to.equal(SLOW_BODIES);
    console.log(
      `      20 MiB PUT + GET in ${seconds.toFixed(2)} s; open at start: idle ${openAtStart.idle}/${IDLE}, slow headers ${openAtStart.slowHeaders}/${SLOW_HEADERS}, slow bodies ${openAtStart.slowBodies}/${SLOW_BODIES}; ` +
        `at the end: idle ${open(idle)}, slow headers ${open(slowHeaders)}, slow bodies ${open(slowBodies)}`,
    );
    expect(server.child.exitCode).to.equal(null);
  });

  it(`the slow-header connections get 408 and are closed once HEADERS_TIMEOUT (${HEADERS_TIMEOUT_S} s) has passed; the slow bodies are not cut`, async () => {
    // Node checks the header deadline every HEADERS_TIMEOUT seconds (at most 5): a connection
    // goes between one and two periods after it started, plus scheduling slack.
    const limitMs = 2 * HEADERS_TIMEOUT_S * 1000 + 4000;
    const lastOpened = Math.max(...slowHeaders.map((h) => h.openedAt));
    await waitFor(() => open(slowHeaders) === 0, lastOpened + limitMs - Date.now());
    const wrong: string[] = [];
    const lifetimes: number[] = [];
    for (const [i, h] of slowHeaders.entries()) {
      const lived = (h.closedAt ?? Date.now()) - h.openedAt;
      lifetimes.push(lived);
      if (h.closedAt === null) wrong.push(`#${i}: still open after ${lived} ms (sent ${h.sent} header bytes)`);
      else if (lived < HEADERS_TIMEOUT_S * 1000 - 100) wrong.push(`#${i}: closed after ${lived} ms, before the header timeout`);
      else if (!/^HTTP\/1\.1 408 /.test(h.answer)) wrong.push(`#${i}: closed after ${lived} ms with ${JSON.stringify(h.answer.slice(0, 80))} instead of a 408`);
    }
    lifetimes.sort((a, b) => a - b);
    console.log(
      `      slow headers: ${slowHeaders.filter((h) => /^HTTP\/1\.1 408 /.test(h.answer)).length}/${SLOW_HEADERS} got 408, closed after ${lifetimes[0]}..${lifetimes[lifetimes.length - 1]} ms; ` +
        `idle connections closed by the server so far: ${IDLE - open(idle)}/${IDLE} (${idle.filter((h) => /^HTTP\/1\.1 408 /.test(h.answer)).length} with a 408)`,
    );
    expect(wrong, wrong.slice(0, 10).join('\n')).to.deep.equal([]);
    // Headers complete, body moving: the header timeout does not apply, nor does the idle one.
    expect(open(slowBodies), 'slow-body connections still open').to.equal(SLOW_BODIES);
    expect(slowBodies.every((h) => h.answer === ''), 'no slow-body PUT was answered before its body was complete').to.equal(true);
    expect(server.child.exitCode).to.equal(null);
  });

  it('once every client has gone the server serves normally, and the cut uploads left nothing behind', async () => {
    for (const h of all()) {
      if (h.timer) clearInterval(h.timer);
      h.timer = null;
      h.socket.destroy();
    }
    const incoming = path.join(dataDir, 'artifacts', '.incoming');
    expect(await waitFor(async () => (await readdir(incoming)).length === 0, 10_000), `.incoming still holds ${(await readdir(incoming)).length} files`).to.equal(true);
    for (let i = 0; i < SLOW_BODIES; i++) expect(existsSync(path.join(dataDir, 'artifacts', 'conn', 'p', '1', 'slow', `body-${i}.bin`)), `slow/body-${i}.bin`).to.equal(false);
    expect((await fetch(`${server.baseUrl}/-/health`)).status).to.equal(200);
    const body = randomBytes(64 * 1024);
    const url = `${server.baseUrl}/conn/p/1/after.bin`;
    const put = await fetch(url, { method: 'PUT', headers: { Authorization: auth }, body });
    expect(put.status, await put.text()).to.equal(201);
    const got = await fetch(url);
    expect(got.status).to.equal(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).to.equal(true);
    expect(server.child.exitCode).to.equal(null);
  });
});
