// Signed seals and provenance, checked by tools that are not the repository's: OpenSSH's
// ssh-keygen for SHA256SUMS.sig, Python's cryptography (Debian's python3-cryptography) with
// its own DSSE encoding for the provenance; then `artifact-repo verify` against tampering,
// a key rotation, and a build whose inputs went through the build proxy.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash, createHmac } from 'node:crypto';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { requireTool, run } from '../helpers/tools.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { existsSync } from 'node:fs';

const SSH_KEYGEN = 'ssh-keygen';

function cli(dataDir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, ['dist/cli/main.js', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', DATA_DIR: dataDir, MASTER_USER, MASTER_PASSWORD } });
}

async function put(s: TestServer, file: string, auth: string, body: string): Promise<number> {
  return (await fetch(`${s.baseUrl}${file}`, { method: 'PUT', headers: { Authorization: auth }, body })).status;
}

async function revoke(s: TestServer, id: string): Promise<string | null> {
  const res = await fetch(`${s.baseUrl}/-/tokens/${id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  expect(res.status).to.equal(204);
  return res.headers.get('x-artifact-repo-seal');
}

/** A sealed build with a file at the root and one in a folder. */
async function sealedBuild(s: TestServer, build: string): Promise<string> {
  const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'signed', build });
  const auth = basic(t.username, t.password);
  expect(await put(s, `/dpkg/signed/${build}/hello_${build}.deb`, auth, `deb ${build}\n`)).to.equal(201);
  expect(await put(s, `/dpkg/signed/${build}/docs/read me.txt`, auth, 'ünïcode\n')).to.equal(201);
  expect(await revoke(s, t.id)).to.equal('sealed');
  return `${s.baseUrl}/dpkg/signed/${build}/`;
}

describe('signed seals and provenance', function () {
  this.timeout(120_000);
  let s: TestServer;
  let dataDir: string;
  let work: string;
  let origin: http.Server;
  let originPort: number;
  let proxyPort: number;

  before(async function () {
    requireTool(this, SSH_KEYGEN, 'openssh-client');
    requireTool(this, 'python3', 'python3-cryptography');
    dataDir = await makeTempDir('signing-');
    work = await makeTempDir('signing-work-');
    origin = http.createServer((req, res) => res.end(`origin bytes of ${req.url}\n`));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.2', () => resolve()));
    originPort = (origin.address() as AddressInfo).port;
    proxyPort = await freePort();
    s = await startServer({ DATA_DIR: dataDir, PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', PUBLIC_URL: 'https://artifacts.example.org/' });
  });

  after(async () => {
    await s?.close();
    await new Promise((resolve) => origin?.close(resolve));
    for (const dir of [dataDir, work]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const file = (name: string): string => path.join(work, name);

  async function download(url: string, name: string): Promise<Buffer> {
    const res = await fetch(url);
    expect(res.status, url).to.equal(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    await writeFile(file(name), bytes);
    return bytes;
  }

  it('serves the public key as an OpenSSH line and as PEM, the same key, never the private half', async () => {
    const line = await (await fetch(`${s.baseUrl}/-/signing-key`)).text();
    expect(line).to.match(/^ssh-ed25519 [A-Za-z0-9+/]+=* artifact-repo\n$/);
    const pem = await (await fetch(`${s.baseUrl}/-/signing-key`, { headers: { Accept: 'application/x-pem-file' } })).text();
    expect(pem).to.match(/^-----BEGIN PUBLIC KEY-----\n/);
    // The same key in both forms, as another implementation reads them.
    const same = await run('python3', [
      '-c',
      'import sys; from cryptography.hazmat.primitives import serialization as s; ' +
        'raw = lambda k: k.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw); ' +
        'print(raw(s.load_pem_public_key(sys.argv[1].encode())) == raw(s.load_ssh_public_key(sys.argv[2].encode())))',
      pem,
      line.trim(),
    ]);
    expect(same.stdout.trim(), same.stderr).to.equal('True');
    const keys = await (await fetch(`${s.baseUrl}/-/signing-keys`)).text();
    expect(keys).to.include(`artifact-repo namespaces="artifact-repo" ${line.trim().split(' ').slice(0, 2).join(' ')}`);
    expect(keys + line + pem).to.not.include('PRIVATE');
    expect(await readFile(path.join(dataDir, 'tokens', 'signing-keys.json'), 'utf8')).to.include('PRIVATE KEY');
  });

  it('a sealed build verifies with stock OpenSSH, and its DSSE provenance with an independent implementation; subjects are SHA256SUMS', async () => {
    const build = await sealedBuild(s, '1');
    const sums = await download(`${build}SHA256SUMS`, 'SHA256SUMS');
    await download(`${build}SHA256SUMS.sig`, 'SHA256SUMS.sig');
    await writeFile(file('allowed_signers'), await (await fetch(`${s.baseUrl}/-/signing-keys`)).text());
    const verified = await run(SSH_KEYGEN, ['-Y', 'verify', '-f', file('allowed_signers'), '-I', 'artifact-repo', '-n', 'artifact-repo', '-s', file('SHA256SUMS.sig')], { input: sums.toString() });
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.match(/^Good "artifact-repo" signature for artifact-repo with ED25519 key SHA256:/);
    // The same signature over other bytes, or for another namespace, is refused by OpenSSH too.
    const tampered = await run(SSH_KEYGEN, ['-Y', 'verify', '-f', file('allowed_signers'), '-I', 'artifact-repo', '-n', 'artifact-repo', '-s', file('SHA256SUMS.sig')], { input: sums.toString().replace('deb', 'dec') });
    expect(tampered.code).to.not.equal(0);
    const otherNamespace = await run(SSH_KEYGEN, ['-Y', 'verify', '-f', file('allowed_signers'), '-I', 'artifact-repo', '-n', 'file', '-s', file('SHA256SUMS.sig')], { input: sums.toString() });
    expect(otherNamespace.code).to.not.equal(0);

    await download(`${build}provenance.intoto.jsonl`, 'provenance.intoto.jsonl');
    await writeFile(file('key.pem'), await (await fetch(`${s.baseUrl}/-/signing-key`, { headers: { Accept: 'application/x-pem-file' } })).text());
    const checked = await run('python3', [path.join(REPO_ROOT, 'test/helpers/dsse_verify.py'), file('provenance.intoto.jsonl'), file('key.pem')]);
    expect(checked.code, checked.stderr).to.equal(0);
    const statement = JSON.parse(checked.stdout);
    expect(statement._type).to.equal('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).to.equal('https://slsa.dev/provenance/v1');
    const fromSums = sums.toString().trim().split('\n').map((l) => ({ name: l.slice(66), digest: { sha256: l.slice(0, 64) } }));
    expect(statement.subject).to.deep.equal(fromSums);
    expect(statement.subject.map((x: { name: string }) => x.name)).to.deep.equal(['docs/read me.txt', 'hello_1.deb']);
    expect(statement.predicate.buildDefinition.externalParameters).to.deep.equal({ build: 'https://artifacts.example.org/dpkg/signed/1/', mintedBy: [MASTER_USER] });
    expect(statement.predicate.runDetails.builder.id).to.equal('https://artifacts.example.org/');
    const { startedOn, finishedOn } = statement.predicate.runDetails.metadata;
    expect(Date.parse(startedOn)).to.be.at.most(Date.parse(finishedOn));
    // A flipped byte in the envelope's payload: the independent check refuses it.
    const envelope = JSON.parse(await readFile(file('provenance.intoto.jsonl'), 'utf8'));
    envelope.payload = Buffer.from(Buffer.from(envelope.payload, 'base64').toString().replace('hello_1', 'hello_2')).toString('base64');
    await writeFile(file('forged.jsonl'), JSON.stringify(envelope));
    expect((await run('python3', [path.join(REPO_ROOT, 'test/helpers/dsse_verify.py'), file('forged.jsonl'), file('key.pem')])).code).to.equal(1);
    // Secrets never: the statement names the master, never a password or a token's credentials.
    expect(checked.stdout).to.not.include(MASTER_PASSWORD);
  });

  it('a token cannot write the seal\'s own files at the build root', async () => {
    const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'signed', build: 'own' });
    for (const name of ['SHA256SUMS.sig', 'provenance.intoto.jsonl']) {
      const res = await fetch(`${s.baseUrl}/dpkg/signed/own/${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'forged' });
      expect(res.status, name).to.equal(403);
      expect(await res.text()).to.include('written by the repository when the build is sealed');
    }
    // Nor a name that would pass for one of them in a listing.
    for (const name of ['SHA256SUMS ', 'sha256sums', 'Provenance.Intoto.Jsonl', '\u0405HA256SUMS']) {
      const res = await fetch(`${s.baseUrl}/dpkg/signed/own/${encodeURIComponent(name)}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'forged' });
      expect(res.status, name).to.equal(403);
      expect(await res.text()).to.include('would pass for');
    }
    const listing = (await (await fetch(`${s.baseUrl}/dpkg/signed/own/`, { headers: { Accept: 'application/json' } })).json()) as { entries: { name: string }[] };
    expect(listing.entries.map((e) => e.name)).to.deep.equal([]);
    // Below the root they are ordinary names.
    expect(await put(s, '/dpkg/signed/own/sub/SHA256SUMS.sig', basic(t.username, t.password), 'x')).to.equal(201);
    await revoke(s, t.id);
  });

  describe('artifact-repo verify', () => {
    let build: string;
    let keyFile: string;

    before(async () => {
      build = await sealedBuild(s, '2');
      keyFile = file('pinned.pub');
      await writeFile(keyFile, await (await fetch(`${s.baseUrl}/-/signing-key`)).text());
    });

    const verify = (...args: string[]): ReturnType<typeof cli> => cli(dataDir, ['verify', build, ...args]);
    const onDisk = (name: string): string => path.join(s.artifactsDir, 'dpkg/signed/2', name);

    /** Changes one byte of a file of the sealed build on disk for the duration of `check`. */
    async function flipped(name: string, at: number, check: () => Promise<void>): Promise<void> {
      const original = await readFile(onDisk(name));
      const changed = Buffer.from(original);
      changed[at] = (changed[at] as number) ^ 0x01;
      await chmod(onDisk(name), 0o644);
      await writeFile(onDisk(name), changed);
      try {
        await check();
      } finally {
        await writeFile(onDisk(name), original);
        await chmod(onDisk(name), 0o444);
      }
    }

    it('passes a sealed build with the pinned key, and keeps the files under --into', async () => {
      const into = file('into');
      const ok = await verify('--key', keyFile, '--into', into);
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.stdout).to.match(/^verified .*\/dpkg\/signed\/2\/: 2 files, .* signed by SHA256:/);
      expect(await readFile(path.join(into, 'docs', 'read me.txt'), 'utf8')).to.equal('ünïcode\n');
    });

    it('refuses without a pinned key unless asked to trust the server', async () => {
      const unpinned = await verify();
      expect(unpinned.code).to.equal(1);
      expect(unpinned.stderr).to.include('no key is pinned');
      const trusting = await verify('--trust-server-key');
      expect(trusting.code, trusting.stderr).to.equal(0);
      expect(trusting.stderr).to.include('trusting the keys the server lists now');
    });

    it('a key that is not pinned: fails and says so', async () => {
      await rm(file('other'), { force: true });
      await rm(file('other.pub'), { force: true });
      expect((await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', file('other')])).code).to.equal(0);
      const wrong = await verify('--key', file('other.pub'));
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.match(/FAILED SHA256SUMS.sig: signed by a key that is not pinned \(SHA256:/);
    });

    it('reads allowed_signers options as ssh-keygen -Y verify does: a retired or not yet valid key fails, an unknown option distrusts the line', async () => {
      const key = (await readFile(keyFile, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
      const sums = (await download(`${build}SHA256SUMS`, 'sums-for-keygen')).toString();
      await download(`${build}SHA256SUMS.sig`, 'sums-for-keygen.sig');
      const lines = [
        `artifact-repo ${key}`,
        `artifact-repo valid-before="20200101" ${key}`,
        `artifact-repo valid-before="20200101Z" ${key}`,
        `artifact-repo valid-after="20990101" ${key}`,
        `artifact-repo valid-after="20200101",valid-before="20990101Z" ${key}`,
        `artifact-repo namespaces="git,artifact-*" ${key}`,
        `artifact-repo namespaces="git" ${key}`,
        `artifact-repo bogus-option ${key}`,
        `artifact-repo valid-before=20990101 ${key}`,
        `artifact-repo cert-authority ${key}`,
        `artifact-repo VALID-BEFORE="20990101" ${key}`,
      ];
      for (const [i, line] of lines.entries()) {
        const signers = file(`allowed-${i}`);
        await writeFile(signers, `${line}\n`);
        const keygen = await run(SSH_KEYGEN, ['-Y', 'verify', '-f', signers, '-I', 'artifact-repo', '-n', 'artifact-repo', '-s', file('sums-for-keygen.sig')], { input: sums });
        const ours = await verify('--key', signers);
        expect(ours.code === 0, `${line}\nssh-keygen: ${keygen.code} ${keygen.stderr}\nverify: ${ours.code} ${ours.stderr}`).to.equal(keygen.code === 0);
      }
      await writeFile(file('retired'), `artifact-repo valid-before="20200101Z" ${key}\n`);
      const retired = await verify('--key', file('retired'));
      expect(retired.code).to.equal(1);
      expect(retired.stderr).to.match(/FAILED SHA256SUMS.sig: signed by SHA256:\S+, which .*retired line 1 does not allow now: key has expired: verify time \S+ > valid-before 2020-01-01T00:00:00.000Z/);
    });

    it('a flipped byte in a file fails and names the file, and the bad file is not kept', async () => {
      await flipped('hello_2.deb', 0, async () => {
        const into = file('into-bad');
        const bad = await verify('--key', keyFile, '--into', into);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.match(/FAILED hello_2\.deb: its bytes hash to [0-9a-f]{64}, SHA256SUMS says [0-9a-f]{64}/);
        expect(bad.stderr).to.not.include('read me.txt:');
        expect(existsSync(path.join(into, 'hello_2.deb'))).to.equal(false);
        expect(await readFile(path.join(into, 'docs', 'read me.txt'), 'utf8')).to.equal('ünïcode\n');
      });
    });

    it('a server that serves one signed build under another name, or an empty provenance, fails', async () => {
      // A lying mirror: /dpkg/signed/fake/ answers with build 2's genuine, signed files.
      let emptyProvenance = false;
      const liar = http.createServer(async (req, res) => {
        const url = (req.url ?? '/').replace('/dpkg/signed/fake/', '/dpkg/signed/2/');
        if (emptyProvenance && url.endsWith('/provenance.intoto.jsonl')) return void res.end('\n');
        const real = await fetch(`${s.baseUrl}${url}`);
        res.writeHead(real.status);
        res.end(Buffer.from(await real.arrayBuffer()));
      });
      await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', () => resolve()));
      const base = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
      try {
        const renamed = await cli(dataDir, ['verify', `${base}/dpkg/signed/fake/`, '--key', keyFile]);
        expect(renamed.code).to.equal(1);
        expect(renamed.stderr).to.include('FAILED provenance.intoto.jsonl: it is the provenance of "https://artifacts.example.org/dpkg/signed/2/", not of /dpkg/signed/fake/');
        // The genuine build through the same server passes: only the name was a lie.
        expect((await cli(dataDir, ['verify', `${base}/dpkg/signed/2/`, '--key', keyFile])).code).to.equal(0);
        emptyProvenance = true;
        const empty = await cli(dataDir, ['verify', `${base}/dpkg/signed/2/`, '--key', keyFile]);
        expect(empty.code).to.equal(1);
        expect(empty.stderr).to.include('FAILED provenance.intoto.jsonl: no signed statement in it');
      } finally {
        await new Promise((resolve) => liar.close(resolve));
      }
    });

    it('a flipped byte in SHA256SUMS or in its signature fails at the signature', async () => {
      await flipped('SHA256SUMS', 0, async () => {
        const bad = await verify('--key', keyFile);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.include('FAILED SHA256SUMS.sig: the signature does not match the signed bytes');
      });
      // Inside the base64 of the signature proper (its last bytes before the armor's end).
      const sig = await readFile(onDisk('SHA256SUMS.sig'), 'utf8');
      await flipped('SHA256SUMS.sig', sig.lastIndexOf('\n-----END') - 3, async () => {
        const bad = await verify('--key', keyFile);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.match(/FAILED SHA256SUMS\.sig: /);
      });
    });

    it('a changed provenance envelope fails at the provenance', async () => {
      const envelope = await readFile(onDisk('provenance.intoto.jsonl'), 'utf8');
      await flipped('provenance.intoto.jsonl', envelope.indexOf('"payload":"') + 20, async () => {
        const bad = await verify('--key', keyFile);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.match(/FAILED provenance\.intoto\.jsonl: /);
      });
    });
  });

  it('after a rotation new seals use the new key, and a build sealed before still verifies with the listed old key', async () => {
    const before = await sealedBuild(s, '3');
    const oldKey = await (await fetch(`${s.baseUrl}/-/signing-key`)).text();
    await writeFile(file('old.pub'), oldKey);
    const rotated = await cli(dataDir, ['signing-key', 'rotate']);
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(rotated.stdout).to.match(/signed with SHA256:\S+ from now on; SHA256:\S+ is retired/);
    const newKey = await (await fetch(`${s.baseUrl}/-/signing-key`)).text();
    expect(newKey).to.not.equal(oldKey);
    await writeFile(file('new.pub'), newKey);
    const after = await sealedBuild(s, '4');
    await writeFile(file('all_signers'), await (await fetch(`${s.baseUrl}/-/signing-keys`)).text());
    const listed = (await (await fetch(`${s.baseUrl}/-/signing-keys`, { headers: { Accept: 'application/json' } })).json()) as Array<{ current: boolean; retiredAt: string | null }>;
    expect(listed.map((k) => k.current)).to.deep.equal([true, false]);
    expect((await cli(dataDir, ['verify', before, '--key', file('old.pub')])).code).to.equal(0);
    expect((await cli(dataDir, ['verify', before, '--key', file('new.pub')])).code).to.equal(1);
    expect((await cli(dataDir, ['verify', after, '--key', file('new.pub')])).code).to.equal(0);
    for (const build of [before, after]) expect((await cli(dataDir, ['verify', build, '--key', file('all_signers')])).code, build).to.equal(0);
    // The old private half is gone from the store; its public half stays.
    const kept = JSON.parse(await readFile(path.join(dataDir, 'tokens', 'signing-keys.json'), 'utf8')) as Array<{ privatePem: string | null }>;
    expect(kept.map((k) => k.privatePem !== null)).to.deep.equal([true, false]);
  });

  it('inputs recorded through the build proxy are the resolved dependencies, with the digests /-/inputs shows', async () => {
    const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'signed', build: '5' });
    for (const dep of ['/dep-a.tar.gz', '/dep-b.txt?version=2']) {
      const status = await new Promise<number>((resolve, reject) => {
        // Credentials in the URL too: they must never reach the statement.
        const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: `http://127.0.0.2:${originPort}${dep}`, headers: { 'Proxy-Authorization': basic(t.username, t.password) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).to.equal(200);
    }
    expect(await put(s, '/dpkg/signed/5/out.bin', basic(t.username, t.password), 'out\n')).to.equal(201);
    expect(await revoke(s, t.id)).to.equal('sealed');
    const inputs = (await (await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/signed/5/`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } })).json()) as { exchanges: Array<{ url: string; sha256: string }> };
    const envelope = JSON.parse(await (await fetch(`${s.baseUrl}/dpkg/signed/5/provenance.intoto.jsonl`)).text());
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
    const deps = statement.predicate.buildDefinition.resolvedDependencies as Array<{ uri: string; digest: { sha256: string }; annotations: { source: string } }>;
    // The same requests and digests; a query only as its digest (it may hold credentials).
    expect(deps.map((d) => [d.uri, d.digest.sha256]).sort()).to.deep.equal(inputs.exchanges.map((e) => [e.url.split('?')[0], e.sha256]).sort());
    // A keyed hash, under the repository's own secret: the same query gives the same hash, a dictionary of queries gives nothing.
    const withQuery = deps.find((d) => d.uri.endsWith('/dep-b.txt')) as { annotations: { queryHash?: string } };
    const secrets = JSON.parse(await readFile(path.join(dataDir, 'tokens', 'repository-secrets.json'), 'utf8')) as Record<string, string>;
    expect(withQuery.annotations.queryHash).to.equal(`hmac-sha256:${createHmac('sha256', secrets['recording-hash'] as string).update('?version=2').digest('hex')}`);
    expect(JSON.stringify(statement)).to.not.include(createHash('sha256').update('?version=2').digest('hex'));
    expect(JSON.stringify(statement)).to.not.include('version=2');
    expect(deps).to.have.length(2);
    expect(deps.every((d) => d.annotations.source === 'upstream')).to.equal(true);
    expect(deps.map((d) => d.digest.sha256)).to.include(createHash('sha256').update('origin bytes of /dep-a.tar.gz\n').digest('hex'));
    expect(JSON.stringify(statement)).to.not.include(t.password);

    // Compare: two builds' signed provenance, outputs and inputs.
    const compare = async (from: string, to: string): Promise<{ provenance: { inputs: boolean; outputs: boolean } | null }> =>
      (await (await fetch(`${s.baseUrl}/-/compare?from=${from}&to=${to}`, { headers: { Accept: 'application/json' } })).json()) as { provenance: { inputs: boolean; outputs: boolean } | null };
    expect((await compare('/dpkg/signed/1/', '/dpkg/signed/5/')).provenance).to.deep.equal({ outputs: false, inputs: false });
    expect((await compare('/dpkg/signed/5/', '/dpkg/signed/5/')).provenance).to.deep.equal({ outputs: true, inputs: true });
    expect((await compare('/dpkg/signed/1/', '/dpkg/signed/own/')).provenance).to.deep.equal({ outputs: false, inputs: true });
    // The build page says it is signed and links the keys.
    // "signed" leads to the page's own explanation of what was signed and how to check it.
    const page = await (await fetch(`${s.baseUrl}/dpkg/signed/5/`)).text();
    expect(page).to.match(/<a href="\/dpkg\/signed\/5\/#verify"[^>]*>signed<\/a>/).and.include('<a href="/-/signing-keys">/-/signing-keys</a>');
  });
});

describe('signed seals with DATABASE_URL: one key for every replica', function () {
  this.timeout(120_000);
  let pg: Postgres;
  const servers: TestServer[] = [];
  let dataDir: string;

  before(async function () {
    pg = await requirePostgres(this);
    dataDir = await makeTempDir('signing-pg-');
    const url = await freshDatabase(pg);
    // Started together: one key is made, whichever replica gets there first.
    const [a, b] = await Promise.all([startServer({ DATABASE_URL: url, DATA_DIR: path.join(dataDir, 'a') }), startServer({ DATABASE_URL: url, DATA_DIR: path.join(dataDir, 'b') })]);
    servers.push(a as TestServer, b as TestServer);
  });
  after(async () => {
    for (const s of servers) await s.close();
    await pg?.remove();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('both replicas serve and sign with the same key, and a rotation through one shows on the other at once', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const key = async (s: TestServer): Promise<string> => (await fetch(`${s.baseUrl}/-/signing-key`)).text();
    expect(await key(a)).to.equal(await key(b));
    const first = await key(a);
    await writeFile(path.join(dataDir, 'first.pub'), first);
    const sealedOnB = await sealedBuild(b, 'pg-1');
    expect((await cli(path.join(dataDir, 'a'), ['verify', sealedOnB, '--key', path.join(dataDir, 'first.pub')])).code).to.equal(0);
    const rotated = await cli(path.join(dataDir, 'a'), ['signing-key', 'rotate']);
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(await key(b)).to.not.equal(first);
    expect(await key(b)).to.equal(await key(a));
    await writeFile(path.join(dataDir, 'second.pub'), await key(b));
    const sealedAfter = await sealedBuild(b, 'pg-2');
    expect((await cli(path.join(dataDir, 'a'), ['verify', sealedAfter, '--key', path.join(dataDir, 'second.pub')])).code).to.equal(0);
    expect((await cli(path.join(dataDir, 'a'), ['verify', sealedOnB, '--key', path.join(dataDir, 'first.pub')])).code).to.equal(0);
    // No private key on either replica's volume: it is in the database.
    for (const s of servers) expect(existsSync(path.join(s.tokensDir, 'signing-keys.json'))).to.equal(false);
  });
});
