// The mirror over real sockets: files from a real HTTPS origin (Debian's nginx on
// 127.0.0.2), an image from a real registry (Debian's docker-registry behind that nginx,
// with the anonymous Bearer-token flow), served by the build proxy in both modes and by
// checksum, kept when the origin is gone, fetched again after a restart mid-download,
// removed only when nothing refers to its bytes.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, MASTER_AUTH, mintWith, type MintedToken, startServer, type TestServer, until } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { ORIGIN_ADDRESS, startOrigin, type Origin } from '../helpers/origin.js';
import { cleanEnv, countingListener, curlVia, fetchProxyCa, proxyUrl } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { findTool, requireTool, run } from '../helpers/tools.js';
import type { MirrorEntryView } from '../../server/services/mirror.js';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const HELLO = 'hello from the origin\n';
const ONE_MIB = Buffer.alloc(1024 * 1024, 0x5a);

async function declare(s: TestServer, body: Record<string, unknown>): Promise<{ status: number; entry: MirrorEntryView & { error?: string } }> {
  const res = await fetch(`${s.baseUrl}/-/mirror`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, entry: (await res.json()) as MirrorEntryView & { error?: string } };
}

async function entry(s: TestServer, id: string): Promise<MirrorEntryView> {
  const res = await fetch(`${s.baseUrl}/-/mirror/${id}`);
  expect(res.status).to.equal(200);
  return (await res.json()) as MirrorEntryView;
}

