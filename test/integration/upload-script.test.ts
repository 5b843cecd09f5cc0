// examples/upload.sh, the three steps for any CI, against the real server.
import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, MASTER_AUTH, MASTER_PASSWORD, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { run } from '../helpers/tools.js';

describe('examples/upload.sh', function () {
  this.timeout(30_000);
  let s: TestServer;
  let work: string;
  before(async () => {
    s = await startServer();
    work = await makeTempDir('upload-sh-');
    await mkdir(path.join(work, 'dist', 'sub dir'), { recursive: true });
    await writeFile(path.join(work, 'dist', 'tool.AppImage'), 'appimage bytes');
    await writeFile(path.join(work, 'dist', 'sub dir', 'notes #1.txt'), 'notes');
    await writeFile(path.join(work, 'master-password'), `${MASTER_PASSWORD}\n`);
  });
  after(async () => {
    await s.close();
    await rm(work, { recursive: true, force: true });
  });

  const upload = (dir: string, build: string, extra: Record<string, string> = {}) =>
    run('sh', [path.join(REPO_ROOT, 'examples/upload.sh'), 'appimage', 'tool', build, dir], {
      env: { ...process.env, ARTIFACT_REPO: s.baseUrl, ARTIFACT_MASTER_PASSWORD_FILE: path.join(work, 'master-password'), ...extra },
    });

  const liveTokens = async (): Promise<unknown[]> => (await (await fetch(`${s.baseUrl}/-/tokens`, { headers: { Authorization: MASTER_AUTH } })).json()) as unknown[];

  it('mints, uploads every file (odd names included) and revokes', async () => {
    const result = await upload(path.join(work, 'dist'), '7');
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/uploaded 2 files/).and.match(/revoked/);
    expect(await (await fetch(`${s.baseUrl}/appimage/tool/7/tool.AppImage`)).text()).to.equal('appimage bytes');
    expect(await (await fetch(`${s.baseUrl}/appimage/tool/7/sub%20dir/notes%20%231.txt`)).text()).to.equal('notes');
    expect(await liveTokens()).to.deep.equal([]);
    expect(result.stdout + result.stderr).to.not.include(MASTER_PASSWORD);
  });

  it('passes what the build is built from and by, quotes and backslashes included', async () => {
    const meta = { ARTIFACT_SOURCE_URI: 'https://git.example.org/tool.git', ARTIFACT_REVISION: 'a'.repeat(40), ARTIFACT_BRANCH: 'feature/"quoted" \\ branch', ARTIFACT_BUILD_URL: 'https://ci.example.org/jobs/8' };
    const result = await upload(path.join(work, 'dist'), '9', meta);
    expect(result.code, result.stderr).to.equal(0);
    const view = (await (await fetch(`${s.baseUrl}/appimage/tool/9/`, { headers: { Accept: 'application/json' } })).json()) as { build: { source: unknown; builder: unknown } };
    expect(view.build.source).to.deep.equal({ uri: meta.ARTIFACT_SOURCE_URI, revision: meta.ARTIFACT_REVISION, branch: meta.ARTIFACT_BRANCH });
    expect(view.build.builder).to.deep.equal({ url: meta.ARTIFACT_BUILD_URL });
  });

  it('a failing upload still revokes, and the script fails', async () => {
    // A file the server refuses (a name with a backslash) fails the upload midway.
    await mkdir(path.join(work, 'bad'), { recursive: true });
    await writeFile(path.join(work, 'bad', 'a.txt'), 'a');
    await writeFile(path.join(work, 'bad', 'b\\c.txt'), 'b');
    const result = await upload(path.join(work, 'bad'), '8');
    expect(result.code).to.not.equal(0);
    expect(result.stdout).to.match(/revoked/);
    expect(await liveTokens()).to.deep.equal([]);
    const store = await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8');
    expect(store).to.not.include(MASTER_PASSWORD);
  });
});
