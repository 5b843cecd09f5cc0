// The README's curl walkthrough runs as written against a real server.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { MASTER_PASSWORD, MASTER_USER, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';

describe('examples/walkthrough.sh', function () {
  this.timeout(30_000);
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('mints, uploads, downloads, lists and revokes, ending with a 401', () => {
    const run = spawnSync('sh', [path.join(REPO_ROOT, 'examples/walkthrough.sh')], {
      env: { ...process.env, BASE: s.baseUrl, MASTER_USER, MASTER_PASSWORD },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.include('built by the walkthrough').and.include('a later upload answers 401');
    expect(run.stdout).to.not.include(MASTER_PASSWORD);
  });
});
