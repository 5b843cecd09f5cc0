// What the package indexes cost (docs/packages.md, docs/performance.md):
// 1. the seal of one build of 200 .deb files and 200 wheels: its time (revoke to sealed)
//    and the server's peak memory over its idle size, sampled every 5 ms; against the seal
//    of the same build with the files renamed so that nothing is a package (what indexing
//    adds, as a ratio);
// 2. a project of 1 000 sealed builds (one .deb each, the catalogue seeded on disk, the
//    indexes written at start): `apt-get update` from nothing, its time and the bytes apt
//    fetched, against a plain `curl` of the same indexes; then the time one more seal takes
//    to write the project's indexes again.
// Usage: npm run bench:packages   (about a minute)
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { round } from './lib-report.mjs';

const { makeTempDir, startChild, basic, MASTER_AUTH } = await import('../dist/test/helpers/harness.js');
const { makeDeb, IsolatedApt } = await import('../dist/test/helpers/packages.js');
const { run } = await import('../dist/test/helpers/tools.js');

const DEBS = 200;
const WHEELS = 200;
const PROJECT_BUILDS = 1000;

function rssOf(pid) {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024);
}

async function mint(base, body) {
  const res = await fetch(`${base}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`mint: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Uploads the files into a build, waits for the server to settle, then seals it: time and peak memory. */
async function timedSeal(app, build, files) {
  const t = await mint(app.baseUrl, { type: 'dpkg', project: 'bench', build });
  const auth = basic(t.username, t.password);
  for (const [name, body] of files) {
    const res = await fetch(`${app.baseUrl}/dpkg/bench/${build}/${name}`, { method: 'PUT', headers: { Authorization: auth }, body });
    if (res.status !== 201) throw new Error(`PUT ${name}: ${res.status}`);
  }
  await new Promise((r) => setTimeout(r, 1500));
  const pid = app.child.pid;
  const idle = await rssOf(pid);
  let peak = idle;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssOf(pid));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const started = process.hrtime.bigint();
  const res = await fetch(`${app.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  sampling = false;
  await sampler;
  if (res.headers.get('x-artifact-repo-seal') !== 'sealed') throw new Error(`not sealed: ${res.headers.get('x-artifact-repo-seal')}`);
  return { seal_ms: round(ms, 0), peak_over_idle_mib: round((peak - idle) / 2 ** 20, 1) };
}

async function wheels(dir, count) {
  const script = `
import sys, zipfile
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = f"bench_wheel_{i}"
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(f"{out}/{name}-1.0-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/__init__.py", "x = 1\\n" * 2000)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\\nName: bench-wheel-{i}\\nVersion: 1.0\\nRequires-Python: >=3.8\\n\\n" + "description\\n" * 500)
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        z.writestr(f"{info}/RECORD", "")
`;
  const made = await run('python3', ['-c', script, dir, String(count)]);
  if (made.code !== 0) throw new Error(made.stderr);
  return (await readdir(dir)).filter((n) => n.endsWith('.whl')).map((n) => path.join(dir, n));
}

async function sealBench() {
  const root = await makeTempDir('packages-bench-');
  const app = await startChild(root, { LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  try {
    const dir = path.join(root, 'made');
    await mkdir(dir);
    const files = [];
    for (let i = 0; i < DEBS; i++) {
      const deb = await makeDeb(dir, { name: `bench-pkg-${i}`, version: `1.0-${i}`, arch: i % 2 ? 'amd64' : 'all', compression: i % 3 === 0 ? 'gzip' : 'xz' });
      files.push([`debs/${path.basename(deb)}`, await readFile(deb)]);
    }
    for (const whl of await wheels(dir, WHEELS)) files.push([`wheels/${path.basename(whl)}`, await readFile(whl)]);
    const bytes = files.reduce((n, [, b]) => n + b.length, 0);
    // The same bytes under names no indexer reads: what the seal costs without packages.
    const plain = await timedSeal(app, 'plain', files.map(([name, body]) => [`${name}.bin`, body]));
    const indexed = await timedSeal(app, 'indexed', files);
    return { files: files.length, mib: round(bytes / 2 ** 20, 1), without_packages: plain, with_packages: indexed, ratio: round(indexed.seal_ms / plain.seal_ms, 2) };
  } finally {
    await app.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** A catalogue of `count` sealed builds of dpkg/big, one .deb each, as the seals write it. */
async function seedProject(artifacts, count) {
  const dir = path.join(artifacts, '.packages', 'dpkg', 'big');
  await mkdir(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    const sha256 = createHash('sha256').update(String(k)).digest('hex');
    const name = `big-tool-${k % 50}`;
    const version = `1.${k}-1`;
    const file = `${name}_${version}_amd64.deb`;
    const stanza = `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: Bench <bench@example.org>\nInstalled-Size: 120\nDepends: libc6 (>= 2.36)\nSection: misc\nPriority: optional\nDescription: a tool of the benchmark\n The long description, on a second line.\nFilename: ${file}\nSize: 123456\nSHA256: ${sha256}\n`;
    const entry = { build: ['dpkg', 'big', String(k)], sealedAt: new Date(Date.UTC(2026, 0, 1) + k * 1000).toISOString(), skipped: [], packages: [{ format: 'deb', path: file, size: 123456, sha256, name, version, arch: 'amd64', stanza }] };
    await writeFile(path.join(dir, `${k}.json`), JSON.stringify(entry));
  }
}

async function aptBench() {
  const root = await makeTempDir('packages-bench-apt-');
  await seedProject(path.join(root, 'artifacts'), PROJECT_BUILDS);
  const started = Date.now();
  const app = await startChild(root, { LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  try {
    const release = `${app.baseUrl}/-/apt/dpkg/big/dists/stable/InRelease`;
    for (let i = 0; i < 600 && (await fetch(release)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    const firstWrite = Date.now() - started;
    const keyring = path.join(root, 'key.asc');
    await writeFile(keyring, await (await fetch(`${app.baseUrl}/-/signing-keys.asc`)).text());
    const apt = new IsolatedApt(path.join(root, 'apt'));
    await apt.setUp(`deb [signed-by=${keyring}] ${app.baseUrl}/-/apt/dpkg/big/ stable main\n`);
    const times = [];
    let fetched = 0;
    for (let i = 0; i < 5; i++) {
      await rm(path.join(root, 'apt', 'state', 'lists'), { recursive: true, force: true });
      await mkdir(path.join(root, 'apt', 'state', 'lists', 'partial'), { recursive: true });
      const t0 = process.hrtime.bigint();
      const update = await apt.aptGet(['update']);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (update.code !== 0) throw new Error(update.stdout + update.stderr);
      fetched = 0;
      for (const name of await readdir(path.join(root, 'apt', 'state', 'lists'))) if (name !== 'partial' && name !== 'lock') fetched += (await stat(path.join(root, 'apt', 'state', 'lists', name))).size;
    }
    // The same files fetched by curl: what HTTP alone costs.
    const curlTimes = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      await run('curl', ['-fsS', '-o', '/dev/null', release, '-o', '/dev/null', `${app.baseUrl}/-/apt/dpkg/big/dists/stable/main/binary-amd64/Packages.gz`]);
      curlTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    // One more seal in the project: its revoke answers once the project's indexes are written again.
    const made = await makeDeb(root, { name: 'big-tool-new', version: '2.0-1', arch: 'amd64' });
    const t = await mint(app.baseUrl, { type: 'dpkg', project: 'big', build: String(PROJECT_BUILDS) });
    await fetch(`${app.baseUrl}/dpkg/big/${PROJECT_BUILDS}/${path.basename(made)}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: await readFile(made) });
    const s0 = process.hrtime.bigint();
    await fetch(`${app.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    const sealWithIndexes = Number(process.hrtime.bigint() - s0) / 1e6;
    const packagesGz = (await fetch(`${app.baseUrl}/-/apt/dpkg/big/dists/stable/main/binary-amd64/Packages.gz`)).headers.get('content-length');
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return {
      builds: PROJECT_BUILDS,
      indexes_written_at_start_ms: firstWrite,
      apt_get_update_ms: round(median(times), 0),
      curl_same_indexes_ms: round(median(curlTimes), 0),
      apt_lists_bytes: fetched,
      packages_gz_bytes: Number(packagesGz),
      seal_of_build_1001_with_the_project_indexes_ms: round(sealWithIndexes, 0),
    };
  } finally {
    await app.stop();
    await rm(root, { recursive: true, force: true });
  }
}

console.log(JSON.stringify({ seal: await sealBench(), apt_update: await aptBench() }, null, 2));
