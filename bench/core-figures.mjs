// The figures issue 2 asks for, on this machine, in one run:
//  - peak RSS of the server during a 1 GiB PUT and a 1 GiB GET, against its idle RSS;
//  - the rate of 2000 PUTs of 4 KiB with one token over 8 keep-alive connections, with and
//    without the argon2 proof cache.
// Usage: npm run build && node bench/core-figures.mjs   (needs curl; writes ~1 GiB to a temp dir)
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const PASSWORD = 'bench-master-password';

async function child(dataDir, env = {}) {
  const proc = spawn('sh', [path.join(root, 'docker/entrypoint.sh')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', MASTER_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    proc.stderr.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+?)\/\n/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (c) => reject(new Error(`exit ${c}: ${out}`)));
  });
  return { proc, base };
}

async function status(pid) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)[1]);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

async function mint(base, build) {
  const res = await fetch(`${base}/-/tokens`, {
    method: 'POST',
    headers: { Authorization: 'Basic ' + Buffer.from(`buildbot:${PASSWORD}`).toString('base64'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'bench', project: 'core', build }),
  });
  return res.json();
}

async function main(dir) {
  // 1 GiB of incompressible data.
  const big = path.join(dir, 'big.bin');
  await run('sh', ['-c', `head -c 1073741824 /dev/urandom > ${big}`]);

  const { proc, base } = await child(path.join(dir, 'data'));
  const t = await mint(base, '1');
  await run('curl', ['-sS', '-o', '/dev/null', `${base}/-/health`]);
  await new Promise((r) => setTimeout(r, 1000));
  const idle = await status(proc.pid);
  // Reset the peak: argon2's 64 MiB for the master's first login is not the transfer's.
  await writeFile(`/proc/${proc.pid}/clear_refs`, '5');
  const putStart = performance.now();
  await run('curl', ['-sS', '--fail', '-u', `${t.username}:${t.password}`, '-T', big, `${t.url}big.bin`]);
  const putSeconds = (performance.now() - putStart) / 1000;
  const afterPut = await status(proc.pid);
  await writeFile(`/proc/${proc.pid}/clear_refs`, '5');
  const beforeGet = await status(proc.pid);
  const getStart = performance.now();
  await run('curl', ['-sS', '--fail', '-o', '/dev/null', `${t.url}big.bin`]);
  const getSeconds = (performance.now() - getStart) / 1000;
  const afterGet = await status(proc.pid);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  console.log(JSON.stringify({
    idle_rss_mib: +idle.rss.toFixed(1),
    peak_rss_mib_after_1gib_put: +afterPut.hwm.toFixed(1),
    peak_rss_mib_after_1gib_get: +afterGet.hwm.toFixed(1),
    put_peak_over_idle_mib: +(afterPut.hwm - idle.rss).toFixed(1),
    get_peak_over_idle_mib: +(afterGet.hwm - idle.rss).toFixed(1),
    rss_before_get_mib: +beforeGet.rss.toFixed(1),
    get_peak_over_its_start_mib: +(afterGet.hwm - beforeGet.rss).toFixed(1),
    put_1gib_mb_s: Math.round(1073.741824 / putSeconds),
    get_1gib_mb_s: Math.round(1073.741824 / getSeconds),
  }));
  await rm(big);

  if (process.argv.includes('--rss-only')) return;
  for (const cache of ['on', 'off']) {
    const rates = [];
    for (let round = 0; round < 3; round++) {
      const s = await child(path.join(dir, `data-${cache}-${round}`), { PROOF_CACHE: cache });
      const tok = await mint(s.base, '1');
      const { stdout } = await run(process.execPath, [path.join(root, 'bench/put-client.mjs'), tok.url, tok.username, tok.password, '2000', '8', '4096']);
      rates.push(JSON.parse(stdout).rate);
      s.proc.kill('SIGTERM');
      await new Promise((r) => s.proc.once('exit', r));
    }
    rates.sort((a, b) => a - b);
    console.log(JSON.stringify({ proof_cache: cache, puts_4kib_per_s_median: rates[1], min: rates[0], max: rates[2] }));
  }
}

const dir = await mkdtemp(path.join(tmpdir(), 'core-figures-'));
try {
  await main(dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
