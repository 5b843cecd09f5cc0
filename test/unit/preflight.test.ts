import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePackageList, preflightReport } from '../preflight.js';
import { REPO_ROOT } from '../helpers/harness.js';

describe('test/preflight: what a run lacks, said before it starts', () => {
  const needs = parsePackageList(readFileSync(path.join(REPO_ROOT, '.ci/debian-packages'), 'utf8'));

  it('reads the one package list .ci/run installs, each with what needs it and for which script', () => {
    const run = readFileSync(path.join(REPO_ROOT, '.ci/run'), 'utf8');
    expect(run).to.include('.ci/debian-packages');
    expect(needs.length).to.be.greaterThan(20);
    for (const n of needs) expect(n.purpose, n.name).to.not.equal('');
    expect(needs.find((n) => n.name === 'chromium')).to.include({ script: 'test' });
    expect(needs.find((n) => n.name === 'docker.io')).to.include({ script: 'test:docker' });
    expect(needs.find((n) => n.name === 'strace')).to.include({ script: 'test:faults' });
  });

  it('names the missing packages of this script, what will skip, and the one line that installs all', () => {
    const report = preflightReport(needs, new Set(['chromium', 'nginx', 'docker.io']), 'test', false) as string;
    expect(report.split('\n')[0]).to.equal('npm test: 2 Debian packages are not installed here, so these tests will be skipped:');
    expect(report).to.match(/^ {2}nginx +the deployment behind nginx/m).and.match(/^ {2}chromium +the web UI in a real browser/m);
    expect(report).to.not.match(/^ {2}docker\.io/m);
    expect(report).to.include(`sudo apt-get install -y --no-install-recommends ${needs.map((n) => n.name).join(' ')}`);
    expect(preflightReport(needs, new Set(['docker.io']), 'test:docker', true)).to.include('npm run test:docker: 1 Debian package is not installed here, so these tests will FAIL (CI is set)');
    expect(preflightReport(needs, new Set(), 'test', false)).to.equal(null);
  });
});
