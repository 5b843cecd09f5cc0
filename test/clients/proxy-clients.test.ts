// Real clients through the build proxy: each downloads from the HTTPS origin while a build
// records, then the origin stops and a second build replays the recording offline, byte
// for byte, with each client pointed at the proxy the way docs/inputs.md says (a clean
// environment: this machine sets SSL_CERT_FILE, PIP_CERT and others globally).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, MASTER_AUTH, mintWith, type MintedToken, startServer, type TestServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { cleanEnv, fetchProxyCa, proxyUrl } from '../helpers/proxy.js';
import { findTool, requireTool, run, skipUnlessCi, type RunResult } from '../helpers/tools.js';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Every file below `dir` (relative path -> checksum), .git internals and caches left out. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== '.git' && entry.name !== '.npm' && entry.name !== '.cache') await walk(full);
      } else if (entry.isFile()) out[path.relative(dir, full)] = sha256(await readFile(full));
    }
  };
  await walk(dir);
  return out;
}

interface Client {
  name: string;
  tool: string;
  pkg: string;
  /** Downloads into `out` through `proxy`; returns what it ran. */
  fetch(proxy: string, out: string, env: NodeJS.ProcessEnv): Promise<RunResult>;
}

describe('real clients through the build proxy: record, then replay offline', function () {
  this.timeout(300_000);
  let s: TestServer;
  let origin: Origin;
  let work: string;
  let bundle: string;
  let proxyPort: number;
  let recorder: MintedToken;
  let replayer: MintedToken;
  const recorded: Record<string, Record<string, string>> = {};

  const env = (home: string, proxy: string): NodeJS.ProcessEnv =>
    cleanEnv(home, {
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
      SSL_CERT_FILE: bundle,
      CURL_CA_BUNDLE: bundle,
      REQUESTS_CA_BUNDLE: bundle,
      PIP_CERT: bundle,
      GIT_SSL_CAINFO: bundle,
      NODE_EXTRA_CA_CERTS: bundle,
      npm_config_cafile: bundle,
      npm_config_proxy: proxy,
      npm_config_https_proxy: proxy,
      npm_config_cache: path.join(home, '.npm'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      PIP_NO_CACHE_DIR: '1',
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      GIT_TERMINAL_PROMPT: '0',
    });

  const clients: Client[] = [
    { name: 'curl', tool: 'curl', pkg: 'curl', fetch: (_p, out, e) => run(findTool('curl') as string, ['-fsS', '-o', path.join(out, 'hello.txt'), `${origin.httpsBase}/files/hello.txt`], { env: e }) },
    { name: 'wget', tool: 'wget', pkg: 'wget', fetch: (_p, out, e) => run(findTool('wget') as string, ['-q', `--ca-certificate=${bundle}`, '-O', path.join(out, 'data.json'), `${origin.httpsBase}/files/data.json`], { env: e }) },
    {
      name: 'pip download',
      tool: 'python3',
      pkg: 'python3-pip',
      fetch: (_p, out, e) => run(findTool('python3') as string, ['-m', 'pip', 'download', '--no-deps', '--index-url', `${origin.httpsBase}/simple/`, '-d', out, 'demo-pkg'], { env: e, cwd: out }),
    },
    {
      name: 'python-requests',
      tool: 'python3',
      pkg: 'python3-requests',
      fetch: (_p, out, e) => run(findTool('python3') as string, ['-c', `import requests, sys; r = requests.get(sys.argv[1], timeout=30); r.raise_for_status(); open(sys.argv[2], 'wb').write(r.content)`, `${origin.httpsBase}/files/data.json`, path.join(out, 'data.json')], { env: e }),
    },
    { name: 'git clone (dumb HTTP)', tool: 'git', pkg: 'git', fetch: (_p, out, e) => run(findTool('git') as string, ['clone', '-q', `${origin.httpsBase}/git/demo.git`, path.join(out, 'repo')], { env: e }) },
    { name: 'git clone (smart HTTP)', tool: 'git', pkg: 'git', fetch: (_p, out, e) => run(findTool('git') as string, ['clone', '-q', `${origin.httpsBase}/smart/demo.git`, path.join(out, 'repo')], { env: e }) },
    {
      name: 'apt-get download',
      tool: 'apt-get',
      pkg: 'apt',
      fetch: async (proxy, out, e) => {
        // Its own lists and cache beside `out`, no system configuration, the proxy and the bundle by option.
        const state = `${out}.apt`;
        for (const d of ['lists/partial', 'cache/archives/partial']) await mkdir(path.join(state, d), { recursive: true });
        await writeFile(path.join(state, 'sources.list'), `deb [trusted=yes] ${origin.httpsBase}/apt ./\n`);
        const options = [
          ['Dir::Etc::SourceList', path.join(state, 'sources.list')],
          ['Dir::Etc::SourceParts', '/nonexistent'],
          ['Dir::Etc::Parts', '/nonexistent'],
          ['Dir::State::Lists', path.join(state, 'lists')],
          ['Dir::Cache', path.join(state, 'cache')],
          ['Dir::State::status', '/dev/null'],
          ['APT::Sandbox::User', 'root'],
          ['Debug::NoLocking', '1'],
          ['Acquire::https::Proxy', proxy],
          ['Acquire::https::CaInfo', bundle],
        ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
        const apt = findTool('apt-get') as string;
        const updated = await run(apt, [...options, 'update'], { env: e, cwd: out });
        // apt-get update exits 0 when a list could not be fetched: it says so with "Err:".
        if (updated.code !== 0 || /^(Err:|E:)/m.test(updated.stdout + updated.stderr)) return { ...updated, code: updated.code || 1 };
        return run(apt, [...options, 'download', 'demo-hello'], { env: e, cwd: out });
      },
    },
    {
      name: 'npm install',
      tool: 'npm',
      pkg: 'npm',
      fetch: async (_p, out, e) => {
        await writeFile(path.join(out, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
        const result = await run(findTool('npm') as string, ['install', '--no-package-lock', '--registry', `${origin.httpsBase}/npm/`, 'demo-pkg@1.0.0'], { env: e, cwd: out });
        await rm(path.join(out, 'package.json'), { force: true });
        return result;
      },
    },
  ];

  before(async function () {
    for (const [tool, pkg] of [['nginx', 'nginx'], ['curl', 'curl'], ['openssl', 'openssl'], ['fcgiwrap', 'fcgiwrap'], ['git', 'git'], ['python3', 'python3']] as const) requireTool(this, tool, pkg);
    origin = await startOrigin();
    if (!origin.named) {
      skipUnlessCi(this, 'the origin needs a name in /etc/hosts (npm checks certificates against names)', 'run as root, as CI does');
    }
    proxyPort = await freePort();
    s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile });
    work = await makeTempDir('clients-');
    // The repository's CA beside the system's roots, as proxy-env writes it.
    const repoCa = await fetchProxyCa(s.baseUrl, work);
    bundle = path.join(work, 'bundle.pem');
    await writeFile(bundle, `${await readFile('/etc/ssl/certs/ca-certificates.crt', 'utf8').catch(() => '')}\n${await readFile(repoCa, 'utf8')}`);
    recorder = await mintWith(s.baseUrl, { type: 'ci', project: 'clients', build: '1' });
    for (const client of clients) {
      if (!findTool(client.tool)) continue;
      const home = path.join(work, 'record', client.name.replace(/\W+/g, '-'));
      await mkdir(home, { recursive: true });
      const result = await client.fetch(proxyUrl(proxyPort, recorder), home, env(home, proxyUrl(proxyPort, recorder)));
      expect(result.code, `${client.name} while recording: ${result.stderr}`).to.equal(0);
      recorded[client.name] = await tree(home);
    }
    expect((await fetch(`${s.baseUrl}/-/tokens/${recorder.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
    replayer = await mintWith(s.baseUrl, { type: 'ci', project: 'clients', build: '2', replay: '/ci/clients/1/' });
    await origin.stop();
  });

  after(async () => {
    await s?.close();
    await origin?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const client of clients) {
    it(`${client.name}: the same bytes offline, with the origin gone`, async function () {
      requireTool(this, client.tool, client.pkg);
      const home = path.join(work, 'replay', client.name.replace(/\W+/g, '-'));
      await mkdir(home, { recursive: true });
      const result = await client.fetch(proxyUrl(proxyPort, replayer), home, env(home, proxyUrl(proxyPort, replayer)));
      expect(result.code, `${client.name} offline: ${result.stderr}`).to.equal(0);
      const got = await tree(home);
      expect(Object.keys(got).length, 'something was downloaded').to.be.greaterThan(0);
      expect(got).to.deep.equal(recorded[client.name]);
    });
  }

  it('nothing was missed by any client, and the inputs list what each fetched', async function () {
    if (!s) skipUnlessCi(this, 'the suite did not start', 'see the failure of its before hook');
    const view = (await (await fetch(`${s.baseUrl}/-/inputs?build=/ci/clients/2/`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } })).json()) as { exchanges: { url: string; source: string }[]; misses: unknown[] };
    expect(view.misses).to.deep.equal([]);
    const paths = view.exchanges.map((e) => new URL(e.url).pathname);
    expect(paths).to.include.members(['/files/hello.txt', '/simple/demo-pkg/', '/npm/demo-pkg', '/npm/demo-pkg/-/demo-pkg-1.0.0.tgz', '/git/demo.git/info/refs', '/smart/demo.git/git-upload-pack']);
    expect(view.exchanges.every((e) => e.source === 'replay')).to.equal(true);
  });
});
