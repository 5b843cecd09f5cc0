// storage/io/whole-files.ts: a small body written and renamed into place by the writing
// thread in one message; a failure leaves nothing behind and says what the system said.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, REPO_ROOT } from '../helpers/harness.js';
import { writeWholeFile } from '../../server/storage/io/whole-files.js';

async function rejection(promise: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await promise;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected a rejection');
}

describe('storage/io/whole-files: small bodies written by the writing thread', () => {
  let dir: string;

  before(async () => {
    dir = await makeTempDir('whole-files-');
    await mkdir(path.join(dir, 'incoming'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the body read-only and renames it in, making its folder', async () => {
    const temp = path.join(dir, 'incoming', 'a');
    const target = path.join(dir, 'content', 'ab', 'abcdef');
    await writeWholeFile(temp, target, Buffer.from('a small body'));
    expect(await readFile(target, 'utf8')).to.equal('a small body');
    expect((await stat(target)).mode & 0o777).to.equal(0o444);
    expect(await readdir(path.join(dir, 'incoming'))).to.deep.equal([]);
    // Many at once, each its own.
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeWholeFile(path.join(dir, 'incoming', `m${i}`), path.join(dir, 'content', 'many', String(i)), Buffer.from(`body ${i}`))));
    for (const i of [0, 17, 49]) expect(await readFile(path.join(dir, 'content', 'many', String(i)), 'utf8')).to.equal(`body ${i}`);
  });

  it('a temporary name taken already, or a folder it cannot write: rejected with the system\'s code, nothing left behind', async () => {
    const taken = path.join(dir, 'incoming', 'taken');
    await writeFile(taken, 'someone else\'s');
    expect((await rejection(writeWholeFile(taken, path.join(dir, 'content', 'x'), Buffer.from('mine')))).code).to.equal('EEXIST');
    expect(await readFile(taken, 'utf8')).to.equal('someone else\'s');
    await rm(taken);
    // The target's place is a folder: the rename fails, and the temporary file goes.
    await mkdir(path.join(dir, 'content', 'a-folder', 'inside'), { recursive: true });
    const err = await rejection(writeWholeFile(path.join(dir, 'incoming', 'b'), path.join(dir, 'content', 'a-folder'), Buffer.from('body')));
    expect(err.code).to.be.oneOf(['EISDIR', 'ENOTEMPTY', 'EEXIST']);
    expect(await readdir(path.join(dir, 'incoming'))).to.deep.equal([]);
    // A folder the process may not write to (not as root, which may write anywhere).
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      await mkdir(locked);
      await chmod(locked, 0o555);
      expect((await rejection(writeWholeFile(path.join(locked, 't'), path.join(dir, 'content', 'y'), Buffer.from('body')))).code).to.equal('EACCES');
      await chmod(locked, 0o755);
    }
  });

  it('the writing thread does not keep a process alive', async function () {
    this.timeout(20_000);
    const script = `
      import { writeWholeFile } from './dist/server/storage/io/whole-files.js';
      await writeWholeFile(${JSON.stringify(path.join(dir, 'incoming', 'exit'))}, ${JSON.stringify(path.join(dir, 'content', 'exit'))}, Buffer.from('x'));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 10_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, 'still running 10 s after its last write (null), or failed').to.equal(0);
    expect(await readFile(path.join(dir, 'content', 'exit'), 'utf8')).to.equal('x');
  });
});
