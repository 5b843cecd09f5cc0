import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { PackageProblem } from '../../server/domain/package-problem.js';
import { parseWheelName } from '../../server/domain/python-dist.js';
import { PACKAGE_LIMITS, readDebControl, readWheelMetadata } from '../../server/services/package-reader.js';

const CONTROL = [
  'Package: hello',
  'Version: 2.10-3',
  'Architecture: amd64',
  'Maintainer: Jane Doe <jane@example.org>',
  'Description: the classic greeting',
  ' GNU hello prints a friendly greeting.',
  ' .',
  ' It is an example.',
  '',
].join('\n');

type Compression = 'none' | 'gz' | 'xz' | 'zst';
const MEMBER: Record<Compression, string> = { none: 'control.tar', gz: 'control.tar.gz', xz: 'control.tar.xz', zst: 'control.tar.zst' };

/** An ar archive as dpkg-deb writes one: the global header, 60-byte member headers, even padding. */
function arArchive(members: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, data] of members) {
    const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(header, 'latin1'), data);
    if (data.length % 2 === 1) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

async function tarOf(files: Array<[string, string | Buffer]>): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of archive) chunks.push(chunk as Buffer);
  })();
  for (const [name, content] of files) {
    if (name.endsWith('/')) archive.entry({ name, type: 'directory', mode: 0o755 });
    else archive.entry({ name, mode: 0o644 }, typeof content === 'string' ? Buffer.from(content) : content);
  }
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}

function hasCommand(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function compress(kind: Compression, bytes: Buffer): Buffer {
  if (kind === 'gz') return gzipSync(bytes);
  if (kind === 'xz') return execFileSync('xz', ['-c', '-T1'], { input: bytes, maxBuffer: 1 << 28 });
  if (kind === 'zst') return execFileSync('zstd', ['-c', '-q'], { input: bytes, maxBuffer: 1 << 28 });
  return bytes;
}

/** A zstd frame by hand: a window descriptor, then the blocks given (raw blocks of the bytes). */
function zstdFrame(windowByte: number, blocks: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, windowByte])];
  blocks.forEach((block, i) => {
    const header = ((block.length << 3) | (i === blocks.length - 1 ? 1 : 0)) >>> 0;
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), block);
  });
  return Buffer.concat(parts);
}

/** Why reading failed: the PackageProblem's message (any other error, or none, fails the test). */
async function refusal(reading: Promise<unknown>): Promise<string> {
  try {
    await reading;
  } catch (err) {
    if (err instanceof PackageProblem) return err.message;
    throw err;
  }
  throw new Error('read without a PackageProblem');
}

// A full collection on demand, to measure what a read holds rather than its garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const used = (): number => {
  const memory = process.memoryUsage();
  return memory.heapUsed + memory.arrayBuffers;
};

/**
 * The most memory held (after a collection) while `work` runs, over what was held before:
 * sampled on turns of the event loop (which the reader lets go every MiB), 10 ms apart.
 */
async function heldWhile(work: () => Promise<unknown>): Promise<{ peak: number; samples: number }> {
  gc();
  gc();
  const before = used();
  let peak = 0;
  let samples = 0;
  let running = true;
  let last = -Infinity;
  const sample = (): void => {
    if (!running) return;
    if (performance.now() - last >= 10) {
      // Twice: V8 frees the ArrayBuffers a collection found dead in the background, and
      // counts them until then; the second collection finishes that sweep first.
      gc();
      gc();
      samples++;
      peak = Math.max(peak, used() - before);
      last = performance.now();
    }
    setImmediate(sample);
  };
  setImmediate(sample);
  try {
    await work();
  } catch {
    // the caller checks the outcome separately
  } finally {
    running = false;
  }
  return { peak, samples };
}

