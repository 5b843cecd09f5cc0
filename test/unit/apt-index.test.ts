import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { packagesFiles, releaseDate, releaseText, suiteIndexes, suitePackages, withFilename } from '../../server/domain/apt-index.js';
import { newestSealedFirst } from '../../server/domain/package-rules.js';
import type { PackageInBuild } from '../../server/domain/stores.js';

function deb(build: string, sealedAt: string, name: string, version: string, arch: string, sha = `${build}${name}${version}`): PackageInBuild {
  const file = `${name}_${version}_${arch}.deb`;
  return {
    build: ['dpkg', 'hello', build],
    sealedAt,
    package: { format: 'deb', path: `out/${file}`, size: 10, sha256: sha, name, version, arch, stanza: `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\nFilename: out/${file}\nSize: 10\nSHA256: ${sha}\n` },
  };
}

describe('domain/apt-index', () => {
  const all = [
    deb('1', '2026-01-01T00:00:00.000Z', 'tool', '1.0', 'amd64'),
    deb('1', '2026-01-01T00:00:00.000Z', 'data', '1.0', 'all'),
    deb('2', '2026-01-02T00:00:00.000Z', 'tool', '1.1', 'amd64'),
    deb('2', '2026-01-02T00:00:00.000Z', 'tool', '1.1', 'arm64'),
    // Build 3 rebuilt tool 1.1 amd64 with other bytes: the newer one wins.
    deb('3', '2026-01-03T00:00:00.000Z', 'tool', '1.1', 'amd64', 'rebuilt'),
  ].sort(newestSealedFirst);

  it('orders newest sealed first, by build name when sealed at the same time', () => {
    expect(all.map((d) => d.build[2])).to.deep.equal(['3', '2', '2', '1', '1']);
    const same = [deb('a', 't', 'x', '1', 'all'), deb('b', 't', 'x', '1', 'all')].sort(newestSealedFirst);
    expect(same.map((d) => d.build[2])).to.deep.equal(['b', 'a']);
  });

  it('stable lists every package once per version and architecture, the newest build winning; latest only the newest build', () => {
    const stable = suitePackages(all, 'stable');
    expect(stable.map((d) => `${d.package.name} ${d.package.version} ${d.package.arch} ${d.build[2]}`).sort()).to.deep.equal(['data 1.0 all 1', 'tool 1.0 amd64 1', 'tool 1.1 amd64 3', 'tool 1.1 arm64 2']);
    expect(suitePackages(all, 'latest').map((d) => d.build[2])).to.deep.equal(['3']);
    expect(suitePackages([], 'latest')).to.deep.equal([]);
  });

  it('writes one binary-ARCH per architecture, with the all packages in each, and binary-all', () => {
    const { architectures, files } = suiteIndexes(suitePackages(all, 'stable'), (d) => `pool/${d.build[2]}/${d.package.path}`);
    expect(architectures).to.deep.equal(['amd64', 'arm64', 'all']);
    expect(files.map((f) => f.path)).to.deep.equal(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-arm64/Packages', 'main/binary-arm64/Packages.gz', 'main/binary-all/Packages', 'main/binary-all/Packages.gz']);
    const amd64 = files[0]?.body.toString() ?? '';
    expect(amd64.match(/^Package: /gm)).to.have.length(3);
    expect(amd64).to.include('Filename: pool/1/out/data_1.0_all.deb\n').and.include('Filename: pool/3/out/tool_1.1_amd64.deb\n').and.not.include('Filename: out/');
    // Stanzas are separated by one blank line, and the gzip holds the same bytes.
    expect(amd64).to.match(/SHA256: [^\n]+\n\nPackage: /);
    expect(gunzipSync(files[1]?.body ?? Buffer.alloc(0)).equals(files[0]?.body ?? Buffer.alloc(1))).to.equal(true);
    for (const f of files) expect(f.sha256).to.equal(createHash('sha256').update(f.body).digest('hex'));
    const onlyAll = suiteIndexes([deb('1', 't', 'data', '1.0', 'all')], (d) => d.package.path);
    expect(onlyAll.architectures).to.deep.equal(['all']);
    expect(onlyAll.files.map((f) => f.path)).to.deep.equal(['main/binary-all/Packages', 'main/binary-all/Packages.gz']);
  });

  it('the same packages make the same bytes (gzip without a time)', () => {
    const a = packagesFiles('', ['Package: a\n']);
    const b = packagesFiles('', ['Package: a\n']);
    expect(a[1]?.sha256).to.equal(b[1]?.sha256);
  });

  it('sets Filename on the one line that has it, whatever the description says', () => {
    const stanza = 'Package: x\nDescription: tricky\n Filename: evil\nFilename: a/b.deb\nSize: 1\n';
    expect(withFilename(stanza, 'pool/1/a/b.deb')).to.equal('Package: x\nDescription: tricky\n Filename: evil\nFilename: pool/1/a/b.deb\nSize: 1\n');
    expect(withFilename(stanza, '$& $1')).to.include('Filename: $& $1\n');
  });

  it('writes a Release with its date in UTC, by-hash, and each index with size and SHA-256', () => {
    const files = packagesFiles('main/binary-amd64', ['Package: a\n']);
    const text = releaseText({ origin: 'artifact-repo', label: 'dpkg/hello', suite: 'stable', date: new Date('2026-12-07T01:02:03Z'), architectures: ['amd64', 'all'], components: ['main'], byHash: true, archAllInEach: true }, files);
    expect(text).to.match(/^Origin: artifact-repo\nLabel: dpkg\/hello\nSuite: stable\nCodename: stable\nDate: Mon, 07 Dec 2026 01:02:03 UTC\n/);
    expect(text).to.include('Architectures: amd64 all\nComponents: main\nNo-Support-for-Architecture-all: Packages\nAcquire-By-Hash: yes\n');
    expect(text).to.include(`SHA256:\n ${files[0]?.sha256} ${String(files[0]?.body.length).padStart(16)} main/binary-amd64/Packages\n`);
    expect(text.endsWith('main/binary-amd64/Packages.gz\n')).to.equal(true);
    expect(releaseDate(new Date('2026-01-05T00:00:00Z'))).to.equal('Mon, 05 Jan 2026 00:00:00 UTC');
    const flat = releaseText({ origin: 'o', label: 'l', date: new Date(0), byHash: false, archAllInEach: false }, files);
    expect(flat).to.not.include('Suite:').and.not.include('Acquire-By-Hash');
  });
});
