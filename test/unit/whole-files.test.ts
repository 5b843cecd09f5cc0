// storage/io/whole-files.ts: a small body kept under its name by a writing thread in one
// message (only touched when a file of its length is there already); a failure leaves
// nothing behind and says what the system said. And the thread's lifecycle
// (storage/io/worker-thread.ts): restarted after a crash, holding the process only while
// it owes an answer.
import { expect } from 'chai';
import { chmod, mkdir, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { makeTempDir } from '../helpers/harness.js';
import { exitCodeOfScript } from '../helpers/tools.js';
import { keepWholeFile } from '../../server/storage/io/whole-files.js';
import { WorkerThread } from '../../server/storage/io/worker-thread.js';

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

  it('writes the body read-only and renames it in, making its folder; kept again, it is only touched', async () => {
    const temp = path.join(dir, 'incoming', 'a');
    const target = path.join(dir, 'content', 'ab', 'abcdef');
    expect(await keepWholeFile(temp, target, Buffer.from('a small body'))).to.deep.equal({ written: true });
    expect(await readFile(target, 'utf8')).to.equal('a small body');
    expect((await stat(target)).mode & 0o777).to.equal(0o444);
    expect(await readdir(path.join(dir, 'incoming'))).to.deep.equal([]);
    // There already: the same file, its time now.
    const { ino } = await stat(target);
    await utimes(target, new Date(0), new Date(0));
    expect(await keepWholeFile(temp, target, Buffer.from('a small body'))).to.deep.equal({ written: false });
    expect((await stat(target)).ino).to.equal(ino);
    expect(Date.now() - (await stat(target)).mtimeMs).to.be.below(60_000);
    // Cut short (a crash before its bytes reached the disk): written again, whole.
    await chmod(target, 0o644);
    await truncate(target, 0);
    expect(await keepWholeFile(temp, target, Buffer.from('a small body'))).to.deep.equal({ written: true });
    expect(await readFile(target, 'utf8')).to.equal('a small body');
    expect(await readdir(path.join(dir, 'incoming'))).to.deep.equal([]);
    // Many at once, each its own.
    await Promise.all(Array.from({ length: 50 }, (_, i) => keepWholeFile(path.join(dir, 'incoming', `m${i}`), path.join(dir, 'content', 'many', String(i)), Buffer.from(`body ${i}`))));
    for (const i of [0, 17, 49]) expect(await readFile(path.join(dir, 'content', 'many', String(i)), 'utf8')).to.equal(`body ${i}`);
  });

  it('a temporary name taken already, or a folder it cannot write: rejected with the system\'s code, nothing left behind', async () => {
    const taken = path.join(dir, 'incoming', 'taken');
    await writeFile(taken, 'someone else\'s');
    expect((await rejection(keepWholeFile(taken, path.join(dir, 'content', 'x'), Buffer.from('mine')))).code).to.equal('EEXIST');
    expect(await readFile(taken, 'utf8')).to.equal('someone else\'s');
    await rm(taken);
    // The target's place is a folder: the rename fails, and the temporary file goes.
    await mkdir(path.join(dir, 'content', 'a-folder', 'inside'), { recursive: true });
    const err = await rejection(keepWholeFile(path.join(dir, 'incoming', 'b'), path.join(dir, 'content', 'a-folder'), Buffer.from('body')));
    expect(err.code).to.be.oneOf(['EISDIR', 'ENOTEMPTY', 'EEXIST']);
    expect(await readdir(path.join(dir, 'incoming'))).to.deep.equal([]);
    // A folder the process may not write to (not as root, which may write anywhere).
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      await mkdir(locked);
      await chmod(locked, 0o555);
      expect((await rejection(keepWholeFile(path.join(locked, 't'), path.join(dir, 'content', 'y'), Buffer.from('body')))).code).to.equal('EACCES');
      await chmod(locked, 0o755);
    }
  });

  it('a process exits once its writes are answered: the thread holds it only while it owes an answer', async function () {
    this.timeout(20_000);
    const script = `
      import { keepWholeFile } from './dist/server/storage/io/whole-files.js';
      await keepWholeFile(${JSON.stringify(path.join(dir, 'incoming', 'exit'))}, ${JSON.stringify(path.join(dir, 'content', 'exit'))}, Buffer.from('x'));
    `;
    const code = await exitCodeOfScript(script, 10_000);
    expect(code, 'still running 10 s after its last write (null), or failed').to.equal(0);
    expect(await readFile(path.join(dir, 'content', 'exit'), 'utf8')).to.equal('x');
  });

  it('a thread that crashes fails only what was sent to it, and the next request starts a new one', async () => {
    const script = path.join(dir, 'echo-worker.mjs');
    await writeFile(
      script,
      `import { parentPort } from 'node:worker_threads';
       parentPort.on('message', ({ id, crash }) => { if (crash) process.exit(7); parentPort.postMessage({ id, echo: id }); });`,
    );
    const thread = new WorkerThread<{ id: number; crash?: boolean }, { id: number; echo: number }>(pathToFileURL(script), 'the echo thread');
    const first = thread.id();
    expect(await thread.ask({ id: first })).to.deep.equal({ id: first, echo: first });
    const err = await thread.ask({ id: thread.id(), crash: true }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('the echo thread exited (7)');
    expect(thread.waiting).to.equal(0);
    // A new thread answers; several at once, all answered.
    const ids = [thread.id(), thread.id(), thread.id()];
    expect((await Promise.all(ids.map((id) => thread.ask({ id })))).map((a) => a.echo)).to.deep.equal(ids);
  });
});
