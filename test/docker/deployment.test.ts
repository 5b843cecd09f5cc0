// The docker deployment, run for real: a private Docker engine, stand-ins for the base
// images (standins.ts), and the README's deployment section followed as a user would:
// the secret file, `docker-compose up -d --build`, healthy, mint, upload, download through
// the published port, revoke, the UI, the admin CLI, restarts, and `down -v`.
//
// `npm run test:docker`. Skipped with the reason where no engine can start (not root, no
// docker.io); under CI that fails instead.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { MintedToken } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { findTool, run, skipUnlessCi, type RunResult } from '../helpers/tools.js';
import { engineUnavailable, startEngine, userCheckout, type Engine, tearDownCompose } from './engine.js';
import { ensureStandins } from './standins.js';
import { IsolatedApt, makeDeb, makeWheel } from '../helpers/packages.js';

const MASTER_PASSWORD = 'a-long-random-master-password';
const PROJECT = 'artrepodocker';
const COMPOSE_FILE = 'docker/docker-compose.yml';

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('docker deployment on a real engine', function () {
  this.timeout(1_800_000);
  const timings: string[] = [];
  const secrets: string[] = [MASTER_PASSWORD];
  let engine: Engine | null = null;
  let work: string;
  let base: string;
  let proxyPort: number;
  let composeEnv: NodeJS.ProcessEnv;
  let token: MintedToken;
  let bigFile: string;
  let bigSha: string;
  const small = 'release notes\n';

  const compose = (args: string[], timeoutMs = 900_000): Promise<RunResult> =>
    run(findTool('docker-compose') as string, ['-f', COMPOSE_FILE, ...args], { cwd: work, env: composeEnv, timeoutMs });
  const mustCompose = async (args: string[]): Promise<string> => {
    const result = await compose(args);
    expect(result.code, `docker-compose ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`).to.equal(0);
    return result.stdout;
  };
  const containerOf = async (service: string): Promise<string> => (await mustCompose(['ps', '-q', service])).trim();
  const health = async (service: string): Promise<string> => {
    const id = await containerOf(service);
    if (!id) return 'absent';
    return (await (engine as Engine).docker(['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', id])).stdout.trim();
  };
  const waitHealthy = async (what: string): Promise<void> => {
    const started = Date.now();
    for (;;) {
      const states = [await health('app'), await health('nginx')];
      // A health status can lag a restart: the published port must answer too.
      const answers = states.every((s) => s === 'healthy') && (await fetch(`${base}/-/health`).then((r) => r.ok, () => false));
      if (answers) break;
      if (Date.now() - started > 180_000) {
        const logs = await compose(['logs', '--tail', '40']);
        throw new Error(`not healthy after 180 s (app ${states[0]}, nginx ${states[1]}):\n${logs.stdout}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    timings.push(`${what}: healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  const master = (user = 'buildbot', password = MASTER_PASSWORD): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const mint = async (build: string, auth = master()): Promise<MintedToken> => {
    const res = await fetch(`${base}/-/tokens`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'hello', build }) });
    expect(res.status, await res.clone().text()).to.equal(201);
    const t = (await res.json()) as MintedToken;
    secrets.push(t.password);
    return t;
  };
  /** curl -T with the token on standard input, as the README's walkthrough does. */
  const upload = (t: MintedToken, file: string, url: string, extra: string[] = []): Promise<RunResult> =>
    run(findTool('curl') as string, ['--silent', '--show-error', '-K', '-', '-T', file, '-o', '/dev/null', '-w', '%{http_code}', ...extra, url], { input: `user = "${t.username}:${t.password}"\n`, timeoutMs: 300_000 });

  before(async function () {
    const why = engineUnavailable();
    if (why) skipUnlessCi(this, `the Docker engine test cannot run: ${why}`, 'install docker.io, docker-compose, debootstrap and iptables and run as root, as .ci/run does');
    for (const tool of ['curl', 'sha256sum']) if (!findTool(tool)) throw new Error(`${tool} is not installed`);
    let started = Date.now();
    engine = await startEngine();
    timings.push(`dockerd answering after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    started = Date.now();
    await ensureStandins(engine, (line) => timings.push(line));
    timings.push(`stand-ins ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The repository as a user has it: its files, in a folder of its own.
    work = await userCheckout('compose-');
    // README, Deployment: the secret file, as an admin creates it (root, 0600).
    await writeFile(path.join(work, 'docker/master_password.txt'), `${MASTER_PASSWORD}\n`);
    await chmod(path.join(work, 'docker/master_password.txt'), 0o600);
    const port = await freePort();
    proxyPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    composeEnv = { ...engine.env, COMPOSE_PROJECT_NAME: PROJECT, HTTP_ADDRESS: '127.0.0.1', HTTP_PORT: String(port), PROXY_ADDRESS: '127.0.0.1', PROXY_PORT: String(proxyPort), PUBLIC_URL: `${base}/` };
    await compose(['down', '-v', '--remove-orphans']);
    started = Date.now();
    await mustCompose(['up', '-d', '--build']);
    timings.push(`docker-compose up -d --build: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await waitHealthy('first start');

    bigFile = path.join(work, 'big.bin');
    const out = createWriteStream(bigFile);
    for (let i = 0; i < 50; i++) if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once('drain', () => r()));
    await new Promise<void>((r) => out.end(() => r()));
    bigSha = await sha256File(bigFile);
    await writeFile(path.join(work, 'NOTES.txt'), small);
  });

  after(() => tearDownCompose(engine, work, compose, timings));

  it('the app starts as root to read the 0600 secret, then runs as node; both services have healthchecks', async () => {
    const id = await containerOf('app');
    const procs = await (engine as Engine).docker(['exec', id, 'sh', '-c', 'for p in /proc/[0-9]*; do printf "%s %s\\n" "$(sed -n "s/^Uid:\\t\\([0-9]*\\).*/\\1/p" $p/status)" "$(tr "\\0" " " < $p/cmdline)"; done']);
    const server = procs.stdout.split('\n').find((l) => l.includes('dist/server/main.js') && l.includes('node'));
    expect(server, procs.stdout).to.match(/^1000 /);
    const secret = await (engine as Engine).docker(['exec', id, 'stat', '-c', '%u %a', '/run/secrets/master_password']);
    expect(secret.stdout.trim()).to.equal('0 600');
    expect(await health('nginx')).to.equal('healthy');
  });

  it('mints, takes a 50 MB and a small upload, and nginx serves both with their checksums', async () => {
    token = await mint('1');
    expect(token.url).to.equal(`${base}/dpkg/hello/1/`);
    expect((await upload(token, bigFile, `${token.url}big.bin`)).stdout).to.equal('201');
    expect((await upload(token, path.join(work, 'NOTES.txt'), `${token.url}docs/NOTES.txt`)).stdout).to.equal('201');
    const downloaded = path.join(work, 'down.bin');
    const got = await run(findTool('curl') as string, ['--silent', '--dump-header', '-', '-o', downloaded, `${token.url}big.bin`]);
    expect(got.stdout).to.match(/^HTTP\/1\.1 200/);
    expect(got.stdout).to.include(`X-Checksum-Sha256: ${bigSha}`);
    expect(got.stdout).to.match(/Content-Length: 52428800/i);
    expect(got.stdout).to.match(/^ETag: "/m);
    expect(got.stdout).to.match(/^Accept-Ranges: bytes/m);
    expect(await sha256File(downloaded)).to.equal(bigSha);
    const notes = await fetch(`${token.url}docs/NOTES.txt`);
    expect(await notes.text()).to.equal(small);
    expect(notes.headers.get('x-checksum-sha256')).to.equal(sha256(small));
    expect(notes.headers.get('repr-digest')).to.equal(`sha-256=:${Buffer.from(sha256(small), 'hex').toString('base64')}:`);
    // nginx sent the bytes, with the checksum it read from the record on the volume (njs in
    // the nginx image): the app was not asked at all.
    const logs = (await mustCompose(['logs', '--no-color', 'app'])).split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('"GET"'));
    expect(logs.filter((l) => l.includes('big.bin'))).to.deep.equal([]);
  });

  it("the app's log names the client address nginx saw, not nginx", async () => {
    const nginxIp = (await (engine as Engine).docker(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', await containerOf('nginx')])).stdout.trim();
    const appLog = (await mustCompose(['logs', '--no-color', 'app'])).split('\n').find((l) => l.includes('"path":"/-/tokens"') && l.includes('"POST"'));
    const client = /"client":"([^"]+)"/.exec(appLog ?? '')?.[1];
    const nginxLog = (await mustCompose(['logs', '--no-color', 'nginx'])).split('\n').find((l) => l.includes('"POST /-/tokens" 201'));
    const seen = /\|\s+(\S+) \[/.exec(nginxLog ?? '')?.[1];
    expect(client, appLog).to.be.a('string').and.not.equal(nginxIp);
    expect(client).to.equal(seen);
  });

  it('the build proxy is published on its own port: 407 without a token, its CA from the repository', async () => {
    const refused = await run(findTool('curl') as string, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--proxy', `http://127.0.0.1:${proxyPort}`, 'http://example.invalid/x']);
    expect(refused.stdout).to.equal('407');
    const ca = await fetch(`${base}/-/proxy/ca.pem`);
    expect(ca.status).to.equal(200);
    expect(await ca.text()).to.match(/^-----BEGIN CERTIFICATE-----/);
  });

  it('revoking seals the build: sha256sum -c accepts what the published port serves', async () => {
    const revoke = await fetch(`${base}/-/tokens/${token.id}`, { method: 'DELETE', headers: { Authorization: master() } });
    expect(revoke.status).to.equal(204);
    const dir = path.join(work, 'check');
    await mkdir(path.join(dir, 'docs'), { recursive: true });
    const sums = await (await fetch(`${token.url}SHA256SUMS`)).text();
    expect(sums).to.include(`${bigSha}  big.bin`);
    await writeFile(path.join(dir, 'SHA256SUMS'), sums);
    await writeFile(path.join(dir, 'docs/NOTES.txt'), Buffer.from(await (await fetch(`${token.url}docs/NOTES.txt`)).arrayBuffer()));
    await cp(path.join(work, 'down.bin'), path.join(dir, 'big.bin'));
    const check = await run(findTool('sha256sum') as string, ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(check.code, check.stdout + check.stderr).to.equal(0);
    const sealed = await fetch(`${token.url}big.bin`, { method: 'HEAD' });
    expect(sealed.headers.get('cache-control')).to.match(/immutable/);
    const again = await fetch(`${base}/-/tokens`, { method: 'POST', headers: { Authorization: master(), 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'hello', build: '1' }) });
    expect(again.status).to.equal(409);
  });

  it('apt and pip install from the deployment: a project\'s apt repository and the simple index, through nginx', async () => {
    const made = path.join(work, 'packages');
    await mkdir(made, { recursive: true });
    const deb = await makeDeb(made, { name: 'in-docker', version: '1.0-1', arch: 'all' });
    const wheel = await makeWheel(made, { name: 'in-docker', version: '1.0', module: { name: 'in_docker', source: 'OK = 1\n' } });
    const t = await mint('packages-1');
    for (const file of [deb, wheel]) expect((await upload(t, file, `${t.url}${path.basename(file)}`)).stdout).to.equal('201');
    expect((await fetch(`${base}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: master() } })).headers.get('x-artifact-repo-seal')).to.equal('sealed');
    const key = path.join(made, 'artifact-repo.asc');
    await writeFile(key, await (await fetch(`${base}/-/signing-keys.asc`)).text());
    for (const line of [`${base}/-/apt/dpkg/hello/ stable main`, `${t.url} /`]) {
      const apt = new IsolatedApt(path.join(made, `apt-${line.endsWith('/ /') ? 'flat' : 'project'}`));
      await apt.setUp(`deb [signed-by=${key}] ${line}\n`);
      const update = await apt.aptGet(['update']);
      expect(update.code, update.stdout + update.stderr).to.equal(0);
      expect(update.stdout + update.stderr).to.not.match(/^(W|E|Err):/m);
      const got = await apt.aptGet(['download', 'in-docker']);
      expect(got.code, got.stdout + got.stderr).to.equal(0);
      expect(sha256(await apt.downloaded(path.basename(deb)))).to.equal(sha256(await readFile(deb)));
    }
    const venv = path.join(made, 'venv');
    expect((await run('/usr/bin/python3', ['-m', 'venv', venv])).code).to.equal(0);
    const pip = await run(`${venv}/bin/pip`, ['install', '--no-input', '--index-url', `${base}/-/pypi/simple/`, 'In_Docker'], { env: { PATH: `${venv}/bin:/usr/bin:/bin`, HOME: made, PIP_CONFIG_FILE: '/dev/null', PIP_NO_CACHE_DIR: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    expect(pip.code, pip.stdout + pip.stderr).to.equal(0);
    expect((await run(`${venv}/bin/python`, ['-c', 'import in_docker; print(in_docker.OK)'])).stdout.trim()).to.equal('1');
  });

  it('every UI page answers through nginx', async () => {
    for (const page of ['/', '/dpkg/', '/dpkg/hello/', '/dpkg/hello/1/', '/dpkg/hello/1/docs/', `/-/search?sha256=${bigSha}`, '/-/compare?from=/dpkg/hello/1/&to=/dpkg/hello/1/']) {
      const res = await fetch(`${base}${page}`);
      expect(res.status, page).to.equal(200);
      expect(res.headers.get('content-type'), page).to.match(/^text\/html/);
    }
    expect(await (await fetch(`${base}/-/search?sha256=${bigSha}`)).text()).to.include('/dpkg/hello/1/big.bin');
  });

  it('serves the client through nginx, and it verifies the sealed build from a directory with nothing installed', async () => {
    const dir = path.join(work, 'client');
    await mkdir(dir, { recursive: true });
    const client = Buffer.from(await (await fetch(`${base}/-/client/artifact-repo`)).arrayBuffer());
    const listed = await (await fetch(`${base}/-/client/artifact-repo.sha256`)).text();
    await writeFile(path.join(dir, 'artifact-repo'), client, { mode: 0o755 });
    await writeFile(path.join(dir, 'artifact-repo.sha256'), listed);
    const check = await run(findTool('sha256sum') as string, ['-c', 'artifact-repo.sha256'], { cwd: dir });
    expect(check.code, check.stdout + check.stderr).to.equal(0);
    const verified = await run(path.join(dir, 'artifact-repo'), ['verify', `${base}/dpkg/hello/1/`, '--trust-server-key'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
    expect(verified.stdout).to.match(/^verified http\S+\/dpkg\/hello\/1\/: 2 files, /m);
  });

  it('the admin CLI works through exec and through run --rm, and what it writes stays the server user\'s', async () => {
    const list = await mustCompose(['exec', '-T', 'app', 'artifact-repo', 'master', 'list']);
    expect(list).to.match(/^buildbot\s/m);
    const added = await compose(['exec', '-T', 'app', 'artifact-repo', 'master', 'add', 'ci2']);
    expect(added.code, added.stderr).to.equal(0);
    // docker-compose v1's exec -T sends the command's stderr to stdout too, in either order
    // (two streams through one pipe): the password is the one line that is only a password.
    const lines = added.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const passwords = lines.filter((l) => /^[A-Za-z0-9]{32}$/.test(l));
    expect(passwords, `${added.stdout}\n${added.stderr}`).to.have.length(1);
    expect(lines.filter((l) => l !== passwords[0])).to.deep.equal(['master ci2 added. Its password is shown only this once:']);
    const password = passwords[0] as string;
    secrets.push(password);
    await mint('2', master('ci2', password));
    const started = Date.now();
    const viaRun = await compose(['run', '--rm', '-T', 'app', 'artifact-repo', 'token', 'list']);
    expect(viaRun.code, viaRun.stderr).to.equal(0);
    expect(viaRun.stdout).to.include('/dpkg/hello/2/');
    expect(viaRun.stdout + viaRun.stderr).to.not.include('listening');
    timings.push(`docker-compose run --rm app artifact-repo token list: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const owners = await mustCompose(['exec', '-T', 'app', 'stat', '-c', '%U', '/data/tokens', '/data/tokens/tokens.json', '/data/tokens/audit.jsonl']);
    expect(owners.trim().split('\n')).to.deep.equal(['node', 'node', 'node']);
  });

  it('no secret in the image layers, docker history, inspect or the logs', async () => {
    const docker = engine as Engine;
    const texts = [
      (await docker.docker(['history', '--no-trunc', 'artifact-repo:0.1.0'])).stdout,
      (await docker.docker(['image', 'inspect', 'artifact-repo:0.1.0'])).stdout,
      (await docker.docker(['inspect', await containerOf('app'), await containerOf('nginx')])).stdout,
      (await compose(['logs', '--no-color'])).stdout,
    ];
    for (const text of texts) for (const secret of secrets) expect(text).to.not.include(secret);
    // Every byte of every layer: docker save, searched as it streams.
    const needles = secrets.map((s) => Buffer.from(s));
    const found = await new Promise<string[]>((resolve, reject) => {
      const child = spawn(findTool('docker') as string, ['save', 'artifact-repo:0.1.0'], { env: docker.env, stdio: ['ignore', 'pipe', 'inherit'] });
      const hits = new Set<string>();
      let tail = Buffer.alloc(0);
      child.stdout.on('data', (chunk: Buffer) => {
        const window = Buffer.concat([tail, chunk]);
        for (const needle of needles) if (window.includes(needle)) hits.add(needle.toString());
        tail = window.subarray(Math.max(0, window.length - 64));
      });
      child.on('error', reject);
      child.on('close', () => resolve([...hits]));
    });
    expect(found).to.deep.equal([]);
  });

  it('restart of the app during an upload: the upload is drained, or refused and nothing is left', async () => {
    const t = await mint('3');
    const uploading = upload(t, bigFile, `${t.url}during-restart.bin`, ['--limit-rate', '10M']);
    await new Promise((r) => setTimeout(r, 2000));
    const started = Date.now();
    await mustCompose(['restart', 'app']);
    timings.push(`docker-compose restart app during a 50 MB upload at 10 MB/s: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const result = await uploading;
    await waitHealthy('after restart');
    const head = await fetch(`${t.url}during-restart.bin`, { method: 'HEAD' });
    if (result.stdout === '201') {
      expect(head.status).to.equal(200);
      expect(head.headers.get('x-checksum-sha256')).to.equal(bigSha);
    } else {
      expect(head.status, `upload answered ${result.stdout} ${result.stderr}`).to.equal(404);
    }
    const incoming = await mustCompose(['exec', '-T', 'app', 'sh', '-c', 'ls -A /data/artifacts/.incoming | wc -l']);
    expect(incoming.trim()).to.equal('0');
    timings.push(`upload during restart: ${result.stdout === '201' ? 'drained (201)' : `cut (${result.stdout || result.stderr.trim()})`}`);
  });

  it('with the app stopped, nginx answers 502 at once instead of hanging', async () => {
    await mustCompose(['stop', 'app']);
    try {
      const got = await run(findTool('curl') as string, ['--silent', '--max-time', '30', '-o', '/dev/null', '-w', '%{http_code}', `${base}/dpkg/hello/never-seen/file`]);
      expect(got.stdout).to.equal('502');
    } finally {
      await mustCompose(['start', 'app']);
      await waitHealthy('after stop and start');
    }
  });

  it('down, then up: tokens, masters and artifacts are all kept', async () => {
    const live = await mint('4');
    await mustCompose(['down']);
    await mustCompose(['up', '-d']);
    await waitHealthy('after down and up');
    const big = await fetch(`${base}/dpkg/hello/1/big.bin`, { method: 'HEAD' });
    expect(big.status).to.equal(200);
    expect(big.headers.get('x-checksum-sha256')).to.equal(bigSha);
    expect((await upload(live, path.join(work, 'NOTES.txt'), `${live.url}after-restart.txt`)).stdout).to.equal('201');
    expect((await mustCompose(['exec', '-T', 'app', 'artifact-repo', 'master', 'list']))).to.match(/^ci2\s/m);
  });

  it('down -v removes the containers and the volumes', async () => {
    await mustCompose(['down', '-v']);
    const volumes = await (engine as Engine).docker(['volume', 'ls', '--quiet', '--filter', `name=${PROJECT}_`]);
    expect(volumes.stdout.trim()).to.equal('');
    expect((await mustCompose(['ps', '-q'])).trim()).to.equal('');
  });
});
