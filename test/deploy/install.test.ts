// The project installs and runs without a C++ toolchain: `npm ci --ignore-scripts` with
// production dependencies only (what the image does) in a clean copy, with no compiler,
// make or python on the PATH, then a start and a mint (argon2 is native code: its prebuilt
// binary must load in this Node).
import { expect } from 'chai';
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, mintWith, REPO_ROOT, startChild } from '../helpers/harness.js';
import { findTool, run } from '../helpers/tools.js';

describe('install without a C++ toolchain', function () {
  this.timeout(180_000);
  let dir: string;

  before(async () => {
    dir = await makeTempDir('install-');
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it('npm ci --omit=dev --ignore-scripts in a clean copy, then start and mint', async () => {
    const app = path.join(dir, 'app');
    for (const part of ['package.json', 'package-lock.json', 'docker/entrypoint.sh', 'dist/server', 'dist/token-service', 'dist/cli']) {
      await cp(path.join(REPO_ROOT, part), path.join(app, part), { recursive: true });
    }
    // A PATH with node, npm and what the entrypoint runs, and nothing that builds code.
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    for (const tool of ['node', 'npm', 'sh', 'dirname']) {
      const found = findTool(tool);
      if (!found) throw new Error(`${tool} not found`);
      await symlink(found, path.join(bin, tool));
    }
    const env = { ...process.env, PATH: bin };
    for (const compiler of ['g++', 'c++', 'cc', 'make', 'python3']) expect((await run('sh', ['-c', `command -v ${compiler} || true`], { env })).stdout, compiler).to.equal('');
    const install = await run(path.join(bin, 'npm'), ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, env, timeoutMs: 170_000 });
    expect(install.code, install.stderr).to.equal(0);
    const server = await startChild(path.join(dir, 'data'), { PATH: bin }, app);
    try {
      const token = await mintWith(server.baseUrl, { type: 'dpkg', project: 'install', build: '1' });
      expect(token.scope).to.equal('/dpkg/install/1/');
    } finally {
      await server.stop();
    }
  });
});
