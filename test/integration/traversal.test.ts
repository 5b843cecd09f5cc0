// Path traversal corpus, over real sockets: every way of naming a place outside the artifact
// tree (or outside the token's scope) is refused with a 4xx, never answered with content,
// never a 5xx, never leaks a server path or a secret, and never changes a file outside
// ARTIFACTS_DIR. Requests go out byte-for-byte (node:http with a raw path, node:net for what
// node:http would refuse to send), because fetch/URL normalise `..` and some escapes.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { basic, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { send, snapshot } from '../helpers/raw-http.js';
import { frontWithNginx, type RunningNginx } from '../helpers/nginx.js';
import { replicaMode } from '../helpers/replicas.js';

// ---------------------------------------------------------------------------------------
// Raw HTTP helpers

function sendBytes(port: number, bytes: Buffer): Promise<{ status: number; head: string; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const headEnd = text.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, head: headEnd === -1 ? text : text.slice(0, headEnd), text });
    };
    socket.setTimeout(15_000, () => {
      socket.destroy();
      finish();
    });
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err) => {
      if (chunks.length > 0) finish();
      else if (!done) {
        done = true;
        reject(err);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// File system helpers

async function allFileContents(root: string): Promise<{ rel: string; text: string }[]> {
  const out: { rel: string; text: string }[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      const st = await lstat(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isFile()) out.push({ rel: path.relative(root, full), text: (await readFile(full)).toString('latin1') });
    }
  }
  await walk(root);
  return out;
}

// ---------------------------------------------------------------------------------------
// The corpus

const SENTINEL = 'sentinel.txt';
/** A name that must never appear anywhere: creation attempts use it. */
const MARKER = `pwned-${randomBytes(6).toString('hex')}`;
const PWNED_BODY = `PWNED-${randomBytes(6).toString('hex')}`;
const REAL_PASSWD_LINE = 'root:x:0:0:';

interface PathCase {
  label: string;
  /** `{F}` is the file aimed at; `{DATA}` the server's data directory (a server file system path). */
  raw: string;
}

function c(raw: string, label?: string): PathCase {
  return { raw, label: label ?? raw };
}

/** Paths that must be refused with a 4xx by every method. */
const CORPUS: PathCase[] = [
  // plain dot-dot
  c('/dpkg/hello/42/../../../../{F}'),
  c('/dpkg/hello/42/../../../../../../../../../../../../{F}'),
  c('/../../{F}'),
  c('/..'),
  c('/../'),
  c('/dpkg/hello/42/..'),
  c('/dpkg/hello/42/../'),
  c('/dpkg/hello/42/../../../../tokens/tokens.json'),
  c('/dpkg/hello/42/./../../../../{F}'),
  c('/dpkg/hello/42//../../../{F}'),
  // leaving the scope but staying in the tree
  c('/dpkg/hello/42/../43/neighbour.txt'),
  c('/dpkg/hello/42/%2e%2e/43/neighbour.txt'),
  c('/dpkg/hello/42/..%2f43%2fneighbour.txt'),
  c('/dpkg/hello/42/../../hello/43/neighbour.txt'),
  // encoded dots
  c('/dpkg/hello/42/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{F}'),
  c('/dpkg/hello/42/%2E%2E/%2E%2E/%2E%2E/%2E%2E/{F}'),
  c('/dpkg/hello/42/.%2e/.%2e/.%2e/.%2e/{F}'),
  c('/dpkg/hello/42/%2e./%2E./%2e./%2E./{F}'),
  c('/dpkg/hello/42/%2e%2e/%2e%2e/%2e%2e/%2e%2e/tokens/tokens.json'),
  c('/%2e%2e/%2e%2e/{F}'),
  c('/dpkg/hello/42/%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{F}'),
  // encoded slashes
  c('/dpkg/hello/42/..%2f..%2f..%2f..%2f{F}'),
  c('/dpkg/hello/42/..%2F..%2F..%2F..%2F{F}'),
  c('/dpkg/hello/42/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f{F}'),
  c('/dpkg%2fhello%2f42%2f..%2f..%2f..%2f..%2f{F}'),
  c('/dpkg/hello/42/%2f..%2f..%2f..%2f..%2f{F}'),
  // backslashes, encoded and raw
  c('/dpkg/hello/42/..%5c..%5c..%5c..%5c{F}'),
  c('/dpkg/hello/42/..%5C..%5C..%5C..%5C{F}'),
  c('/dpkg/hello/42/%2e%2e%5c%2e%2e%5c%2e%2e%5c%2e%2e%5c{F}'),
  c('/dpkg/hello/42/..\\..\\..\\..\\{F}'),
  c('/dpkg/hello/42/\\..\\..\\..\\..\\{F}'),
  c('/dpkg\\..\\..\\{F}'),
  // double encoding aimed at the tree levels (refused whatever the decoding)
  c('/%252e%252e/%252e%252e/%252e%252e/%252e%252e/{F}'),
  c('/dpkg/hello/%252e%252e/%252e%252e/%252e%252e/{F}'),
  c('/dpkg/hello/42%252f%252e%252e%252f%252e%252e%252f%252e%252e%252f%252e%252e%252f{F}'),
  c('/dpkg/%252e%252e%252f%252e%252e%252f/42/{F}'),
  c('/%25%32%65%25%32%65/%25%32%65%25%32%65/{F}'),
  // NUL and other control characters
  c('/dpkg/hello/42/%00/../../../../{F}'),
  c('/dpkg/hello/42/%2e%2e%00/%2e%2e%00/%2e%2e%00/%2e%2e%00/{F}'),
  c('/dpkg/hello/42/..%00/..%00/..%00/..%00/{F}'),
  c('/dpkg/hello/42/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f{F}%00.png'),
  c('/dpkg/hello/42/{F}%00'),
  c('/dpkg/hello/42/%0d%0a/../../../../{F}'),
  // overlong
  c('/dpkg/hello/42/' + 'a'.repeat(300), '300-byte segment below the build'),
  c('/dpkg/hello/42/' + 'a'.repeat(300) + '/../../../../../{F}', '300-byte segment, then ../ x5'),
  c('/dpkg/hello/' + 'b'.repeat(300) + '/{F}', '300-byte build segment'),
  c('/dpkg/hello/42/' + ('c'.repeat(99) + '/').repeat(50) + '{F}', '5000-byte path'),
  c('/dpkg/hello/42/' + '../'.repeat(1700) + '{F}', '5100-byte path of ../'),
  c('/dpkg/hello/42/' + '%2e%2e%2f'.repeat(560) + '{F}', '5000-byte path of %2e%2e%2f'),
  // invalid UTF-8: overlong encodings of "." "/" "\"
  c('/dpkg/hello/42/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/{F}'),
  c('/dpkg/hello/42/%C0%AE%C0%AE/%C0%AE%C0%AE/%C0%AE%C0%AE/%C0%AE%C0%AE/{F}'),
  c('/dpkg/hello/42/..%c0%af..%c0%af..%c0%af..%c0%af{F}'),
  c('/dpkg/hello/42/..%c1%9c..%c1%9c..%c1%9c..%c1%9c{F}'),
  c('/dpkg/hello/42/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/{F}'),
  c('/dpkg/hello/42/%f0%80%80%ae%f0%80%80%ae/%f0%80%80%ae%f0%80%80%ae/%f0%80%80%ae%f0%80%80%ae/%f0%80%80%ae%f0%80%80%ae/{F}'),
  c('/%c0%ae%c0%ae/%c0%ae%c0%ae/{F}'),
  c('/dpkg/hello/42/%zz/../../../../{F}'),
  // mixed
  c('/dpkg/hello/42/a/../../../../etc/passwd'),
  c('/dpkg/hello/42/a/../../../../../etc/passwd'),
  c('/dpkg/hello/42/' + '../'.repeat(16) + 'etc/passwd'),
  c('/dpkg/hello/42/a/./b/%2e%2e/..%2f..%5c../../../{F}'),
  c('/dpkg/hello/42/a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{F}'),
  c('/dpkg/hello/42/a/b/c/../../../../../../../{F}'),
  // the service's own storage inside ARTIFACTS_DIR
  c('/.meta/dpkg/hello/42/{F}'),
  c('/.incoming/{F}'),
  c('/dpkg/hello/42/../../../.meta/dpkg/hello/42/{F}'),
  // server file system paths as URLs
  c('{DATA}/{F}'),
  c('{DATA}/tokens/tokens.json'),
  c('{DATA}/artifacts/../{F}'),
  // through the service prefix
  c('/-/../{F}'),
  c('/-/%2e%2e/%2e%2e/{F}'),
  c('/-/health/../../../{F}'),
  c('/-/tokens/..%2f..%2ftokens%2ftokens.json'),
  c('/-/..%2f..%2f{F}'),
];

interface Ctx {
  server: TestServer;
  port: number;
  origin: string;
  dataDir: string;
  artifactsDir: string;
  token: MintedToken;
  auth: string;
  sentinelContent: string;
  passwdContent: string;
  neighbourContent: string;
  neighbourPath: string;
  outside: Record<string, string>;
}

function fill(raw: string, ctx: Ctx, file: string): string {
  return raw.replaceAll('{DATA}', ctx.dataDir).replaceAll('{F}', file);
}

function short(s: string): string {
  return s.length > 160 ? `${s.slice(0, 120)}...(${s.length} chars)` : s;
}

async function outsideSnapshot(ctx: Ctx): Promise<Record<string, string>> {
  // The audit trail grows by design (a token's first use, writes inside its scope).
  return snapshot(ctx.dataDir, ['artifacts', 'tokens/audit.jsonl']);
}

async function artifactsSnapshot(ctx: Ctx): Promise<Record<string, string>> {
  // .incoming holds uploads in flight only; it must be empty again once a request is answered.
  return snapshot(ctx.artifactsDir);
}

/** What every answer to the corpus must satisfy. */
function expectSafeRefusal(ctx: Ctx, what: string, status: number, text: string): void {
  expect(status, `${what}: expected a 4xx, got ${status}: ${short(text)}`).to.be.within(400, 499);
  const leaks: [string, string][] = [
    [ctx.sentinelContent, 'sentinel content'],
    [ctx.passwdContent, 'dataDir/etc/passwd content'],
    [ctx.neighbourContent, "another build's file content"],
    [REAL_PASSWD_LINE, '/etc/passwd content'],
    ['"hash"', 'the token store ("hash")'],
    ['$argon2', 'an argon2 hash'],
    [ctx.dataDir, 'the server data directory path'],
    ['/artifacts/', 'a server path'],
    ['at async ', 'a stack trace'],
  ];
  for (const [needle, name] of leaks) {
    expect(text.includes(needle), `${what}: answer (${status}) carries ${name}: ${short(text)}`).to.equal(false);
  }
}

/** Nothing outside ARTIFACTS_DIR changed, the protected files are intact, the server lives. */
async function expectNothingEscaped(ctx: Ctx, what: string): Promise<void> {
  expect(await readFile(path.join(ctx.dataDir, SENTINEL), 'utf8'), `${what}: sentinel changed`).to.equal(ctx.sentinelContent);
  expect(await readFile(path.join(ctx.dataDir, 'etc', 'passwd'), 'utf8'), `${what}: dataDir/etc/passwd changed`).to.equal(ctx.passwdContent);
  expect(await readFile(ctx.neighbourPath, 'utf8'), `${what}: the neighbouring build's file changed`).to.equal(ctx.neighbourContent);
  expect(await outsideSnapshot(ctx), `${what}: files outside ARTIFACTS_DIR changed`).to.deep.equal(ctx.outside);
  for (const dir of [path.dirname(ctx.dataDir), '/']) {
    expect(existsSync(path.join(dir, MARKER)), `${what}: created ${path.join(dir, MARKER)}`).to.equal(false);
  }
  const health = await send(ctx.port, 'GET', '/-/health');
  expect(health.status, `${what}: GET /-/health afterwards`).to.equal(200);
}

async function ensureSource(ctx: Ctx): Promise<void> {
  if (existsSync(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'src.txt'))) return;
  const r = await send(ctx.port, 'PUT', '/dpkg/hello/42/src.txt', { Authorization: ctx.auth }, 'source file\n');
  expect(r.status, 'restoring /dpkg/hello/42/src.txt').to.be.oneOf([201, 204]);
}

