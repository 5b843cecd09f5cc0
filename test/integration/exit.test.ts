// Nothing the server starts (the hashing thread, the admin socket, timers) may keep its
// process alive once it is shut down: a process that never exits never restarts cleanly.
import { expect } from 'chai';
import { exitCodeOfScript } from '../helpers/tools.js';

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
    const code = await exitCodeOfScript(script, 15_000);
    expect(code, 'the process was still running 15 s after shutdown (null) or failed').to.equal(0);
  });
});
