// The README's curl walkthrough runs as written against a real server.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { MASTER_PASSWORD, MASTER_USER, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';

describe('examples/walkthrough.sh', function () {
  this.timeout(30_000);
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('mints, uploads, downloads, lists and revokes, ending with a 401', async () => {
    // Asynchronously: the server runs in this very process.
    const run = await promisify(execFile)('sh', [path.join(REPO_ROOT, 'examples/walkthrough.sh')], {
      env: { ...process.env, BASE: s.baseUrl, MASTER_USER, MASTER_PASSWORD },
    });
    expect(run.stdout).to.include('built by the walkthrough').and.include('a later upload answers 401');
    expect(run.stdout).to.match(/Good "artifact-repo" signature for artifact-repo with ED25519 key SHA256:/);
    expect(run.stdout).to.not.include(MASTER_PASSWORD);
  });
});
