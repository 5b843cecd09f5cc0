import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { listedIn, packagesFiles, releaseDate, releaseText, suiteIndexes, suitePackages, withFilename } from '../../server/domain/apt-index.js';
import { MAX_SUITE_ARCHITECTURES, MAX_SUITE_BYTES, newestSealedFirst } from '../../server/domain/package-rules.js';
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

  it('writes one binary-ARCH per architecture, with the all packages in each, and binary-all', async () => {
    const { architectures, files } = await suiteIndexes(suitePackages(all, 'stable'), (d) => `pool/${d.build[2]}/${d.package.path}`);
    expect(architectures).to.deep.equal(['amd64', 'arm64', 'all']);
    expect(files.map((f) => f.path)).to.deep.equal(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-arm64/Packages', 'main/binary-arm64/Packages.gz', 'main/binary-all/Packages', 'main/binary-all/Packages.gz']);
    const amd64 = files[0]?.body.toString() ?? '';
    expect(amd64.match(/^Package: /gm)).to.have.length(3);
    expect(amd64).to.include('Filename: pool/1/out/data_1.0_all.deb\n').and.include('Filename: pool/3/out/tool_1.1_amd64.deb\n').and.not.include('Filename: out/');
    // Stanzas are separated by one blank line, and the gzip holds the same bytes.
    expect(amd64).to.match(/SHA256: [^\n]+\n\nPackage: /);
    expect(gunzipSync(files[1]?.body ?? Buffer.alloc(0)).equals(files[0]?.body ?? Buffer.alloc(1))).to.equal(true);
    for (const f of files) expect(f.sha256).to.equal(createHash('sha256').update(f.body).digest('hex'));
    const onlyAll = await suiteIndexes([deb('1', 't', 'data', '1.0', 'all')], (d) => d.package.path);
    expect(onlyAll.architectures).to.deep.equal(['all']);
    expect(onlyAll.files.map((f) => f.path)).to.deep.equal(['main/binary-all/Packages', 'main/binary-all/Packages.gz']);
  });

  it('the same packages make the same bytes (gzip without a time)', async () => {
    const a = await packagesFiles('', ['Package: a\n']);
    const b = await packagesFiles('', ['Package: a\n']);
    expect(a[1]?.sha256).to.equal(b[1]?.sha256);
  });

  it('sets Filename on the one line that has it, whatever the description says', () => {
    const stanza = 'Package: x\nDescription: tricky\n Filename: evil\nFilename: a/b.deb\nSize: 1\n';
    expect(withFilename(stanza, 'pool/1/a/b.deb')).to.equal('Package: x\nDescription: tricky\n Filename: evil\nFilename: pool/1/a/b.deb\nSize: 1\n');
    expect(withFilename(stanza, '$& $1')).to.include('Filename: $& $1\n');
  });

  it('writes a Release with its date in UTC, by-hash, and each index with size and SHA-256', async () => {
    const files = await packagesFiles('main/binary-amd64', ['Package: a\n']);
    const text = releaseText({ origin: 'artifact-repo', label: 'dpkg/hello', suite: 'stable', date: new Date('2026-12-07T01:02:03Z'), architectures: ['amd64', 'all'], components: ['main'], byHash: true, archAllInEach: true }, files);
    expect(text).to.match(/^Origin: artifact-repo\nLabel: dpkg\/hello\nSuite: stable\nCodename: stable\nDate: Mon, 07 Dec 2026 01:02:03 UTC\n/);
    expect(text).to.include('Architectures: amd64 all\nComponents: main\nNo-Support-for-Architecture-all: Packages\nAcquire-By-Hash: yes\n');
    expect(text).to.include(`SHA256:\n ${files[0]?.sha256} ${String(files[0]?.body.length).padStart(16)} main/binary-amd64/Packages\n`);
    expect(text.endsWith('main/binary-amd64/Packages.gz\n')).to.equal(true);
    expect(releaseDate(new Date('2026-01-05T00:00:00Z'))).to.equal('Mon, 05 Jan 2026 00:00:00 UTC');
    const flat = releaseText({ origin: 'o', label: 'l', date: new Date(0), byHash: false, archAllInEach: false }, files);
    expect(flat).to.not.include('Suite:').and.not.include('Acquire-By-Hash');
  });

  it('a suite lists at most MAX_SUITE_ARCHITECTURES architectures: the newest builds\' first', () => {
    const many = Array.from({ length: MAX_SUITE_ARCHITECTURES + 5 }, (_, i) => deb(String(100 - i), `2026-01-01T00:00:${String(59 - i).padStart(2, '0')}.000Z`, 'tool', '1.0', `arch${i}`)).sort(newestSealedFirst);
    const listed = suitePackages(many, 'stable');
    expect(new Set(listed.map((d) => d.package.arch)).size).to.equal(MAX_SUITE_ARCHITECTURES);
    expect(listed.map((d) => d.package.arch)).to.include('arch0').and.not.include(`arch${MAX_SUITE_ARCHITECTURES + 4}`);
  });

  it('a suite stops at MAX_SUITE_BYTES of indexes, counting an all stanza once per architecture, keeping the newest', () => {
    const big = (build: string, name: string, arch: string): PackageInBuild => {
      const d = deb(build, `2026-01-${build.padStart(2, '0')}T00:00:00.000Z`, name, '1.0', arch);
      return { ...d, package: { ...d.package, stanza: `${d.package.stanza}Description: x\n ${'y'.repeat(6 * 1024 * 1024)}\n` } };
    };
    // Ten builds of 6 MiB each: all fit but the oldest ones.
    const debs = Array.from({ length: 14 }, (_, i) => big(String(i + 1), `p${i}`, 'amd64')).sort(newestSealedFirst);
    const listed = suitePackages(debs, 'stable');
    expect(listed.length).to.be.within(9, 11);
    expect(listed[0]?.build[2]).to.equal('14');
    expect(listed.map((d) => d.build[2])).to.not.include('1');
    // An all stanza is copied into each architecture's index: with 4 architectures, a few fit.
    const withAll = [deb('20', '2026-02-01T00:00:00.000Z', 'a', '1', 'amd64'), deb('20', '2026-02-01T00:00:00.000Z', 'b', '1', 'arm64'), deb('20', '2026-02-01T00:00:00.000Z', 'c', '1', 'i386'), ...Array.from({ length: 6 }, (_, i) => big('19', `all${i}`, 'all'))];
    const listedAll = suitePackages(withAll.sort(newestSealedFirst), 'stable');
    const allBytes = listedAll.filter((d) => d.package.arch === 'all').reduce((n, d) => n + Buffer.byteLength(d.package.stanza ?? ''), 0);
    expect(allBytes * 4).to.be.at.most(MAX_SUITE_BYTES);
    expect(listedAll.filter((d) => d.package.arch === 'all').length).to.be.within(1, 3);
  });

  it('reads back what a Release lists', () => {
    const files = [{ path: 'main/binary-amd64/Packages', body: Buffer.from('x'), sha256: 'a'.repeat(64) }];
    const text = releaseText({ origin: 'o', label: 'l', date: new Date(0), byHash: true, archAllInEach: false, description: 'SHA256: not this' }, files);
    expect(listedIn(text)).to.deep.equal([{ path: 'main/binary-amd64/Packages', sha256: 'a'.repeat(64) }]);
    expect(listedIn('')).to.deep.equal([]);
  });
});
