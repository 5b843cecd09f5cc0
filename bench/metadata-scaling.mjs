// Does per-file metadata scale? The rate of 2000 PUTs of 4 KiB (one token, 8 keep-alive
// connections, each PUT hashed and recorded with its checksum and index entry) with 10
// files stored, then with 100 000 files stored across 50 builds.
// Usage: npm run build && node bench/metadata-scaling.mjs   (about two minutes)
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeTempDir, mintWith, startChild } from '../dist/test/helpers/harness.js';

const run = promisify(execFile);
const client = path.join(path.dirname(fileURLToPath(import.meta.url)), 'put-client.mjs');
const root = await makeTempDir('metadata-scaling-');
const app = await startChild(root, { LOG_LEVEL: 'silent' });

async function putMany(build, count) {
  const t = await mintWith(app.baseUrl, { type: 'bench', project: 'scaling', build });
  const { stdout } = await run(process.execPath, [client, t.url, t.username, t.password, String(count), '8', '4096']);
  return JSON.parse(stdout).rate;
}

async function measure(label) {
  const rates = [];
  for (let round = 0; round < 3; round++) rates.push(await putMany(`${label}-${round}`, 2000));
  rates.sort((a, b) => a - b);
  return { median: rates[1], min: rates[0], max: rates[2] };
}

try {
  await putMany('seed', 10);
  const small = await measure('with-10');
  let stored = 10 + 3 * 2000;
  for (let build = 0; stored < 100_000; build++) {
    await putMany(`fill-${build}`, 2000);
    stored += 2000;
  }
  const large = await measure('with-100k');
  console.log(JSON.stringify({ puts_per_s_with_10_files: small, puts_per_s_with_100k_files: large, files_stored: stored + 6000, ratio: +(large.median / small.median).toFixed(2) }));
} finally {
  await app.stop();
  await rm(root, { recursive: true, force: true });
}
