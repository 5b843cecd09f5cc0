// What the access log says about requests that did not end normally, and whose address it
// names, over real sockets.
import { expect } from 'chai';
import net from 'node:net';
import { basic, startServer, type TestServer } from '../helpers/harness.js';

interface LogLine {
  msg: string;
  method: string;
  path: string;
  status: number;
  bytes_in: number;
  client: string;
  aborted?: boolean;
}

async function requestLine(server: TestServer, path: string): Promise<LogLine> {
  for (let i = 0; i < 200; i++) {
    const line = server.logLines.map((l) => JSON.parse(l) as LogLine).find((l) => l.msg === 'request' && l.path === path);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no log line for ${path}`);
}

describe('access log', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ TRUSTED_PROXIES: '127.0.0.5' });
  });

  after(() => server.close());

  it('an upload cut off mid-body is logged as closed by the client (499), with the bytes that arrived', async () => {
    const t = await server.mint('dpkg', 'log', '1');
    const sent = 3 * 1024 * 1024;
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => {
        socket.write(`PUT /dpkg/log/1/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(t.username, t.password)}\r\nContent-Length: ${10 * sent}\r\n\r\n`);
        socket.write(Buffer.alloc(sent, 1), () => setTimeout(() => {
          socket.destroy();
          resolve();
        }, 300));
      });
      socket.on('error', reject);
    });
    const line = await requestLine(server, '/dpkg/log/1/cut.bin');
    expect(line.status).to.equal(499);
    expect(line.aborted).to.equal(true);
    expect(line.bytes_in).to.be.greaterThan(0).and.at.most(sent);
  });

  it('names the client that a trusted proxy forwarded for, and the peer otherwise', async () => {
    const ask = (localAddress: string, path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ port: server.port, host: '127.0.0.1', localAddress }, () => {
          socket.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n`);
        });
        socket.resume();
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
    await ask('127.0.0.5', '/-/health?proxied');
    await ask('127.0.0.6', '/dpkg/?direct');
    expect((await requestLine(server, '/-/health')).client).to.equal('203.0.113.7');
    expect((await requestLine(server, '/dpkg/')).client).to.equal('127.0.0.6');
  });
});
