import { expect } from 'chai';
import { debIdentity, debVersionProblem, PackageProblem, packagesStanza, parseControl } from '../../server/domain/deb-control.js';
import { normalizeProjectName, parseCoreMetadata, parseSdistName, parseWheelName } from '../../server/domain/python-dist.js';
import { packageFormatOf } from '../../server/services/package-reader.js';

const CONTROL = [
  'Package: hello',
  'Version: 1:2.10-3+b1',
  'Architecture: amd64',
  'Maintainer: Jane Doe <jane@example.org>',
  'Depends: libc6 (>= 2.34)',
  'Description: the classic greeting',
  ' GNU hello prints a friendly greeting.',
  ' .',
  '\tIt is an example of GNU coding standards.',
  '',
].join('\n');

const problem = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof PackageProblem) return err.message;
    throw err;
  }
  throw new Error('no PackageProblem');
};

describe('domain/deb-control: what a control file says, and the Packages stanza', () => {
  it('reads the fields in order, a multi-line Description exactly', () => {
    const fields = parseControl(CONTROL);
    expect([...fields.keys()]).to.deep.equal(['Package', 'Version', 'Architecture', 'Maintainer', 'Depends', 'Description']);
    expect(fields.get('Description')).to.equal('the classic greeting\n GNU hello prints a friendly greeting.\n .\n\tIt is an example of GNU coding standards.');
    expect(fields.get('Depends')).to.equal('libc6 (>= 2.34)');
    expect(debIdentity(fields)).to.deep.equal({ package: 'hello', version: '1:2.10-3+b1', architecture: 'amd64' });
    // Trailing blank lines, a comment, a value without a blank after the colon.
    expect([...parseControl('# built by CI\nPackage:x1\nVersion: 1\nArchitecture: all\n\n\n').entries()]).to.deep.equal([['Package', 'x1'], ['Version', '1'], ['Architecture', 'all']]);
    // Field names are matched regardless of case.
    expect(debIdentity(parseControl('package: a1\nVERSION: 0.1\narchitecture: arm64\n'))).to.deep.equal({ package: 'a1', version: '0.1', architecture: 'arm64' });
  });

  it('refuses a second stanza, duplicates, bad names, stray lines', () => {
    expect(problem(() => parseControl('Package: a1\nVersion: 1\n\nPackage: evil\nVersion: 2\n'))).to.equal('control: the blank line 3 ends the stanza, and line 4 follows (one stanza only)');
    // A line of blanks is a blank line too (some parsers end a stanza on it).
    expect(problem(() => parseControl('Package: a1\n \nVersion: 1\n'))).to.match(/^control: the blank line 2 ends the stanza/);
    expect(problem(() => parseControl('Description: x\n \n more\n'))).to.match(/^control: the blank line 2/);
    expect(problem(() => parseControl('Package: a1\npackage: a2\n'))).to.equal('control: the field package is given twice');
    expect(problem(() => parseControl(' continued\n'))).to.equal('control: line 1 continues no field');
    expect(problem(() => parseControl('Package a1\n'))).to.equal('control: line 1 is not a field (name: value)');
    expect(problem(() => parseControl('-----BEGIN PGP SIGNED MESSAGE-----\n'))).to.match(/^control: line 1 is not a field/);
    expect(problem(() => parseControl('-Package: a\n'))).to.match(/is not a field name$/);
    expect(problem(() => parseControl('Pack age: a\n'))).to.match(/is not a field name$/);
    expect(problem(() => parseControl('Packäge: a\n'))).to.match(/is not a field name$/);
    expect(problem(() => parseControl('Package: a\r\n'))).to.equal('control: line 1 holds a control character (U+000D)');
    expect(problem(() => parseControl('Package: a\u0000b\n'))).to.match(/U\+0000/);
    expect(problem(() => parseControl('\n\n'))).to.equal('control: no fields');
    const many = Array.from({ length: 101 }, (_, i) => `F${i}: v`).join('\n');
    expect(problem(() => parseControl(many))).to.equal('control: more than 100 fields');
    expect(parseControl(Array.from({ length: 100 }, (_, i) => `F${i}: v`).join('\n')).size).to.equal(100);
  });

  it('requires a Debian name, version (policy 5.6.12) and architecture', () => {
    const identity = (text: string) => debIdentity(parseControl(text));
    expect(problem(() => identity('Version: 1\nArchitecture: all\n'))).to.equal('control: no Package field');
    expect(problem(() => identity('Package: a1\nArchitecture: all\n'))).to.equal('control: no Version field');
    expect(problem(() => identity('Package: a1\nVersion: 1\n'))).to.equal('control: no Architecture field');
    expect(problem(() => identity('Package: Hello\nVersion: 1\nArchitecture: all\n'))).to.match(/^control: Package "Hello" is not a Debian package name/);
    expect(problem(() => identity('Package: a\nVersion: 1\nArchitecture: all\n'))).to.match(/^control: Package "a"/); // two characters at least
    expect(problem(() => identity('Package: a1\nVersion: 1\nArchitecture: amd 64\n'))).to.match(/^control: Architecture/);
    expect(problem(() => identity('Package: a1\nVersion: v1\nArchitecture: all\n'))).to.match(/^control: Version "v1" is not a Debian version: its upstream version must start with a digit$/);
    for (const good of ['1', '0.1~rc1', '2:1.0-1', '1.0-1-2', '1:2:3', '1.0+dfsg-0ubuntu1~22.04', '1-0']) expect(debVersionProblem(good), good).to.equal(null);
    for (const bad of ['', 'a1', '1:', 'x:1', '1:a', '1.0-', '1.0-a_b', '1:2_3', '1 0', '1.0-1:2', '1'.repeat(257)]) expect(debVersionProblem(bad), bad).to.be.a('string');
  });

  it('writes the Packages stanza from the parsed fields, the repository\'s Filename, Size and SHA256 last', () => {
    const fields = parseControl(['Maintainer: J <j@e.org>', 'Filename: pool/evil.deb', 'Package: hello', 'size: 1', 'MD5sum: 0123', 'SHA256: ffff', 'Version: 1.0-1', 'Architecture: all', 'Description: hi', ' there', ''].join('\n'));
    const sha256 = 'a'.repeat(64);
    expect(packagesStanza(fields, { filename: 'builds/p/1/hello_1.0-1_all.deb', size: 1234, sha256 })).to.equal(
      ['Package: hello', 'Maintainer: J <j@e.org>', 'Version: 1.0-1', 'Architecture: all', 'Description: hi', ' there', 'Filename: builds/p/1/hello_1.0-1_all.deb', 'Size: 1234', `SHA256: ${sha256}`, ''].join('\n'),
    );
    expect(packagesStanza(parseControl('Package: a1\nConffiles:\n /etc/a1 0123\n'), { filename: 'a.deb', size: 0, sha256 })).to.equal(`Package: a1\nConffiles:\n /etc/a1 0123\nFilename: a.deb\nSize: 0\nSHA256: ${sha256}\n`);
    // The file name is a build's: one that would break the stanza is refused.
    expect(problem(() => packagesStanza(fields, { filename: 'a.deb\nPackage: evil', size: 1, sha256 }))).to.match(/cannot be listed/);
    expect(problem(() => packagesStanza(fields, { filename: 'a b.deb', size: 1, sha256 }))).to.match(/cannot be listed/);
    // Whoever made the map, a value cannot start a line of its own.
    expect(problem(() => packagesStanza(new Map([['Package', 'a1\n\nPackage: evil']]), { filename: 'a.deb', size: 1, sha256 }))).to.match(/not a continuation/);
    expect(problem(() => packagesStanza(new Map([['Package', 'a1\nPackage: evil']]), { filename: 'a.deb', size: 1, sha256 }))).to.match(/not a continuation/);
    expect(() => packagesStanza(fields, { filename: 'a.deb', size: 1, sha256: 'A'.repeat(64) })).to.throw(RangeError);
  });
});

