// Which folders of the code one request passes through: a PUT to the tree, and a download
// through the build proxy (record mode, plain HTTP). Each is measured as the functions of
// the app whose call counts (V8's precise coverage, NODE_V8_COVERAGE) grow when that one
// request is made, against a run that starts, mints a token and stops without it.
//   node bench/request-path.mjs [--app DIR]
// --app measures another checkout's build (before a change).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp } from './lib-servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const appArg = process.argv.indexOf('--app');
const APP = path.resolve(appArg > 0 ? process.argv[appArg + 1] : path.join(here, '..'));
const MASTER = 'request-path-master-password';

const { freePort } = await import('../dist/test/helpers/nginx.js');

function send(options, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the app with coverage on, runs `work`, stops it; the app's functions and their call counts. */
async function covered(work) {
  const coverage = await mkdtemp(path.join(tmpdir(), 'request-path-v8-'));
  const proxyPort = await freePort();
  const app = await startApp(APP, { NODE_V8_COVERAGE: coverage, PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.0/8', MASTER_PASSWORD: MASTER });
  const { port } = app;
  const auth = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const minted = await send(
    { host: '127.0.0.1', port, method: 'POST', path: '/-/tokens', headers: { Authorization: auth('buildbot', MASTER), 'Content-Type': 'application/json' } },
    JSON.stringify({ type: 'dpkg', project: 'path', build: '1' }),
  );
  const token = JSON.parse(minted.body);
  await work({ port, proxyPort, authorization: auth(token.username, token.password) });
  await app.stop();
  const counts = new Map();
  for (const name of await readdir(coverage)) {
    const { result } = JSON.parse(await readFile(path.join(coverage, name), 'utf8'));
    for (const script of result) {
      if (!script.url.startsWith(`file://${APP}/dist/`) || script.url.includes('/dist/test/')) continue;
      const file = script.url.slice(`file://${APP}/dist/`.length);
      for (const fn of script.functions) counts.set(`${file}#${fn.ranges[0].startOffset}`, (counts.get(`${file}#${fn.ranges[0].startOffset}`) ?? 0) + fn.ranges[0].count);
    }
  }
  await rm(coverage, { recursive: true, force: true });
  return counts;
}

/** The folders whose functions ran more often with the request than without it. */
async function foldersOf(request) {
  const without = await covered(async () => undefined);
  const withIt = await covered(request);
  const files = new Set();
  for (const [key, count] of withIt) if (count > (without.get(key) ?? 0)) files.add(key.split('#')[0]);
  const folders = new Map();
  for (const file of files) {
    const folder = path.dirname(file);
    folders.set(folder, [...(folders.get(folder) ?? []), path.basename(file, '.js')]);
  }
  return [...folders].sort(([a], [b]) => a.localeCompare(b));
}

const origin = http.createServer((_req, res) => res.end('a dependency\n'));
await new Promise((resolve) => origin.listen(0, '127.0.0.2', resolve));
const originUrl = `http://127.0.0.2:${origin.address().port}/dep.txt`;

const scenarios = {
  'PUT of a file': ({ port, authorization }) =>
    send({ host: '127.0.0.1', port, method: 'PUT', path: '/dpkg/path/1/hello.txt', headers: { Authorization: authorization, 'Content-Length': 6 } }, 'hello\n'),
  'download through the build proxy (record mode, plain HTTP)': ({ proxyPort, authorization }) =>
    send({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: originUrl, headers: { 'Proxy-Authorization': authorization, Host: new URL(originUrl).host } }),
};

console.log(`app: ${APP}`);
for (const [name, request] of Object.entries(scenarios)) {
  const folders = await foldersOf(request);
  console.log(`\n${name}: ${folders.length} folders`);
  for (const [folder, files] of folders) console.log(`  ${folder.padEnd(28)} ${files.sort().join(', ')}`);
}
origin.close();