describe('services/package-reader: a .deb\'s control file, read safely', function () {
  this.timeout(60_000);
  let dir: string;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'package-reader-'));
    process.on('unhandledRejection', onRejection);
  });
  after(async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.off('unhandledRejection', onRejection);
    await rm(dir, { recursive: true, force: true });
    expect(rejections, 'unhandled rejections').to.deep.equal([]);
  });

  let count = 0;
  async function write(bytes: Buffer): Promise<string> {
    const file = join(dir, `p${++count}.deb`);
    await writeFile(file, bytes);
    return file;
  }

  /** A .deb: debian-binary, the control member, then a data.tar.xz whose header promises far more than the file holds (it is never read). */
  async function deb(options: { control?: string; compression?: Compression; files?: Array<[string, string | Buffer]>; member?: Buffer } = {}): Promise<Buffer> {
    const compression = options.compression ?? 'gz';
    const control = options.member ?? compress(compression, await tarOf([['./', ''], ...(options.files ?? [['./control', options.control ?? CONTROL]])]));
    const archive = arArchive([
      ['debian-binary', Buffer.from('2.0\n')],
      [MEMBER[compression], control],
    ]);
    return Buffer.concat([archive, Buffer.from(`${'data.tar.xz'.padEnd(16)}${'0'.padEnd(32)}9999999999\`\n`, 'latin1'), Buffer.from('not xz')]);
  }

  for (const compression of ['none', 'gz', 'xz', 'zst'] as const) {
    it(`reads the control file of a ${MEMBER[compression]} (and never data.tar)`, async function () {
      if (compression === 'zst' && !hasCommand('zstd')) {
        if (process.env.CI) throw new Error('zstd is not installed (needed on CI)');
        this.skip();
      }
      const file = await write(await deb({ compression, files: [['./md5sums', 'abc  usr/bin/hello\n'], ['./control', CONTROL], ['./postinst', '#!/bin/sh\n']] }));
      const read = await readDebControl(file);
      expect(read).to.deep.include({ package: 'hello', version: '2.10-3', architecture: 'amd64' });
      expect([...read.fields.keys()]).to.deep.equal(['Package', 'Version', 'Architecture', 'Maintainer', 'Description']);
      expect(read.fields.get('Description')).to.equal('the classic greeting\n GNU hello prints a friendly greeting.\n .\n It is an example.');
    });
  }

  it('takes "control" as well as "./control", and skips "_" members before it as dpkg does', async () => {
    const tar = gzipSync(await tarOf([['control', CONTROL]]));
    const file = await write(arArchive([['debian-binary', Buffer.from('2.0\n')], ['_gpgorigin', Buffer.from('sig')], ['control.tar.gz', tar]]));
    expect((await readDebControl(file)).package).to.equal('hello');
  });

  it('refuses a file that is no .deb, or not one of format 2.x', async () => {
    expect(await refusal(readDebControl(await write(Buffer.from('hello, world\n'))))).to.equal('not a Debian package (not an ar archive)');
    expect(await refusal(readDebControl(await write(Buffer.alloc(0))))).to.equal('not a Debian package (not an ar archive)');
    const tar = gzipSync(await tarOf([['./control', CONTROL]]));
    expect(await refusal(readDebControl(await write(arArchive([['control.tar.gz', tar], ['debian-binary', Buffer.from('2.0\n')]]))))).to.equal('not a Debian package: the first member is "control.tar.gz", not debian-binary');
    expect(await refusal(readDebControl(await write(arArchive([['debian-binary', Buffer.from('3.0\n')], ['control.tar.gz', tar]]))))).to.match(/^debian-binary says "3\.0\\n", not 2\.x/);
    expect(await refusal(readDebControl(await write(arArchive([['debian-binary', Buffer.from('2.0\n')], ['data.tar.gz', tar]]))))).to.match(/^not a Debian package: "data\.tar\.gz" follows debian-binary/);
    expect(await refusal(readDebControl(await write(arArchive([['debian-binary', Buffer.from('2.0\n')]]))))).to.equal('not a Debian package: no control.tar member');
    expect(await refusal(readDebControl(await write(Buffer.from('!<arch>\ndebian-binary   0    '))))).to.match(/^not a Debian package: truncated in the ar header/);
    const badHeader = arArchive([['debian-binary', Buffer.from('2.0\n')], ['control.tar.gz', tar]]);
    badHeader.write('1x', 8 + 48, 'latin1'); // the size field of debian-binary
    expect(await refusal(readDebControl(await write(badHeader)))).to.equal('not a Debian package: a bad ar header at byte 8');
  });

  it('says "truncated" for a .deb cut in the middle of its control member, or a member cut short', async () => {
    const whole = await deb({ compression: 'gz', files: [['./control', CONTROL], ['./md5sums', Buffer.alloc(200_000, 'a')]] });
    const memberStart = 8 + 60 + 4 + 60;
    const memberSize = Number(whole.toString('latin1', 8 + 60 + 4 + 48, 8 + 60 + 4 + 58).trim());
    const cut = whole.subarray(0, memberStart + Math.floor(memberSize / 2));
    expect(await refusal(readDebControl(await write(cut)))).to.equal('control.tar.gz: truncated');
    // The ar header honest about a member whose compressed stream stops short.
    for (const compression of ['gz', 'xz', 'zst'] as const) {
      if (compression === 'zst' && !hasCommand('zstd')) continue;
      const member = compress(compression, await tarOf([['./control', CONTROL], ['./md5sums', Buffer.alloc(100_000, 'a')]]));
      const short = await deb({ compression, member: member.subarray(0, Math.floor(member.length / 2)) });
      expect(await refusal(readDebControl(await write(short))), compression).to.equal(`${MEMBER[compression]}: truncated`);
    }
    // A tar that stops short of its entry.
    const tar = await tarOf([['./md5sums', Buffer.alloc(10_000, 'a')], ['./control', CONTROL]]);
    expect(await refusal(readDebControl(await write(await deb({ compression: 'none', member: tar.subarray(0, 5000) }))))).to.equal('control.tar: truncated');
    expect(await refusal(readDebControl(await write(await deb({ compression: 'gz', member: gzipSync(Buffer.alloc(2048, 'x')) }))))).to.match(/^control\.tar\.gz: not a valid tar archive/);
    expect(await refusal(readDebControl(await write(await deb({ compression: 'gz', member: Buffer.from('not gzip at all') }))))).to.match(/^control\.tar\.gz: not valid gzip data/);
    expect(await refusal(readDebControl(await write(await deb({ compression: 'xz', member: Buffer.from('not xz at all') }))))).to.match(/^control\.tar\.xz: /);
  });

  it('refuses a control file holding a second stanza, and a control.tar without one', async () => {
    const injected = 'Package: hello\nVersion: 1\nArchitecture: all\nDescription: x\n\nPackage: libc6\nVersion: 99\nArchitecture: all\n';
    expect(await refusal(readDebControl(await write(await deb({ control: injected }))))).to.equal('control: the blank line 5 ends the stanza, and line 6 follows (one stanza only)');
    expect(await refusal(readDebControl(await write(await deb({ files: [['./md5sums', 'x']] }))))).to.equal('no control file in control.tar.gz');
    expect(await refusal(readDebControl(await write(await deb({ files: [['./control', CONTROL], ['control', CONTROL]] }))))).to.equal('control.tar.gz: two control files');
    expect(await refusal(readDebControl(await write(await deb({ control: 'Package: h\u00e9llo\nVersion: 1\nArchitecture: all\n' }))))).to.equal('control: Package "h\u00e9llo" is not a Debian package name (^[a-z0-9][a-z0-9+.-]{1,127}$)');
    expect(await refusal(readDebControl(await write(await deb({ files: [['./control', Buffer.from([0x50, 0x3a, 0x20, 0xff, 0x0a])]] }))))).to.equal('control is not UTF-8');
    expect(await refusal(readDebControl(await write(await deb({ files: [['./control', Buffer.alloc(PACKAGE_LIMITS.controlFile + 1, 'a')]] }))))).to.equal('control larger than 1 MiB');
    const entries: Array<[string, string]> = Array.from({ length: PACKAGE_LIMITS.controlEntries + 1 }, (_, i) => [`./f${i}`, '']);
    expect(await refusal(readDebControl(await write(await deb({ files: entries }))))).to.equal('control.tar.gz: more than 1000 entries');
  });

  it('refuses a control.tar that decompresses past the cap, holding little memory while it reads', async () => {
    const bomb = await tarOf([['./control', CONTROL], ['./md5sums', Buffer.alloc(20 * 1024 * 1024)]]);
    for (const compression of ['gz', 'xz', 'zst'] as const) {
      if (compression === 'zst' && !hasCommand('zstd')) continue;
      const member = compress(compression, bomb);
      expect(member.length, compression).to.be.below(4 * 1024 * 1024);
      const file = await write(await deb({ compression, member }));
      let message = '';
      const held = await heldWhile(async () => {
        message = await refusal(readDebControl(file));
      });
      expect(message, compression).to.equal(`${MEMBER[compression]}: larger than 16 MiB uncompressed`);
      expect(held.samples, compression).to.be.above(2);
      // Streamed: a few chunks at a time, never the 16 MiB read (fzstd keeps its window, 2 MiB here).
      if (process.env.PACKAGE_READER_MEMORY) console.log(`${compression}: ${(held.peak / 1024 / 1024).toFixed(1)} MiB held, ${held.samples} samples`);
      expect(held.peak, `${compression}: ${(held.peak / 1024 / 1024).toFixed(1)} MiB held`).to.be.below(8 * 1024 * 1024);
    }
    expect(await refusal(readDebControl(await write(await deb({ compression: 'none', member: bomb }))))).to.equal('control.tar larger than 16 MiB');
  });

  it('refuses zstd frames fzstd would pay for: a large window, a flood of tiny blocks', async () => {
    // 2^(10 + 17) = 128 MiB declared by one byte, for no content.
    const window = zstdFrame(17 << 3, [Buffer.alloc(0)]);
    expect(await refusal(readDebControl(await write(await deb({ compression: 'zst', member: window }))))).to.equal('control.tar.zst: a zstd window of 128 MiB, over 16 MiB');
    const flood = zstdFrame(10 << 3, Array.from({ length: 2000 }, () => Buffer.from('a')));
    expect(await refusal(readDebControl(await write(await deb({ compression: 'zst', member: flood }))))).to.equal('control.tar.zst: more than 1024 zstd blocks');
    expect(await refusal(readDebControl(await write(await deb({ compression: 'zst', member: Buffer.from('not zstd, long enough') }))))).to.equal('control.tar.zst: not zstd data');
    // A hand-made frame of raw blocks decodes like any other.
    const tar = await tarOf([['./control', CONTROL]]);
    const blocks = [tar.subarray(0, 1000), tar.subarray(1000)];
    expect((await readDebControl(await write(await deb({ compression: 'zst', member: zstdFrame(10 << 3, blocks) })))).package).to.equal('hello');
  });

  it('still reads an .xz after the failures above (xz-decompress\'s lock was released)', async () => {
    const file = await write(await deb({ compression: 'xz' }));
    const reads = await Promise.all([readDebControl(file), readDebControl(file), refusal(readDebControl(await write(await deb({ compression: 'xz', member: Buffer.from('garbage') }))))]);
    expect(reads[0].package).to.equal('hello');
    expect(reads[1].package).to.equal('hello');
  });
});

