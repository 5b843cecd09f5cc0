// Nothing the server starts (the hashing thread, the admin socket, timers) may keep its
// process alive once it is shut down: a process that never exits never restarts cleanly.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../helpers/harness.js';

describe('shutdown leaves nothing running', function () {
  this.timeout(30_000);
  it('a process that starts a server, uploads a large file and shuts down exits on its own', async () => {
    const script = `
      import { startServer, basic } from './dist/test/helpers/harness.js';
      const s = await startServer();
      const t = await s.mint('dpkg', 'exit', '1');
      const body = Buffer.alloc(9 * 1024 * 1024, 1);
      const res = await fetch(t.url + 'big.bin', { method: 'PUT', body, headers: { Authorization: basic(t.username, t.password) } });
      if (res.status !== 201) process.exit(3);
      await s.close();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 15_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, 'the process was still running 15 s after shutdown (null) or failed').to.equal(0);
  });
});