interface MethodSpec {
  label: string;
  method: string;
  file: string;
  auth: boolean;
  body?: string;
  headers?: (ctx: Ctx) => OutgoingHttpHeaders;
}

const PATH_METHODS: MethodSpec[] = [
  { label: 'GET', method: 'GET', file: SENTINEL, auth: false },
  { label: 'HEAD', method: 'HEAD', file: SENTINEL, auth: false },
  { label: 'PROPFIND', method: 'PROPFIND', file: SENTINEL, auth: false, headers: () => ({ Depth: '1' }) },
  { label: 'PUT (overwrite)', method: 'PUT', file: SENTINEL, auth: true, body: PWNED_BODY },
  { label: 'PUT (create)', method: 'PUT', file: MARKER, auth: true, body: PWNED_BODY },
  { label: 'MKCOL', method: 'MKCOL', file: MARKER, auth: true },
  { label: 'DELETE', method: 'DELETE', file: SENTINEL, auth: true },
  { label: 'COPY', method: 'COPY', file: SENTINEL, auth: true, headers: (ctx) => ({ Destination: `${ctx.origin}/dpkg/hello/42/stolen.txt`, Overwrite: 'T' }) },
  { label: 'MOVE', method: 'MOVE', file: SENTINEL, auth: true, headers: (ctx) => ({ Destination: `${ctx.origin}/dpkg/hello/42/stolen.txt`, Overwrite: 'T' }) },
];

