// The README's walkthrough runs as written (examples/walkthrough.sh reads its lines from the
// README) against a real server, its build proxy and an origin: the client fetched from the
// repository, mint, a recorded download, upload, revoke, verify, inputs, an offline replay.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { makeTempDir, MASTER_USER, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { requireTool } from '../helpers/tools.js';

// Every character a shell or awk could take for something else, in the master's password.
const HARD_PASSWORD = `it's a \\"hard" $HOME \\n one*`;

describe('examples/walkthrough.sh: the README walkthrough', function () {
  this.timeout(120_000);
  let s: TestServer;
  let origin: Origin;
  let proxyPort: number;
  before(async function () {
    for (const [tool, pkg] of [['nginx', 'nginx'], ['curl', 'curl'], ['openssl', 'openssl']] as const) requireTool(this, tool, pkg);
    origin = await startOrigin();
    proxyPort = await freePort();
    s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, MASTER_PASSWORD: HARD_PASSWORD });
  });
  after(async () => {
    await s?.close();
    await origin?.remove();
  });

  it('runs top to bottom: the client from the repository, a recorded download, upload, seal, verify, inputs and an offline replay', async () => {
    const tmp = await makeTempDir('walkthrough-');
    const download = `${origin.httpsBase}/files/hello.txt`;
    const before = (await origin.requests()).filter((r) => r.includes('/files/hello.txt')).length;
    // Asynchronously: the server runs in this very process.
    const run = await promisify(execFile)('sh', [path.join(REPO_ROOT, 'examples/walkthrough.sh')], {
      env: { PATH: process.env.PATH, HOME: tmp, TMPDIR: tmp, BASE: s.baseUrl, PROXY: `http://127.0.0.1:${proxyPort}`, MASTER_USER, MASTER_PASSWORD: HARD_PASSWORD, DOWNLOAD_URL: download },
      maxBuffer: 16 * 1024 * 1024,
    });
    const all = run.stdout + run.stderr;
    expect(run.stdout).to.include('artifact-repo: OK'); // the client's checksum
    expect(run.stdout).to.include('built by the walkthrough');
    expect(run.stdout).to.match(/verified http\S+: 2 files, .*signed by SHA256:.*provenance signed, 1 recorded inputs/);
    expect(run.stdout).to.include(download); // the inputs list the recorded download
    expect(run.stdout).to.include('the replay gave the same bytes');
    // The permalink names the build the walkthrough sealed.
    expect(run.stdout).to.match(new RegExp(`^${s.baseUrl.replace(/[.]/g, '\\.')}/dpkg/hello/\\d+/$`, 'm'));
    expect(all).to.match(/revoked token \S+: the build is sealed/);
    // The replay went nowhere: the origin saw the download once, when it was recorded.
    const after = (await origin.requests()).filter((r) => r.includes('/files/hello.txt')).length;
    expect(after - before).to.equal(1);
    expect(all).to.not.include(HARD_PASSWORD);
  });
});
