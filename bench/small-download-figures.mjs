// What the checksum headers cost small downloads in the nginx deployment: 4 KiB GETs
// (wrk -t2 -c32, 5 s) from nginx serving the file statically (a plain reference server on
// the same volume), through the shipped config (nginx asks the app to describe the file,
// and keeps the answer for sealed builds), and from the app alone. Usage: npm run build && node bench/small-download-figures.mjs
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, mintWith, startChild } from '../dist/test/helpers/harness.js';
import { freePort, startNginx } from '../dist/test/helpers/nginx.js';

const run = promisify(execFile);
const root = await makeTempDir('small-download-');
await chmod(root, 0o755);
const app = await startChild(root, { HOST: '127.0.0.1', TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'silent' });
await chmod(path.join(root, 'artifacts'), 0o755);
const nginx = await startNginx({ prefix: path.join(root, 'nginx'), upstream: new URL(app.baseUrl).host, artifactsRoot: path.join(root, 'artifacts'), mastersAllow: 'allow all;\n' });
const refPort = await freePort();
const refDir = path.join(root, 'reference');
await mkdir(refDir);
await writeFile(path.join(refDir, 'nginx.conf'), `worker_processes auto; pid ${refDir}/nginx.pid; error_log ${refDir}/error.log; user www-data;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; open_file_cache max=10000 inactive=60s; open_file_cache_valid 1s;
  server { listen 127.0.0.1:${refPort}; root ${path.join(root, 'artifacts')}; } }`);
const reference = spawn('nginx', ['-p', refDir, '-c', path.join(refDir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
try {
  // Build 1 stays open; build 2 is sealed (its token revoked).
  for (const build of ['1', '2']) {
    const t = await mintWith(app.baseUrl, { type: 'bench', project: 'small', build });
    const auth = 'Basic ' + Buffer.from(`${t.username}:${t.password}`).toString('base64');
    await fetch(`${t.url}4k.bin`, { method: 'PUT', headers: { Authorization: auth }, body: Buffer.alloc(4096, 1) });
    if (build === '2') await fetch(`${app.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: auth } });
  }
  await new Promise((r) => setTimeout(r, 500));
  const targets = {
    'nginx static (reference)': `http://127.0.0.1:${refPort}/bench/small/1/4k.bin`,
    'shipped nginx config, sealed build': `${nginx.baseUrl}/bench/small/2/4k.bin`,
    'shipped nginx config, open build': `${nginx.baseUrl}/bench/small/1/4k.bin`,
    'app alone': `${app.baseUrl}/bench/small/1/4k.bin`,
  };
  const results = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, url] of Object.entries(targets)) {
      const { stdout } = await run('wrk', ['-t2', '-c32', '-d5s', url]);
      (results[name] ??= []).push(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[1];
  const ref = median(results['nginx static (reference)']);
  for (const [name, xs] of Object.entries(results)) console.log(JSON.stringify({ target: name, req_per_s_median: Math.round(median(xs)), range: xs.map(Math.round), ratio_to_static: +(median(xs) / ref).toFixed(2) }));
} finally {
  reference.kill('SIGQUIT');
  await nginx.stop();
  await app.stop();
  await rm(root, { recursive: true, force: true });
}