/** Destination values that are not in the path corpus: other hosts and odd URL forms. */
const DESTINATION_EXTRAS: { label: string; value: string; status?: number }[] = [
  { label: 'other host', value: 'http://evil.example/dpkg/hello/42/{F}', status: 403 },
  { label: 'other host, https', value: 'https://evil.example/dpkg/hello/42/{F}', status: 403 },
  { label: 'same address, other port', value: 'http://127.0.0.1:1/dpkg/hello/42/{F}', status: 403 },
  { label: 'host with our address as a prefix', value: 'http://127.0.0.1.evil.example:{PORT}/dpkg/hello/42/{F}', status: 403 },
  { label: 'other host with dot-dot', value: 'http://evil.example/dpkg/hello/42/../../../../{F}' },
  { label: 'userinfo pointing elsewhere', value: 'http://127.0.0.1:{PORT}@evil.example/dpkg/hello/42/{F}' },
  { label: 'userinfo before our host', value: 'http://evil.example@127.0.0.1:{PORT}/dpkg/hello/42/{F}' },
  { label: 'scheme-relative', value: '//evil.example/dpkg/hello/42/{F}' },
  { label: 'file URL', value: 'file://{DATA}/{F}' },
  { label: 'UNC path', value: '\\\\evil.example\\share\\{F}' },
  { label: 'our origin, no path', value: '{ORIGIN}' },
  { label: 'our origin, root', value: '{ORIGIN}/' },
  { label: 'upper-case scheme with dot-dot', value: 'HTTP://127.0.0.1:{PORT}/dpkg/hello/42/../../../../{F}' },
  { label: 'relative path with dot-dot', value: 'dpkg/hello/42/../../../../{F}' },
  { label: 'bare dot-dot', value: '../../../../{F}' },
  { label: 'fragment hiding dot-dot in a path', value: '/dpkg/hello/42/x#/../../../../{F}' },
  { label: 'service prefix', value: '{ORIGIN}/-/tokens' },
];