describe('domain/python-dist: what a distribution\'s name and metadata say', () => {
  it('normalises project names as PEP 503 does', () => {
    for (const name of ['friendly-bard', 'Friendly-Bard', 'FRIENDLY-BARD', 'friendly.bard', 'friendly_bard', 'friendly--bard', 'FrIeNdLy-._.-bArD']) {
      expect(normalizeProjectName(name), name).to.equal('friendly-bard');
    }
  });

  it('reads wheel and sdist file names, or says null', () => {
    expect(parseWheelName('foo_bar-1.0-py3-none-any.whl')).to.deep.equal({ name: 'foo-bar', distribution: 'foo_bar', version: '1.0' });
    expect(parseWheelName('Foo.Bar-2.0.post1-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')).to.deep.equal({ name: 'foo-bar', distribution: 'Foo.Bar', version: '2.0.post1' });
    expect(parseWheelName('pkg-1.0-20240101_x-py2.py3-none-any.whl')).to.deep.equal({ name: 'pkg', distribution: 'pkg', version: '1.0' });
    expect(parseWheelName('pkg-1.0+local_1-py3-none-any.whl')).to.deep.equal({ name: 'pkg', distribution: 'pkg', version: '1.0+local_1' });
    for (const bad of ['pkg-1.0-py3-none.whl', 'pkg-1.0-x1-py3-none-any.whl', 'pkg-1.0-1-2-py3-none-any.whl', '-1.0-py3-none-any.whl', '_pkg-1.0-py3-none-any.whl', 'pkg-1.0-py3-none-any.zip', 'dir/pkg-1.0-py3-none-any.whl', 'pkg-1 0-py3-none-any.whl', 'pkg-1.0-py3-none-any!.whl']) {
      expect(parseWheelName(bad), bad).to.equal(null);
    }
    expect(parseSdistName('foo_bar-1.0.tar.gz')).to.deep.equal({ name: 'foo-bar', distribution: 'foo_bar', version: '1.0' });
    expect(parseSdistName('Foo.Bar-2.0rc1.tar.gz')).to.deep.equal({ name: 'foo-bar', distribution: 'Foo.Bar', version: '2.0rc1' });
    for (const bad of ['foo_bar-1.0.zip', 'foobar.tar.gz', 'foo_bar-.tar.gz', '-1.0.tar.gz', 'foo_bar-1.0 .tar.gz', 'foo_bar-1/0.tar.gz']) expect(parseSdistName(bad), bad).to.equal(null);
  });

  it('tells a package by its file name', () => {
    expect(packageFormatOf('hello_1.0-1_amd64.deb')).to.equal('deb');
    expect(packageFormatOf('out/dist/foo_bar-1.0-py3-none-any.whl')).to.equal('wheel');
    expect(packageFormatOf('foo_bar-1.0.tar.gz')).to.equal('sdist');
    for (const none of ['.deb', 'x.deb.sig', 'foo-bar-1.0.tar.gz', 'x.whl', 'README', 'foo.tar.gz']) expect(packageFormatOf(none), none).to.equal(null);
  });

  it('reads core metadata, refusing what is missing or malformed', () => {
    const text = ['Metadata-Version: 2.1', 'Name: Foo.Bar', 'Version: 1.0', 'requires-python: >=3.8,', '  <4', 'Classifier: A', 'Classifier: B', 'Description-Content-Type: text/markdown', '', 'Name: not a header', ''].join('\n');
    expect(parseCoreMetadata(text)).to.deep.equal({ name: 'Foo.Bar', version: '1.0', requiresPython: '>=3.8, <4' });
    expect(parseCoreMetadata('Name: a\r\nVersion: 1\r\n\r\n')).to.deep.equal({ name: 'a', version: '1', requiresPython: null });
    expect(problem(() => parseCoreMetadata('Version: 1\n'))).to.equal('METADATA: no Name');
    expect(problem(() => parseCoreMetadata('Name: a\n'))).to.equal('METADATA: no Version');
    expect(problem(() => parseCoreMetadata('Name: a\nName: b\nVersion: 1\n'))).to.equal('METADATA: Name is given twice');
    expect(problem(() => parseCoreMetadata('Name: a b\nVersion: 1\n'))).to.match(/^METADATA: Name "a b" is not a project name/);
    expect(problem(() => parseCoreMetadata('Name: a\nVersion: 1 0\n'))).to.match(/^METADATA: Version "1 0" is not a version/);
    expect(problem(() => parseCoreMetadata(`Name: a\nVersion: ${'1'.repeat(129)}\n`))).to.match(/^METADATA: Version/);
    expect(problem(() => parseCoreMetadata(`Name: a\nVersion: 1\nRequires-Python: >=${'3'.repeat(256)}\n`))).to.match(/^METADATA: Requires-Python must be at most 256/);
    expect(problem(() => parseCoreMetadata('Name: a\nVersion: 1\nRequires-Python: >=3\u202e\n'))).to.match(/^METADATA: Requires-Python/);
    expect(problem(() => parseCoreMetadata(' Name: a\n'))).to.equal('METADATA: line 1 continues no header');
    expect(problem(() => parseCoreMetadata('Name a\n'))).to.equal('METADATA: line 1 is not a header (Name: value)');
  });
});
