// 1 GiB download through the shipped nginx config vs from the app alone, interleaved
// rounds, same machine, same run. Usage: npm run build && node bench/download-figures.mjs
// (needs nginx and curl; writes 1 GiB to a temp dir).
import { execFile } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, mintWith, startChild } from '../dist/test/helpers/harness.js';
import { startNginx } from '../dist/test/helpers/nginx.js';

const run = promisify(execFile);
const root = await makeTempDir('download-figures-');
await chmod(root, 0o755);
const app = await startChild(root, { HOST: '127.0.0.1', TRUSTED_PROXIES: '127.0.0.1', MASTER_PASSWORD: 'correct-horse-battery-staple' });
await chmod(path.join(root, 'artifacts'), 0o755);
const nginx = await startNginx({ prefix: path.join(root, 'nginx'), upstream: new URL(app.baseUrl).host, artifactsRoot: path.join(root, 'artifacts'), mastersAllow: 'allow all;\n' });
try {
  const token = await mintWith(app.baseUrl, { type: 'bench', project: 'download', build: '1' });
  const file = path.join(root, 'big.bin');
  await run('sh', ['-c', `head -c 1073741824 /dev/urandom > ${file}`]);
  await run('curl', ['-sS', '--fail', '-u', `${token.username}:${token.password}`, '-T', file, `${token.url}big.bin`]);
  await rm(file);
  const rates = { app: [], nginx: [] };
  for (let round = 0; round < 5; round++) {
    for (const [name, base] of [['app', app.baseUrl], ['nginx', nginx.baseUrl]]) {
      const { stdout } = await run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{speed_download}', `${base}/bench/download/1/big.bin`]);
      rates[name].push(Number(stdout) / 1e6);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const out = { app_mb_s: Math.round(median(rates.app)), nginx_mb_s: Math.round(median(rates.nginx)), app_range: rates.app.map(Math.round), nginx_range: rates.nginx.map(Math.round) };
  out.ratio_nginx_over_app = +(out.nginx_mb_s / out.app_mb_s).toFixed(2);
  console.log(JSON.stringify(out));
} finally {
  await nginx.stop();
  await app.stop();
  await rm(root, { recursive: true, force: true });
}