function fillDestination(value: string, ctx: Ctx, file: string): string {
  return fill(value, ctx, file).replaceAll('{ORIGIN}', ctx.origin).replaceAll('{PORT}', String(ctx.port));
}

// Against the app, and through the shipped nginx in front of it (which must refuse, or
// pass to the app, whatever the app refuses).
const VIA = { app: '', nginx: ', through nginx', replicas: ', three replicas behind nginx' } as const;
for (const via of ['app', 'nginx', 'replicas'] as const) describe(`path traversal corpus (real sockets${VIA[via]})`, function () {
  this.timeout(30_000);
  const ctx = {} as Ctx;
  let front: RunningNginx | null = null;
  let teardown: (() => Promise<void>) | null = null;

  before(async function () {
    this.timeout(60_000);
    let server: TestServer;
    if (via === 'replicas') {
      this.timeout(120_000);
      const replicas = await replicaMode(this);
      teardown = replicas.teardown;
      server = await replicas.start();
    } else server = await startServer();
    ctx.server = server;
    ctx.port = server.port;
    ctx.origin = server.baseUrl;
    if (via === 'nginx') {
      front = await frontWithNginx(this, server);
      ctx.port = front.port;
      ctx.origin = front.baseUrl;
    }
    ctx.dataDir = server.dataDir;
    ctx.artifactsDir = server.artifactsDir;
    expect(path.dirname(server.artifactsDir), 'the harness keeps artifacts/ directly in dataDir').to.equal(server.dataDir);
    ctx.sentinelContent = `SENTINEL-${randomBytes(16).toString('hex')}-must-never-be-served`;
    ctx.passwdContent = `PASSWD-SENTINEL-${randomBytes(16).toString('hex')}`;
    ctx.neighbourContent = `NEIGHBOUR-${randomBytes(16).toString('hex')}`;
    await writeFile(path.join(ctx.dataDir, SENTINEL), ctx.sentinelContent);
    await mkdir(path.join(ctx.dataDir, 'etc'));
    await writeFile(path.join(ctx.dataDir, 'etc', 'passwd'), ctx.passwdContent);
    // A file of another build (dpkg/hello/43), for dot-dot that leaves the scope but not the tree.
    const neighbour = await server.mint('dpkg', 'hello', '43');
    const put43 = await send(ctx.port, 'PUT', '/dpkg/hello/43/neighbour.txt', { Authorization: basic(neighbour.username, neighbour.password) }, ctx.neighbourContent);
    expect(put43.status).to.equal(201);
    ctx.neighbourPath = path.join(ctx.artifactsDir, 'dpkg', 'hello', '43', 'neighbour.txt');
    ctx.token = await server.mint('dpkg', 'hello', '42');
    ctx.auth = basic(ctx.token.username, ctx.token.password);
    const src = await send(ctx.port, 'PUT', '/dpkg/hello/42/src.txt', { Authorization: ctx.auth }, 'source file\n');
    expect(src.status).to.equal(201);
    ctx.outside = await outsideSnapshot(ctx);
    expect(Object.keys(ctx.outside)).to.include.members([SENTINEL, 'etc', path.join('etc', 'passwd')]);
    // Embedded, the token store is a file beside the tree, which must not change either.
    if (via !== 'replicas') {
      expect(existsSync(path.join(ctx.server.tokensDir, 'tokens.json')), 'token store file exists').to.equal(true);
      expect(Object.keys(ctx.outside)).to.include.members(['tokens', path.join('tokens', 'tokens.json')]);
    }
  });

  after(async () => {
    await front?.stop();
    await ctx.server?.close();
    await teardown?.();
  });

  describe('request paths', () => {
    for (const pathCase of CORPUS) {
      for (const spec of PATH_METHODS) {
        it(`${spec.label} ${short(pathCase.label)} -> 4xx, nothing leaks or escapes`, async () => {
          await ensureSource(ctx);
          const rawPath = fill(pathCase.raw, ctx, spec.file);
          const headers: OutgoingHttpHeaders = { ...(spec.headers?.(ctx) ?? {}) };
          if (spec.auth) headers.Authorization = ctx.auth;
          const what = `${spec.method} ${short(rawPath)}`;
          const before = await artifactsSnapshot(ctx);
          const reply = await send(ctx.port, spec.method, rawPath, headers, spec.body);
          expectSafeRefusal(ctx, what, reply.status, reply.body + '\n' + JSON.stringify(reply.headers));
          expect(await artifactsSnapshot(ctx), `${what}: a refused request changed ARTIFACTS_DIR`).to.deep.equal(before);
          await expectNothingEscaped(ctx, what);
        });
      }
    }
  });

  describe('Destination header of COPY and MOVE', () => {
    const destinations: { label: string; value: string; status?: number }[] = [];
    for (const pathCase of CORPUS) {
      destinations.push({ label: `absolute path ${pathCase.label}`, value: pathCase.raw });
      destinations.push({ label: `absolute URL {ORIGIN}${pathCase.label}`, value: '{ORIGIN}' + pathCase.raw });
    }
    destinations.push(...DESTINATION_EXTRAS);
    for (const dest of destinations) {
      // COPY tries to create a new file, MOVE to replace (and so destroy) the sentinel.
      for (const [method, file] of [
        ['COPY', MARKER],
        ['MOVE', SENTINEL],
      ] as const) {
        const expected = dest.status ? String(dest.status) : '4xx';
        it(`${method} with Destination: ${short(dest.label)} -> ${expected}`, async () => {
          await ensureSource(ctx);
          const value = fillDestination(dest.value, ctx, file);
          const what = `${method} /dpkg/hello/42/src.txt with Destination: ${short(value)}`;
          const before = await artifactsSnapshot(ctx);
          const reply = await send(ctx.port, method, '/dpkg/hello/42/src.txt', { Authorization: ctx.auth, Destination: value, Overwrite: 'T' });
          expectSafeRefusal(ctx, what, reply.status, reply.body + '\n' + JSON.stringify(reply.headers));
          if (dest.status) expect(reply.status, `${what}: ${reply.body}`).to.equal(dest.status);
          expect(await artifactsSnapshot(ctx), `${what}: a refused request changed ARTIFACTS_DIR`).to.deep.equal(before);
          await expectNothingEscaped(ctx, what);
        });
      }
    }
  });

  describe('bytes that node:http would not send (raw sockets)', () => {
    type RawCase = { label: string; bytes: (ctx: Ctx) => Buffer };
    const line = (ctx: Ctx, requestLine: Buffer | string, headers: string[] = [], body = ''): Buffer =>
      Buffer.concat([
        Buffer.isBuffer(requestLine) ? requestLine : Buffer.from(requestLine, 'latin1'),
        Buffer.from(
          '\r\n' +
            [`Host: 127.0.0.1:${ctx.port}`, 'Connection: close', ...headers, ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : [])].join('\r\n') +
            '\r\n\r\n' +
            body,
          'latin1',
        ),
      ]);
    const authH = (ctx: Ctx): string => `Authorization: ${ctx.auth}`;
    const RAW: RawCase[] = [
      { label: 'GET with raw backslashes', bytes: (x) => line(x, 'GET /dpkg/hello/42/..\\..\\..\\..\\sentinel.txt HTTP/1.1') },
      { label: 'GET with a raw NUL byte', bytes: (x) => line(x, 'GET /dpkg/hello/42/\0/../../../../sentinel.txt HTTP/1.1') },
      { label: 'GET with a raw NUL before an extension', bytes: (x) => line(x, 'GET /dpkg/hello/42/../../../../sentinel.txt\0.png HTTP/1.1') },
      { label: 'GET with raw spaces', bytes: (x) => line(x, 'GET /dpkg/hello/42/a b/../../../../sentinel.txt HTTP/1.1') },
      { label: 'GET with raw spaces after dot-dot', bytes: (x) => line(x, 'GET /dpkg/hello/42/.. /.. /.. /.. /sentinel.txt HTTP/1.1') },
      { label: 'GET with a raw tab', bytes: (x) => line(x, 'GET /dpkg/hello/42/\t../../../../sentinel.txt HTTP/1.1') },
      { label: 'GET with a raw CR in the target', bytes: (x) => line(x, 'GET /dpkg/hello/42/\r../../../../sentinel.txt HTTP/1.1') },
      { label: 'GET with a relative target', bytes: (x) => line(x, 'GET ../../../../sentinel.txt HTTP/1.1') },
      { label: 'GET with an absolute-form target and dot-dot', bytes: (x) => line(x, `GET http://127.0.0.1:${x.port}/dpkg/hello/42/../../../../sentinel.txt HTTP/1.1`) },
      {
        label: 'GET with raw overlong UTF-8 dot-dot bytes',
        bytes: (x) => line(x, Buffer.concat([Buffer.from('GET /dpkg/hello/42/'), Buffer.from('c0aec0ae2fc0aec0ae2fc0aec0ae2fc0aec0ae2f', 'hex'), Buffer.from('sentinel.txt HTTP/1.1')])),
      },
      { label: 'HEAD with raw backslashes', bytes: (x) => line(x, 'HEAD /dpkg/hello/42/..\\..\\..\\..\\sentinel.txt HTTP/1.1') },
      { label: 'PROPFIND with a raw NUL byte', bytes: (x) => line(x, 'PROPFIND /dpkg/hello/42/\0/../../../../ HTTP/1.1', ['Depth: 1']) },
      { label: 'PUT with raw backslashes', bytes: (x) => line(x, 'PUT /dpkg/hello/42/..\\..\\..\\..\\sentinel.txt HTTP/1.1', [authH(x)], PWNED_BODY) },
      { label: 'PUT with a raw NUL byte', bytes: (x) => line(x, 'PUT /dpkg/hello/42/\0/../../../../sentinel.txt HTTP/1.1', [authH(x)], PWNED_BODY) },
      { label: 'PUT with raw spaces', bytes: (x) => line(x, `PUT /dpkg/hello/42/a b/../../../../${MARKER} HTTP/1.1`, [authH(x)], PWNED_BODY) },
      { label: 'MKCOL with raw backslashes', bytes: (x) => line(x, `MKCOL /dpkg/hello/42/..\\..\\..\\..\\${MARKER} HTTP/1.1`, [authH(x)]) },
      { label: 'DELETE with raw backslashes', bytes: (x) => line(x, 'DELETE /dpkg/hello/42/..\\..\\..\\..\\sentinel.txt HTTP/1.1', [authH(x)]) },
      { label: 'DELETE with a raw NUL byte', bytes: (x) => line(x, 'DELETE /dpkg/hello/42/\0/../../../../sentinel.txt HTTP/1.1', [authH(x)]) },
      { label: 'COPY with a raw NUL in Destination', bytes: (x) => line(x, 'COPY /dpkg/hello/42/src.txt HTTP/1.1', [authH(x), `Destination: /dpkg/hello/42/\0/../../../../${MARKER}`, 'Overwrite: T']) },
      { label: 'MOVE with raw backslashes in Destination', bytes: (x) => line(x, 'MOVE /dpkg/hello/42/src.txt HTTP/1.1', [authH(x), 'Destination: /dpkg/hello/42/..\\..\\..\\..\\sentinel.txt', 'Overwrite: T']) },
      { label: 'MOVE with raw spaces in Destination URL', bytes: (x) => line(x, 'MOVE /dpkg/hello/42/src.txt HTTP/1.1', [authH(x), `Destination: ${x.origin}/dpkg/hello/42/a b/../../../../sentinel.txt`, 'Overwrite: T']) },
      { label: 'COPY with a raw tab in Destination', bytes: (x) => line(x, 'COPY /dpkg/hello/42/src.txt HTTP/1.1', [authH(x), `Destination: /dpkg/hello/42/..\t/../../../${MARKER}`, 'Overwrite: T']) },
    ];
    for (const rawCase of RAW) {
      it(`${rawCase.label} -> 4xx, nothing leaks or escapes`, async () => {
        await ensureSource(ctx);
        const before = await artifactsSnapshot(ctx);
        const bytes = rawCase.bytes(ctx);
        const what = `raw ${JSON.stringify(short(bytes.toString('latin1').split('\r\n')[0] ?? ''))}`;
        const reply = await sendBytes(ctx.port, bytes);
        expectSafeRefusal(ctx, what, reply.status, reply.text);
        expect(await artifactsSnapshot(ctx), `${what}: a refused request changed ARTIFACTS_DIR`).to.deep.equal(before);
        await expectNothingEscaped(ctx, what);
      });
    }
  });

  describe('names that only look like traversal are decoded exactly once', () => {
    // Below the build level any name may be stored (the interface constrains only type, project
    // and build). These are refused with a 4xx, or stored literally inside the scope, with
    // exactly one round of percent-decoding: never interpreted as dot-dot or a separator.
    const LITERALS: { label: string; raw: string; segments: string[] }[] = [
      { label: 'double-encoded dot-dot', raw: '/dpkg/hello/42/%252e%252e/%252e%252e/%252e%252e/%252e%252e/lit1.txt', segments: ['%2e%2e', '%2e%2e', '%2e%2e', '%2e%2e', 'lit1.txt'] },
      { label: 'double-encoded upper-case dot-dot', raw: '/dpkg/hello/42/%252E%252E/%252E%252E/%252E%252E/%252E%252E/lit2.txt', segments: ['%2E%2E', '%2E%2E', '%2E%2E', '%2E%2E', 'lit2.txt'] },
      { label: 'double-encoded slash', raw: '/dpkg/hello/42/..%252f..%252f..%252f..%252flit3.txt', segments: ['..%2f..%2f..%2f..%2flit3.txt'] },
      { label: 'double-encoded backslash', raw: '/dpkg/hello/42/..%255c..%255c..%255c..%255clit4.txt', segments: ['..%5c..%5c..%5c..%5clit4.txt'] },
      { label: 'double-encoded NUL', raw: '/dpkg/hello/42/lit5.txt%2500.png', segments: ['lit5.txt%00.png'] },
      { label: 'fullwidth full stops', raw: '/dpkg/hello/42/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/lit6.txt', segments: ['\uFF0E\uFF0E', '\uFF0E\uFF0E', 'lit6.txt'] },
      { label: 'one-dot leaders', raw: '/dpkg/hello/42/%E2%80%A4%E2%80%A4/lit7.txt', segments: ['\u2024\u2024', 'lit7.txt'] },
      { label: 'division slash', raw: '/dpkg/hello/42/..%E2%88%95..%E2%88%95lit8.txt', segments: ['..\u2215..\u2215lit8.txt'] },
      { label: 'fullwidth reverse solidus', raw: '/dpkg/hello/42/..%EF%BC%BC..%EF%BC%BClit9.txt', segments: ['..\uFF3C..\uFF3Clit9.txt'] },
      { label: 'Tomcat-style ..;', raw: '/dpkg/hello/42/..;/..;/..;/..;/lit10.txt', segments: ['..;', '..;', '..;', '..;', 'lit10.txt'] },
      { label: 'three dots', raw: '/dpkg/hello/42/.../.../lit11.txt', segments: ['...', '...', 'lit11.txt'] },
    ];
    for (const lit of LITERALS) {
      it(`${lit.label}: GET before it exists -> 404; PUT -> 201 stored literally in scope (or 4xx)`, async () => {
        const what = `${lit.raw}`;
        const get = await send(ctx.port, 'GET', lit.raw);
        expectSafeRefusal(ctx, `GET ${what}`, get.status, get.body);
        const content = `literal-${randomBytes(8).toString('hex')}`;
        const before = await artifactsSnapshot(ctx);
        const put = await send(ctx.port, 'PUT', lit.raw, { Authorization: ctx.auth }, content);
        if (put.status >= 400 && put.status < 500) {
          expectSafeRefusal(ctx, `PUT ${what}`, put.status, put.body);
          expect(await artifactsSnapshot(ctx), `PUT ${what}: refused but ARTIFACTS_DIR changed`).to.deep.equal(before);
        } else {
          expect(put.status, `PUT ${what}: ${put.body}`).to.equal(201);
          const onDisk = path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', ...lit.segments);
          expect(await readFile(onDisk, 'utf8'), `PUT ${what}: not stored at the once-decoded name`).to.equal(content);
          const after = await artifactsSnapshot(ctx);
          // The service's own hidden folders (.meta, .index) record every write; they are never served.
          const added = Object.keys(after).filter((k) => !(k in before) && !k.startsWith('.meta') && !k.startsWith('.index'));
          for (const rel of added) {
            expect(rel.startsWith(path.join('dpkg', 'hello', '42') + path.sep), `PUT ${what}: created ${rel} outside the scope`).to.equal(true);
          }
          const back = await send(ctx.port, 'GET', lit.raw);
          expect(back.status, `GET ${what} after PUT`).to.equal(200);
          expect(back.body).to.equal(content);
        }
        await expectNothingEscaped(ctx, `PUT ${what}`);
      });
    }

    it('dot-dot that stays inside the scope is normalised or refused with 400, never applied elsewhere', async () => {
      const before = await artifactsSnapshot(ctx);
      const put = await send(ctx.port, 'PUT', '/dpkg/hello/42/sub/../inscope.txt', { Authorization: ctx.auth }, 'inscope');
      const onDisk = path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'inscope.txt');
      if (put.status === 400) {
        expect(await artifactsSnapshot(ctx)).to.deep.equal(before);
      } else {
        expect(put.status, `PUT /dpkg/hello/42/sub/../inscope.txt: ${put.body}`).to.equal(201);
        expect(await readFile(onDisk, 'utf8')).to.equal('inscope');
      }
      const get = await send(ctx.port, 'GET', '/dpkg/hello/42/sub/../src.txt');
      expect(get.status, `GET /dpkg/hello/42/sub/../src.txt: ${get.body}`).to.be.oneOf([200, 400]);
      await expectNothingEscaped(ctx, 'in-scope dot-dot');
    });
  });

  describe('valid unicode names below the build level work', () => {
    const DIR = '/dpkg/hello/42/%C3%A9t%C3%A9/';
    const FILE = `${DIR}%E2%9C%93-%F0%9F%93%A6.txt`;
    const CONTENT = 'unicode payload \u2713\n';

    it('PUT creates the file under its decoded UTF-8 name', async () => {
      const put = await send(ctx.port, 'PUT', FILE, { Authorization: ctx.auth }, CONTENT);
      expect(put.status, put.body).to.equal(201);
      expect(await readFile(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'été', '✓-📦.txt'), 'utf8')).to.equal(CONTENT);
    });

    it('GET and HEAD serve it; the lower-case escape names the same file', async () => {
      const get = await send(ctx.port, 'GET', FILE);
      expect(get.status).to.equal(200);
      expect(get.body).to.equal(CONTENT);
      const head = await send(ctx.port, 'HEAD', FILE);
      expect(head.status).to.equal(200);
      expect(head.headers['content-length']).to.equal(String(Buffer.byteLength(CONTENT)));
      const lower = await send(ctx.port, 'GET', FILE.toLowerCase());
      expect(lower.status).to.equal(200);
      expect(lower.body).to.equal(CONTENT);
    });

    it('PROPFIND lists it with a percent-encoded href', async () => {
      const reply = await send(ctx.port, 'PROPFIND', DIR, { Depth: '1' });
      expect(reply.status).to.equal(207);
      expect(reply.body.toUpperCase()).to.include('%E2%9C%93-%F0%9F%93%A6.TXT');
    });

    it('MKCOL, COPY and MOVE work with unicode names and Destinations', async () => {
      const mk = await send(ctx.port, 'MKCOL', '/dpkg/hello/42/%CE%B1%CE%B2%CE%B3/', { Authorization: ctx.auth });
      expect(mk.status, mk.body).to.equal(201);
      expect((await lstat(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'αβγ'))).isDirectory()).to.equal(true);
      const copy = await send(ctx.port, 'COPY', FILE, { Authorization: ctx.auth, Destination: '/dpkg/hello/42/%CE%B1%CE%B2%CE%B3/%E6%97%A5%E6%9C%AC.txt' });
      expect(copy.status, copy.body).to.equal(201);
      expect(await readFile(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'αβγ', '日本.txt'), 'utf8')).to.equal(CONTENT);
      const move = await send(ctx.port, 'MOVE', '/dpkg/hello/42/%CE%B1%CE%B2%CE%B3/%E6%97%A5%E6%9C%AC.txt', {
        Authorization: ctx.auth,
        Destination: `${ctx.origin}/dpkg/hello/42/%D0%BA%D0%B8%D1%80.txt`,
      });
      expect(move.status, move.body).to.equal(201);
      expect(await readFile(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'кир.txt'), 'utf8')).to.equal(CONTENT);
      expect(existsSync(path.join(ctx.artifactsDir, 'dpkg', 'hello', '42', 'αβγ', '日本.txt'))).to.equal(false);
      const del = await send(ctx.port, 'DELETE', '/dpkg/hello/42/%D0%BA%D0%B8%D1%80.txt', { Authorization: ctx.auth });
      expect(del.status, del.body).to.equal(204);
      await expectNothingEscaped(ctx, 'unicode names');
    });
  });

  describe('after the whole corpus', () => {
    it('no file in ARTIFACTS_DIR holds protected content', async () => {
      for (const { rel, text } of await allFileContents(ctx.artifactsDir)) {
        for (const needle of [ctx.sentinelContent, ctx.passwdContent, REAL_PASSWD_LINE, '"hash"', '$argon2', PWNED_BODY]) {
          expect(text.includes(needle), `${rel} holds ${needle}`).to.equal(false);
        }
        if (rel !== path.join('dpkg', 'hello', '43', 'neighbour.txt')) expect(text.includes(ctx.neighbourContent), `${rel} holds the neighbour's content`).to.equal(false);
      }
      const names = Object.keys(await artifactsSnapshot(ctx));
      expect(names.filter((n) => n.includes(MARKER) || n.endsWith('stolen.txt'))).to.deep.equal([]);
      // Nothing stored above the build level.
      for (const n of names) {
        if (n.startsWith('.')) continue;
        const depth = n.split(path.sep).length;
        if (depth <= 3) expect((await lstat(path.join(ctx.artifactsDir, n))).isDirectory(), `${n} above the build level is a file`).to.equal(true);
      }
    });

    it('the files outside ARTIFACTS_DIR are exactly as before and GET /-/health answers 200', async () => {
      await expectNothingEscaped(ctx, 'after the corpus');
      const health = await send(ctx.port, 'GET', '/-/health');
      expect(health.status).to.equal(200);
      expect(JSON.parse(health.body)).to.have.property('status', 'ok');
    });
  });
});