describe('services/package-reader: a wheel\'s METADATA, read safely', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'package-reader-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const METADATA = 'Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\nRequires-Python: >=3.8\nSummary: a test\n\nA long description.\n';

  /** A wheel written by Python's zipfile: each entry its text, `repeat` times, deflated. */
  async function wheel(name: string, entries: Array<{ name: string; text: string; repeat?: number }>): Promise<string> {
    const file = join(dir, name);
    const script = [
      'import json, sys, zipfile',
      'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:',
      '    for e in json.load(sys.stdin):',
      '        with z.open(e["name"], "w") as f:',
      '            data = e["text"].encode()',
      '            for _ in range(e.get("repeat", 1)): f.write(data)',
    ].join('\n');
    execFileSync('python3', ['-W', 'ignore', '-c', script, file], { input: JSON.stringify(entries), stdio: 'pipe' });
    return file;
  }

  const standard = (metadata: string, dist = 'foo_bar-1.0.dist-info') => [
    { name: 'foo_bar/__init__.py', text: 'x = 1\n' },
    { name: `${dist}/METADATA`, text: metadata },
    { name: `${dist}/WHEEL`, text: 'Wheel-Version: 1.0\n' },
    { name: `${dist}/RECORD`, text: '' },
  ];
  const expected = (file: string) => {
    const parsed = parseWheelName(file.slice(file.lastIndexOf('/') + 1));
    if (parsed === null) throw new Error(`not a wheel name: ${file}`);
    return parsed;
  };

  it('reads a wheel\'s METADATA, finding its .dist-info directory as pip does', async () => {
    const file = await wheel('foo_bar-1.0-py3-none-any.whl', standard(METADATA));
    expect(await readWheelMetadata(file, expected(file))).to.deep.equal({ name: 'foo-bar', version: '1.0', requiresPython: '>=3.8', metadata: Buffer.from(METADATA) });
    // The directory's name compared normalised, regardless of case; the version's "-" escaped in the file name.
    const other = await wheel('Foo.Bar-1.0_rc1-1-py3-none-any.whl', standard(METADATA.replace('Version: 1.0', 'Version: 1.0-rc1'), 'foo.BAR-1.0_rc1.dist-info'));
    expect(await readWheelMetadata(other, expected(other))).to.deep.include({ name: 'foo-bar', version: '1.0-rc1' });
  });

  it('refuses a wheel whose METADATA or .dist-info names another project or version', async () => {
    const file = await wheel('foo_bar-1.0-py3-none-any.whl', standard(METADATA.replace('Name: Foo.Bar', 'Name: requests')));
    expect(await refusal(readWheelMetadata(file, expected(file)))).to.equal('METADATA says requests 1.0, the file name says foo_bar 1.0');
    const version = await wheel('foo_bar-1.0-py3-none-any.whl', standard(METADATA.replace('Version: 1.0', 'Version: 2.0')));
    expect(await refusal(readWheelMetadata(version, expected(version)))).to.equal('METADATA says Foo.Bar 2.0, the file name says foo_bar 1.0');
    const dir2 = await wheel('foo_bar-1.0-py3-none-any.whl', standard(METADATA, 'requests-1.0.dist-info'));
    expect(await refusal(readWheelMetadata(dir2, expected(dir2)))).to.equal('the wheel\'s .dist-info directory is "requests-1.0.dist-info", not foo_bar-1.0.dist-info');
    const two = await wheel('foo_bar-1.0-py3-none-any.whl', [...standard(METADATA), { name: 'other-1.0.dist-info/METADATA', text: METADATA }]);
    expect(await refusal(readWheelMetadata(two, expected(two)))).to.match(/^more than one \.dist-info directory in the wheel/);
    const none = await wheel('foo_bar-1.0-py3-none-any.whl', [{ name: 'foo_bar/__init__.py', text: '' }]);
    expect(await refusal(readWheelMetadata(none, expected(none)))).to.equal('no .dist-info directory in the wheel');
    const twice = await wheel('foo_bar-1.0-py3-none-any.whl', [...standard(METADATA), { name: 'foo_bar-1.0.dist-info/METADATA', text: METADATA.replace('Foo.Bar', 'evil') }]);
    expect(await refusal(readWheelMetadata(twice, expected(twice)))).to.equal('two entries named foo_bar-1.0.dist-info/METADATA');
    const bad = await wheel('foo_bar-1.0-py3-none-any.whl', standard('Name: Foo.Bar\n'));
    expect(await refusal(readWheelMetadata(bad, expected(bad)))).to.equal('METADATA: no Version');
  });

  it('refuses a METADATA bomb by its declared size, and by its bytes when the size lies', async () => {
    const spaces = ' '.repeat(1024 * 1024);
    const file = await wheel('foo_bar-1.0-py3-none-any.whl', standard(`${METADATA.trim()}\n${spaces}`).map((e) => (e.name.endsWith('METADATA') ? { ...e, text: spaces, repeat: 100 } : e)));
    expect((await readFile(file)).length).to.be.below(1024 * 1024);
    expect(await refusal(readWheelMetadata(file, expected(file)))).to.equal('METADATA larger than 1 MiB');
    // The central directory says 1000 bytes: the read stops just past them.
    const lying = await readFile(file);
    setCentralSize(lying, 'foo_bar-1.0.dist-info/METADATA', 1000);
    const lyingFile = join(dir, 'foo_bar-1.0-py3-none-any.whl');
    await writeFile(lyingFile, lying);
    let message = '';
    const held = await heldWhile(async () => {
      message = await refusal(readWheelMetadata(lyingFile, expected(lyingFile)));
    });
    expect(message).to.match(/^METADATA: too many bytes in the stream\. expected 1000/);
    expect(held.peak).to.be.below(4 * 1024 * 1024);
  });

  it('refuses a wheel whose headers lie about sizes, a truncated wheel, and what is no zip', async () => {
    const good = await readFile(await wheel('foo_bar-1.0-py3-none-any.whl', standard(METADATA)));
    const name = 'foo_bar-1.0.dist-info/METADATA';
    const file = join(dir, 'foo_bar-1.0-py3-none-any.whl');
    // The central directory says fewer bytes than METADATA holds, then more.
    for (const [size, pattern] of [[10, /^METADATA: too many bytes in the stream/], [METADATA.length + 5, /^METADATA: not enough bytes in the stream/]] as const) {
      const lying = Buffer.from(good);
      setCentralSize(lying, name, size);
      await writeFile(file, lying);
      expect(await refusal(readWheelMetadata(file, expected(file)))).to.match(pattern);
    }
    // The local header's name length says more than it holds: the data read is not METADATA's.
    const local = Buffer.from(good);
    const at = local.indexOf('PK\x03\x04', local.indexOf('foo_bar/__init__.py') + 10, 'latin1');
    local.writeUInt16LE(0xffff, at + 28); // its extra field's length
    await writeFile(file, local);
    expect(await refusal(readWheelMetadata(file, expected(file)))).to.match(/^METADATA: /);
    await writeFile(file, good.subarray(0, good.length - 30));
    expect(await refusal(readWheelMetadata(file, expected(file)))).to.match(/^not a valid zip file: /);
    await writeFile(file, 'not a zip file');
    expect(await refusal(readWheelMetadata(file, expected(file)))).to.match(/^not a valid zip file: End of central directory record signature not found/);
  });
});

/** Sets the uncompressed size the central directory gives an entry. */
function setCentralSize(zip: Buffer, name: string, size: number): void {
  for (let at = zip.indexOf('PK\x01\x02', 0, 'latin1'); at >= 0; at = zip.indexOf('PK\x01\x02', at + 4, 'latin1')) {
    const nameLength = zip.readUInt16LE(at + 28);
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      zip.writeUInt32LE(size, at + 24);
      return;
    }
  }
  throw new Error(`${name} is not in the central directory`);
}
