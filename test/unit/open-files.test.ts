// storage/io/open-files.ts: recordings kept open between uses, bounded, and never closed
// under a use in progress.
import { expect } from 'chai';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../helpers/harness.js';
import { OpenFiles } from '../../server/storage/io/open-files.js';

/** The files this process holds open below `dir`. */
async function openBelow(dir: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await import('node:fs/promises').then((fs) => fs.readlink(`/proc/self/fd/${fd}`)).catch(() => '');
    if (target.startsWith(dir)) n++;
  }
  return n;
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

async function readAll(files: OpenFiles, file: string): Promise<string> {
  return files.with(file, async (handle) => {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, 64, 0);
    return buffer.toString('utf8', 0, bytesRead);
  });
}

describe('storage/io/open-files: files kept open between uses', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('open-files-');
    for (const name of ['a', 'b', 'c', 'd']) await writeFile(path.join(dir, name), `file ${name}`);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps a file open for the next use, and at most `max` at once (the least recently used closed)', async () => {
    const files = new OpenFiles('r', 2);
    expect(await readAll(files, path.join(dir, 'a'))).to.equal('file a');
    await settle();
    expect(await openBelow(dir)).to.equal(1);
    for (const name of ['b', 'c', 'd', 'a']) expect(await readAll(files, path.join(dir, name))).to.equal(`file ${name}`);
    await settle();
    expect(await openBelow(dir)).to.equal(2);
    files.closeAll();
    await settle();
    expect(await openBelow(dir)).to.equal(0);
  });

  it('a file dropped while in use stays open until that use ends', async () => {
    const files = new OpenFiles('r', 1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const using = files.with(path.join(dir, 'a'), async (handle) => {
      await held;
      const buffer = Buffer.alloc(16);
      return (await handle.read(buffer, 0, 16, 0)).bytesRead;
    });
    await settle();
    // Another file takes its place: a is no longer kept, but still in use.
    expect(await readAll(files, path.join(dir, 'b'))).to.equal('file b');
    release();
    expect(await using).to.equal('file a'.length);
    await settle();
    expect(await openBelow(dir)).to.equal(1);
    files.closeAll();
  });

  it('forget: the next use opens the file anew (a file replaced is read as it is now)', async () => {
    const files = new OpenFiles('r', 4);
    const a = path.join(dir, 'a');
    expect(await readAll(files, a)).to.equal('file a');
    await writeFile(path.join(dir, 'new'), 'replaced');
    await rename(path.join(dir, 'new'), a);
    expect(await readAll(files, a)).to.equal('file a');
    files.forget(a);
    expect(await readAll(files, a)).to.equal('replaced');
    files.closeAll();
  });

  it('after closeAll a use still works, and leaves nothing open', async () => {
    const files = new OpenFiles('r', 4);
    expect(await readAll(files, path.join(dir, 'a'))).to.equal('file a');
    files.closeAll();
    expect(await readAll(files, path.join(dir, 'b'))).to.equal('file b');
    await settle();
    expect(await openBelow(dir)).to.equal(0);
  });

  it('an open that failed is not kept: the file made since is opened', async () => {
    const files = new OpenFiles('a', 4, 0o644);
    const missing = path.join(dir, 'no-such-folder', 'x');
    const error = await files.with(missing, (handle) => handle.write('x')).then(() => null, (err: NodeJS.ErrnoException) => err);
    expect(error?.code).to.equal('ENOENT');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(missing)));
    await files.with(missing, (handle) => handle.write('line\n'));
    await files.with(missing, (handle) => handle.write('line\n'));
    files.closeAll();
    expect(await import('node:fs/promises').then((fs) => fs.readFile(missing, 'utf8'))).to.equal('line\nline\n');
  });
});