/** The entry once it is no longer pending (or, with `until`, once it holds). */
async function settled(s: TestServer, id: string, until: (e: MirrorEntryView) => boolean = (e) => e.state !== 'pending', timeoutMs = 20_000): Promise<MirrorEntryView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await entry(s, id);
    if (until(e)) return e;
    if (Date.now() > deadline) throw new Error(`entry ${id} still ${e.state} (${e.reason ?? ''})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function stored(s: TestServer, hex: string): boolean {
  return existsSync(path.join(s.artifactsDir, '.content', 'sha256', hex.slice(0, 2), hex));
}

describe('mirror', function () {
  this.timeout(120_000);
  let s: TestServer;
  let origin: Origin;
  let registry: Registry;
  let image: PushedImage;
  let bigImage: PushedImage;
  let proxyPort: number;
  let home: string;
  let ca: string;
  let policyDir: string;

  before(async function () {
    for (const [tool, pkg] of [['nginx', 'nginx'], ['curl', 'curl'], ['openssl', 'openssl'], ['docker-registry', 'docker-registry'], ['fcgiwrap', 'fcgiwrap'], ['git', 'git']] as const) requireTool(this, tool, pkg);
    const registryPort = await freePort();
    registry = await startRegistry(registryPort);
    origin = await startOrigin({ registryPort });
    image = await pushImage(registryPort);
    // Two layers of 700 KiB: each fits a limit of 1 MiB, together they do not (the size limit, below).
    bigImage = await pushImage(registryPort, 700 * 1024);
    proxyPort = await freePort();
    policyDir = await makeTempDir('mirror-policy-');
    const policy = path.join(policyDir, 'retention.json');
    await writeFile(policy, JSON.stringify({ projects: { 'dpkg/uses-mirror': { keep_newest: 1, keep_days: 0 } } }));
    await chmod(policy, 0o644);
    s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, RETENTION_POLICY: policy, RETENTION_INTERVAL: '0', SEAL_GRACE: '0' });
    home = await makeTempDir('mirror-home-');
    ca = await fetchProxyCa(s.baseUrl, home);
  });

  after(async () => {
    await s?.close();
    await origin?.remove();
    await registry?.remove();
  });

  describe('files', () => {
    const ids: Record<string, string> = {};

    before(async () => {
      const bodies = {
        good: { url: `${origin.httpsBase}/files/hello.txt`, sha256: sha256(HELLO), note: 'the <greeting> our tests print' },
        wrongSum: { url: `${origin.httpsBase}/files/data.json`, sha256: '0'.repeat(64) },
        missing: { url: `${origin.httpsBase}/files/missing.txt` },
        redirected: { url: `${origin.httpsBase}/hop3` },
        looping: { url: `${origin.httpsBase}/loop` },
        private: { url: `https://127.0.0.3:${origin.httpsPort}/files/hello.txt` },
      };
      for (const [name, body] of Object.entries(bodies)) {
        const { status, entry: e } = await declare(s, body);
        expect(status, name).to.equal(202);
        expect(e.state).to.equal('pending');
        ids[name] = e.id;
      }
      for (const id of Object.values(ids)) await settled(s, id);
    });

    it('keeps a file whose checksum matches, and serves it by checksum with its name and checksum', async () => {
      const good = await entry(s, ids.good as string);
      expect(good).to.include({ state: 'ok', sha256: sha256(HELLO), size: HELLO.length, reason: null, declared_by: 'master:buildbot', note: 'the <greeting> our tests print' });
      expect(good.fetched_at).to.be.a('string');
      const res = await fetch(`${s.baseUrl}${good.download}`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-disposition')).to.equal('attachment; filename="hello.txt"');
      expect(res.headers.get('x-checksum-sha256')).to.equal(sha256(HELLO));
      expect(await res.text()).to.equal(HELLO);
      const range = await fetch(`${s.baseUrl}${good.download}`, { headers: { Range: 'bytes=6-9' } });
      expect(range.status).to.equal(206);
      expect(await range.text()).to.equal('from');
      // Its checksum is its ETag: a client that has it gets 304; a range past its end, 416.
      const again = await fetch(`${s.baseUrl}${good.download}`, { headers: { 'If-None-Match': res.headers.get('etag') as string } });
      expect(again.status).to.equal(304);
      const past = await fetch(`${s.baseUrl}${good.download}`, { headers: { Range: 'bytes=1000-2000' } });
      expect(past.status).to.equal(416);
      expect(past.headers.get('content-range')).to.equal(`bytes */${HELLO.length}`);
      expect((await fetch(`${s.baseUrl}/-/mirror/sha256/${'1'.repeat(64)}`)).status).to.equal(404);
    });

    it('follows three redirects to the file', async () => {
      expect(await entry(s, ids.redirected as string)).to.include({ state: 'ok', sha256: sha256(HELLO) });
    });

    it('says why each failed entry failed, stores nothing of it, and names the next try', async () => {
      const data = await readFile(path.join(origin.dir, 'www', 'files', 'data.json'));
      const reasons: Record<string, string | RegExp> = {
        wrongSum: `sha256 mismatch: declared ${'0'.repeat(64)}, got ${sha256(data)}`,
        missing: 'upstream answered 404',
        looping: /^more than 10 redirects/,
        private: 'target 127.0.0.3 is a private address',
      };
      for (const [name, reason] of Object.entries(reasons)) {
        const e = await entry(s, ids[name] as string);
        expect(e.state, name).to.equal('failed');
        if (typeof reason === 'string') expect(e.reason, name).to.equal(reason);
        else expect(e.reason, name).to.match(reason);
        expect(e.sha256, name).to.equal(null);
        expect(Date.parse(e.next_try_at as string), name).to.be.greaterThan(Date.now());
      }
      expect(stored(s, sha256(data)), 'the body with the wrong checksum').to.equal(false);
    });

    it('lists every entry in JSON and on a page, and the page says how to declare', async () => {
      const json = (await (await fetch(`${s.baseUrl}/-/mirror`, { headers: { Accept: 'application/json' } })).json()) as { entries: MirrorEntryView[] };
      const byId = new Map(json.entries.map((e) => [e.id, e]));
      for (const id of Object.values(ids)) expect(byId.has(id)).to.equal(true);
      expect(byId.get(ids.missing as string)).to.include({ state: 'failed', reason: 'upstream answered 404' });
      const html = (await (await fetch(`${s.baseUrl}/-/mirror`)).text()).replace(/<wbr>/g, '');
      expect(html).to.include(`${origin.httpsBase}/files/missing.txt`).and.include('upstream answered 404');
      expect(html).to.include('the &lt;greeting&gt; our tests print').and.not.include('<greeting>');
      // Each entry links its own page, which has the download link; the page has the form to declare.
      expect(html).to.include(`href="/-/mirror/${ids.missing}"`).and.include('artifact-repo mirror add').and.include('<form class="declare" method="post" action="/-/mirror">');
      const entryPage = await (await fetch(`${s.baseUrl}/-/mirror/${ids.good}`, { headers: { Accept: 'text/html' } })).text();
      expect(entryPage).to.include(`/-/mirror/sha256/${sha256(HELLO)}`);
    });

    it('declaring again returns the entry, and retries a failed one at once', async () => {
      const again = await declare(s, { url: `${origin.httpsBase}/files/hello.txt` });
      expect(again.status).to.equal(200);
      expect(again.entry.id).to.equal(ids.good);
      const before = await entry(s, ids.missing as string);
      const retried = await declare(s, { url: `${origin.httpsBase}/files/missing.txt` });
      expect(retried.status).to.equal(200);
      const after = await settled(s, ids.missing as string, (e) => e.attempts > before.attempts);
      expect(after).to.include({ state: 'failed', reason: 'upstream answered 404' });
    });

    it('refuses bad declarations with the field named, and anyone but a master', async () => {
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ url: 'ftp://example.org/x' }, /url must be an http/],
        [{ url: `${origin.httpsBase}/x`, sha256: 'abc' }, /sha256 must be 64 hex/],
        [{ url: `${origin.httpsBase}/x`, note: 'x'.repeat(1001) }, /note must be a string of at most 1000/],
        [{ url: `https://user:secret@${ORIGIN_ADDRESS}/x` }, /credentials/],
        [{}, /url/],
      ];
      for (const [body, message] of bad) {
        const { status, entry: e } = await declare(s, body);
        expect(status, JSON.stringify(body)).to.equal(400);
        expect(e.error).to.match(message);
      }
      const form = await fetch(`${s.baseUrl}/-/mirror`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'url=x' });
      expect(form.status).to.equal(415);
      const anonymous = await fetch(`${s.baseUrl}/-/mirror`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: `${origin.httpsBase}/y` }) });
      expect(anonymous.status).to.equal(401);
      const token = await mintWith(s.baseUrl, { type: 'dpkg', project: 'not-a-master', build: '1' });
      const asBuild = await fetch(`${s.baseUrl}/-/mirror`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`${token.username}:${token.password}`).toString('base64')}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ url: `${origin.httpsBase}/y` }) });
      expect(asBuild.status).to.equal(401);
    });
  });

  describe('images by digest', () => {
    let ref: string;
    let entryId: string;

    before(async () => {
      ref = `${new URL(origin.httpsBase).host}/${image.name}@${image.index}`;
      const { status, entry: e } = await declare(s, { image: ref, note: 'base image' });
      expect(status).to.equal(202);
      entryId = e.id;
      await settled(s, entryId);
    });

    it('fetches the index, every manifest it lists and every blob, through the Bearer-token flow', async () => {
      const e = await entry(s, entryId);
      expect(e.reason).to.equal(null);
      expect(e.state).to.equal('ok');
      expect(e.sha256).to.equal(image.index.slice(7));
      const total = [...image.manifestBodies.values(), ...image.blobs.values()].reduce((n, b) => n + b.length, 0);
      expect(e.size).to.equal(total);
      for (const digest of [...image.manifestBodies.keys(), ...image.blobs.keys()]) expect(stored(s, digest.slice(7)), digest).to.equal(true);
      // The registry was asked through the token flow: a 401, the token, then the answers.
      const seen = await origin.requests();
      expect(seen.some((l) => l.startsWith('GET /token?'))).to.equal(true);
    });

    it('an image whose parts together pass MIRROR_MAX_ENTRY_SIZE: failed with the limit named', async () => {
      const limited = await startServer({ PROXY_ALLOW_NETWORKS: '127.0.0.2/32', MIRROR_MAX_ENTRY_SIZE: '1M', UPSTREAM_CA_FILE: origin.caFile });
      try {
        const pulled = await settled(limited, (await declare(limited, { image: `${new URL(origin.httpsBase).host}/${bigImage.name}@${bigImage.index}` })).entry.id, undefined, 60_000);
        expect(pulled).to.include({ state: 'failed', reason: "larger than the mirror's limit of 1048576 bytes per entry (MIRROR_MAX_ENTRY_SIZE)" });
        // The same image fits the default limit.
        const fits = await settled(s, (await declare(s, { image: `${new URL(origin.httpsBase).host}/${bigImage.name}@${bigImage.index}` })).entry.id, undefined, 60_000);
        expect(fits.state).to.equal('ok');
      } finally {
        await limited.close();
      }
    });

    it('podman pulls it by digest through the offline proxy, with the registry stopped', async function () {
      const podman = requireTool(this, 'podman', 'podman');
      await registry.stop();
      const offline = await mintWith(s.baseUrl, { type: 'oci', project: 'podman', build: '1', proxy: 'offline' });
      const dir = await makeTempDir('podman-');
      try {
        const bundle = path.join(dir, 'bundle.pem');
        await writeFile(bundle, (await readFile('/etc/ssl/certs/ca-certificates.crt', 'utf8').catch(() => '')) + (await readFile(ca, 'utf8')));
        const policy = path.join(dir, 'policy.json');
        await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
        const registries = path.join(dir, 'registries.conf');
        await writeFile(registries, '');
        const env = cleanEnv(home, { HTTPS_PROXY: proxyUrl(proxyPort, offline), SSL_CERT_FILE: bundle, CONTAINERS_REGISTRIES_CONF: registries, XDG_RUNTIME_DIR: dir });
        const base = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
        const pulled = await run(podman, [...base, 'pull', '--signature-policy', policy, '--arch', 'arm64', ref], { env, timeoutMs: 120_000 });
        expect(pulled.code, pulled.stderr).to.equal(0);
        const inspected = await run(podman, [...base, 'image', 'inspect', '--format', '{{.Architecture}} {{.Digest}}', ref], { env });
        expect(inspected.code, inspected.stderr).to.equal(0);
        expect(inspected.stdout.trim()).to.equal(`arm64 ${image.index}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses a tag: tags move', async () => {
      const { status, entry: e } = await declare(s, { image: `${new URL(origin.httpsBase).host}/${image.name}:latest` });
      expect(status).to.equal(400);
      expect(e.error).to.match(/by digest/);
    });

    it('serves the manifests and blobs offline through the proxy with the registry stopped, digests verified', async () => {
      await registry.stop();
      const offline = await mintWith(s.baseUrl, { type: 'oci', project: 'pulls', build: '1', proxy: 'offline' });
      const base = `${origin.httpsBase}/v2/${image.name}`;
      const accept = ['-H', 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'];
      for (const [digest, body] of image.manifestBodies) {
        const got = await curlVia(proxyUrl(proxyPort, offline), `${base}/manifests/${digest}`, ca, home, [...accept, '-D', '-']);
        expect(got.status, digest).to.equal(200);
        expect(got.body).to.match(/docker-content-digest: sha256:[0-9a-f]{64}/i);
        expect(got.body).to.include(`docker-content-digest: ${digest}`);
        expect(got.body.endsWith(body.toString('utf8')), digest).to.equal(true);
      }
      for (const [digest, body] of image.blobs) {
        const file = path.join(home, 'blob');
        const got = await run(findTool('curl') as string, ['-sS', '--proxy', proxyUrl(proxyPort, offline), '--cacert', ca, '-o', file, '-w', '%{http_code}', `${base}/blobs/${digest}`], { env: cleanEnv(home) });
        expect(got.stdout, digest).to.equal('200');
        expect(`sha256:${sha256(await readFile(file))}`).to.equal(digest);
        expect((await readFile(file)).equals(body)).to.equal(true);
      }
      const tag = await curlVia(proxyUrl(proxyPort, offline), `${base}/manifests/latest`, ca, home, ['-D', '-']);
      expect(tag.status).to.equal(404);
      expect(tag.body).to.match(/x-artifact-repo-replay: miss/i);
    });
  });

  describe('with the origin gone', () => {
    let recorder: MintedToken;

    before(async () => {
      await origin.stop();
    });

    after(async () => {
      await origin.start();
    });

    it('an offline token gets mirrored URLs and a miss for anything else', async () => {
      const offline = await mintWith(s.baseUrl, { type: 'dpkg', project: 'offline-mirror', build: '1', proxy: 'offline' });
      const hit = await curlVia(proxyUrl(proxyPort, offline), `${origin.httpsBase}/files/hello.txt`, ca, home);
      expect(hit.status).to.equal(200);
      expect(hit.body).to.equal(HELLO);
      const miss = await curlVia(proxyUrl(proxyPort, offline), `${origin.httpsBase}/files/data.json`, ca, home, ['-D', '-']);
      expect(miss.status).to.equal(404);
      expect(miss.body).to.match(/x-artifact-repo-replay: miss/i).and.include('is not in the mirror');
    });

    it('a recording token gets mirrored URLs without contacting the origin, recorded as mirrored inputs', async () => {
      const listener = await countingListener(ORIGIN_ADDRESS, origin.httpsPort);
      try {
        recorder = await mintWith(s.baseUrl, { type: 'dpkg', project: 'uses-mirror', build: '1' });
        const got = await curlVia(proxyUrl(proxyPort, recorder), `${origin.httpsBase}/files/hello.txt`, ca, home);
        expect(got.status).to.equal(200);
        expect(got.body).to.equal(HELLO);
        expect(listener.count()).to.equal(0);
      } finally {
        await listener.close();
      }
      // The exchange is recorded as it ends, just after curl has its last byte: looked for a while.
      let found: { url: string; sha256: string; source: string } | undefined;
      for (let i = 0; i < 100 && !found; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
        const res = await fetch(`${s.baseUrl}/-/inputs?build=${encodeURIComponent('/dpkg/uses-mirror/1/')}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
        const inputs = (await res.json()) as { exchanges: { url: string; sha256: string; source: string }[] };
        found = inputs.exchanges.find((x) => x.url === `${origin.httpsBase}/files/hello.txt`);
      }
      expect(found).to.include({ sha256: sha256(HELLO), source: 'mirror' });
      // The entry's page lists the builds it served (both builds above), newest first.
      const entries = (await (await fetch(`${s.baseUrl}/-/mirror`, { headers: { Accept: 'application/json' } })).json()) as { entries: Array<{ id: string; url: string | null }> };
      const id = entries.entries.find((e) => e.url === `${origin.httpsBase}/files/hello.txt`)?.id as string;
      const entry = await until('the use to be noted', async () => {
        const e = (await (await fetch(`${s.baseUrl}/-/mirror/${id}`)).json()) as { used_by: Array<{ build: string }> };
        return e.used_by.length >= 2 ? e : undefined;
      });
      expect(entry.used_by.map((u) => u.build)).to.deep.equal(['/dpkg/uses-mirror/1/', '/dpkg/offline-mirror/1/']);
      const page = await (await fetch(`${s.baseUrl}/-/mirror/${id}`, { headers: { Accept: 'text/html' } })).text();
      expect(page).to.include('builds it served (the latest 2)').and.include('href="/dpkg/uses-mirror/1/"');
    });
  });

  describe('removal', () => {
    it('the entry goes; its bytes stay while a build refers to them, and go after retention deletes that build', async () => {
      const body = await readFile(path.join(origin.dir, 'www', 'npm', 'demo-pkg', '-', 'demo-pkg-1.0.0.tgz'));
      const url = `${origin.httpsBase}/npm/demo-pkg/-/demo-pkg-1.0.0.tgz`;
      const declared = await declare(s, { url });
      const kept = await readFile(path.join(origin.dir, 'www', 'vary.txt'));
      expect((await settled(s, (await declare(s, { url: `${origin.httpsBase}/vary.txt` })).entry.id)).state).to.equal('ok');
      const e = await settled(s, declared.entry.id);
      expect(e.state).to.equal('ok');
      // Build 2 of the project downloads it; build 3 is newer, so retention lets 2 go.
      const user = await mintWith(s.baseUrl, { type: 'dpkg', project: 'uses-mirror', build: '2' });
      expect((await curlVia(proxyUrl(proxyPort, user), url, ca, home, ['-o', path.join(home, 'pkg.tgz')])).status).to.equal(200);
      for (const t of [user, await mintWith(s.baseUrl, { type: 'dpkg', project: 'uses-mirror', build: '3' })]) {
        const revoked = await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
        expect(revoked.status).to.equal(204);
      }
      const removed = await fetch(`${s.baseUrl}/-/mirror/${e.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
      expect(removed.status).to.equal(204);
      expect((await fetch(`${s.baseUrl}/-/mirror/${e.id}`)).status).to.equal(404);
      expect((await fetch(`${s.baseUrl}/-/mirror/sha256/${sha256(body)}`)).status).to.equal(404);
      await new Promise((r) => setTimeout(r, 1500));
      expect(stored(s, sha256(body)), 'still an input of build 2').to.equal(true);
      const retention = await fetch(`${s.baseUrl}/-/retention`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: '{}' });
      const report = (await retention.json()) as { deleted: { build: string }[] };
      expect(report.deleted.map((d) => d.build)).to.include('/dpkg/uses-mirror/2/');
      expect(stored(s, sha256(body)), 'no build refers to it any more').to.equal(false);
      expect(stored(s, sha256(kept)), 'mirrored, though no build refers to it').to.equal(true);
    });

    it('is audited, and only masters may remove', async () => {
      const anonymous = await fetch(`${s.baseUrl}/-/mirror/abc`, { method: 'DELETE' });
      expect(anonymous.status).to.equal(401);
      expect((await fetch(`${s.baseUrl}/-/mirror/nosuchentry`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(404);
      const audit = await readFile(path.join(s.tokensDir, 'audit.jsonl'), 'utf8');
      const events = audit.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string });
      for (const name of ['mirror.declared', 'mirror.fetched', 'mirror.failed', 'mirror.removed']) expect(events.some((ev) => ev.event === name), name).to.equal(true);
    });

    it('counts entries by state, downloads and bytes in the metrics', async () => {
      const text = await (await fetch(`${s.baseUrl}/-/metrics`)).text();
      expect(text).to.match(/artifact_repo_mirror_entries\{state="ok"\} [1-9]/);
      expect(text).to.match(/artifact_repo_mirror_entries\{state="failed"\} [1-9]/);
      expect(text).to.match(/artifact_repo_mirror_downloads_total\{outcome="failed"\} [1-9]/);
      expect(text).to.match(/artifact_repo_mirror_fetched_bytes_total [1-9]/);
    });
  });

  describe('upstreams that fail', () => {
    it('a certificate the repository does not trust: failed, with the host named', async () => {
      const untrusting = await startServer({ PROXY_ALLOW_NETWORKS: '127.0.0.2/32' });
      try {
        const { entry: e } = await declare(untrusting, { url: `${origin.httpsBase}/files/hello.txt` });
        const failed = await settled(untrusting, e.id);
        expect(failed.state).to.equal('failed');
        expect(failed.reason).to.match(new RegExp(`^certificate of host ${new URL(origin.httpsBase).hostname.replace(/[.]/g, '\\.')} not trusted`));
      } finally {
        await untrusting.close();
      }
    });

    it('an upstream that drops mid-body, or says less than it sends: failed, nothing stored', async () => {
      const port = await freePort();
      const liar = net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', (request) => {
          const cut = request.toString().startsWith('GET /cut');
          socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${cut ? 1000 : 5}\r\n\r\n${'x'.repeat(cut ? 10 : 50)}`);
        });
      });
      await new Promise<void>((resolve) => liar.listen(port, ORIGIN_ADDRESS, () => resolve()));
      try {
        const cut = await settled(s, (await declare(s, { url: `http://${ORIGIN_ADDRESS}:${port}/cut` })).entry.id);
        expect(cut).to.include({ state: 'failed', reason: 'upstream closed the connection mid-body' });
        expect(stored(s, sha256('x'.repeat(10)))).to.equal(false);
        // Five bytes as its Content-Length says: those five are the body, the rest is not.
        const short = await settled(s, (await declare(s, { url: `http://${ORIGIN_ADDRESS}:${port}/short`, sha256: sha256('x'.repeat(50)) })).entry.id);
        expect(short.state).to.equal('failed');
        expect(short.reason).to.equal(`sha256 mismatch: declared ${sha256('x'.repeat(50))}, got ${sha256('xxxxx')}`);
      } finally {
        await new Promise((resolve) => liar.close(resolve));
      }
    });
  });

  describe('the size limit per entry (MIRROR_MAX_ENTRY_SIZE)', () => {
    it('an endless body or a declared length past it: failed with the limit named, nothing stored, the temporary file gone', async () => {
      const port = await freePort();
      let served = 0;
      const endless = net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', (request) => {
          if (request.toString().startsWith('GET /declared')) return void socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\nxx`);
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
          const chunk = `10000\r\n${'e'.repeat(0x10000)}\r\n`;
          const more = (): void => {
            while (!socket.destroyed && served < 1024 ** 3 && socket.write(chunk)) served += 0x10000;
          };
          socket.on('drain', more);
          more();
        });
      });
      await new Promise<void>((resolve) => endless.listen(port, ORIGIN_ADDRESS, () => resolve()));
      const limited = await startServer({ PROXY_ALLOW_NETWORKS: '127.0.0.2/32', MIRROR_MAX_ENTRY_SIZE: '1M', UPSTREAM_CA_FILE: origin.caFile });
      try {
        const reason = "larger than the mirror's limit of 1048576 bytes per entry (MIRROR_MAX_ENTRY_SIZE)";
        const forever = await settled(limited, (await declare(limited, { url: `http://${ORIGIN_ADDRESS}:${port}/forever` })).entry.id);
        expect(forever).to.include({ state: 'failed', reason });
        // Read no further than the limit and a few buffers past it.
        expect(served).to.be.below(16 * 1024 * 1024);
        const declared = await settled(limited, (await declare(limited, { url: `http://${ORIGIN_ADDRESS}:${port}/declared` })).entry.id);
        expect(declared).to.include({ state: 'failed', reason });
        const incoming = await readdir(path.join(limited.artifactsDir, '.incoming')).catch(() => [] as string[]);
        expect(incoming.filter((n) => !n.startsWith('.'))).to.deep.equal([]);
        const content = await readdir(path.join(limited.artifactsDir, '.content', 'sha256')).catch(() => [] as string[]);
        let bytes = 0;
        for (const prefix of content) for (const name of await readdir(path.join(limited.artifactsDir, '.content', 'sha256', prefix))) bytes += (await stat(path.join(limited.artifactsDir, '.content', 'sha256', prefix, name))).size;
        expect(bytes).to.be.below(2 * 1024 * 1024);
        // The other entries' limit is the default: the ordinary file still mirrors.
        expect((await settled(limited, (await declare(limited, { url: `${origin.httpsBase}/files/hello.txt` })).entry.id)).state).to.equal('ok');
      } finally {
        await limited.close();
        await new Promise((resolve) => endless.close(resolve));
      }
    });
  });

  describe('a restart during a download', () => {
    it('serves nothing partial, and fetches the entry whole after the restart', async () => {
      const dataDir = await makeTempDir('mirror-restart-');
      const env = { DATA_DIR: dataDir, PROXY_PORT: '0', PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile };
      let first: TestServer | null = await startServer(env);
      let second: TestServer | null = null;
      try {
        // 1 MiB at 512 KiB/s: two seconds in which to stop the server.
        const { entry: e } = await declare(first, { url: `${origin.httpsBase}/slow/one-mib.bin`, sha256: sha256(ONE_MIB) });
        await settled(first, e.id, (x) => (x.bytes_so_far ?? 0) > 0);
        await first.close();
        first = null;
        second = await startServer(env);
        expect((await fetch(`${second.baseUrl}/-/mirror/sha256/${sha256(ONE_MIB)}`)).status).to.equal(404);
        const done = await settled(second, e.id);
        expect(done).to.include({ state: 'ok', sha256: sha256(ONE_MIB), size: ONE_MIB.length });
        const res = await fetch(`${second.baseUrl}/-/mirror/sha256/${sha256(ONE_MIB)}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(ONE_MIB)).to.equal(true);
      } finally {
        await first?.close();
        await second?.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
