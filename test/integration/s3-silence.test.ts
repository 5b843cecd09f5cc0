// An S3 server that takes the connection and then says nothing (a paused process, a
// black-holed network, a stuck gateway): every call of the bucket's blob store fails as
// "the object store is unreachable" once the socket has been silent for the idle time,
// and a download that stalls midway is cut, instead of waiting for ever. (Killed servers,
// which refuse connections, are test/faults/object-store.test.ts.)
import { expect } from 'chai';
import net from 'node:net';
import { Readable } from 'node:stream';
import { S3BlobStore, ObjectStoreUnavailable } from '../../server/storage/s3-blobs.js';
import { Failure } from '../../server/domain/errors.js';

/** `size` bytes made as they are read, `chunk` at a time; how many were handed over so far. */
function generated(size: number, chunk: number): { stream: Readable; sent(): number } {
  const bytes = Buffer.alloc(chunk, 7);
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= size) this.push(null);
      else {
        sent += bytes.length;
        this.push(bytes);
      }
    },
  });
  return { stream, sent: () => sent };
}

describe('the bucket when its S3 server falls silent', function () {
  this.timeout(30_000);
  let server: net.Server;
  let port: number;
  /** What the server does with a connection: nothing at all, a GET answer's head and then nothing, or read all and answer nothing. */
  let behaviour: 'silent' | 'stall-body' | 'read-all' | 'reset-midway' = 'silent';
  const sockets = new Set<net.Socket>();
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'silent';
    process.env.AWS_SECRET_ACCESS_KEY = 'silent-secret';
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      if (behaviour === 'read-all') socket.resume();
      if (behaviour === 'reset-midway') {
        // Reads a little, stops reading (the sender's buffers fill), then drops the connection.
        let read = 0;
        const reading = (d: Buffer): void => {
          read += d.length;
          if (read <= 512 * 1024) return;
          socket.off('data', reading);
          socket.pause();
          setTimeout(() => socket.resetAndDestroy(), 200);
        };
        socket.on('data', reading);
      }
      if (behaviour === 'stall-body') socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nContent-Type: application/octet-stream\r\n\r\n' + 'x'.repeat(1000)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const store = (): S3BlobStore =>
    S3BlobStore.open({ bucket: 'silent', prefix: '', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true }, { idleTimeoutMs: 500 });

  async function failure(work: Promise<unknown>): Promise<unknown> {
    return work.then(
      () => new Error('it answered'),
      (err: unknown) => err,
    );
  }

  it('get, head, put, list and delete each fail as unreachable (503) instead of hanging', async () => {
    behaviour = 'silent';
    const blobs = store();
    try {
      for (const call of [
        () => blobs.get('a'),
        () => blobs.head('a'),
        () => blobs.put('a', Readable.from([Buffer.from('body')])),
        () => blobs.list('', null, 10),
        () => blobs.delete(['a']),
      ]) {
        const err = await failure(call());
        expect(err, String(err)).to.be.instanceOf(ObjectStoreUnavailable);
        expect((err as ObjectStoreUnavailable).message).to.equal('the object store is unreachable; try again shortly');
      }
    } finally {
      blobs.close();
    }
  });

  // A body of known length goes as one request, at the client's pace: whose silence it was decides the answer.
  it('a put whose client stalls midway fails as the client\'s fault (400, request body stalled), not the store\'s', async () => {
    behaviour = 'read-all';
    const blobs = store();
    try {
      const stalling = new Readable({ read() {} });
      stalling.push(Buffer.alloc(1024, 1));
      const err = await failure(blobs.put('stalled', stalling, 1024 * 1024));
      expect(err, String(err)).to.be.instanceOf(Failure).and.not.instanceOf(ObjectStoreUnavailable);
      expect((err as Failure).kind).to.equal('invalid');
      expect((err as Failure).message).to.match(/^request body stalled/);
      expect(stalling.destroyed).to.equal(true);
    } finally {
      blobs.close();
    }
  });

  it('a put the store stops reading midway is the store\'s fault (503), however much is still to come', async () => {
    behaviour = 'silent';
    const blobs = store();
    try {
      // More than the loopback socket's buffers take: the store's side backs up to the body.
      const size = 256 * 1024 * 1024;
      const fast = generated(size, 1024 * 1024);
      const err = await failure(blobs.put('backed-up', fast.stream, size));
      expect(err, String(err)).to.be.instanceOf(ObjectStoreUnavailable);
      expect(fast.sent()).to.be.below(size);
    } finally {
      blobs.close();
    }
  });

  it('a store that drops the connection while the last of a body waits to be sent: 503, and the process goes on', async () => {
    behaviour = 'reset-midway';
    const blobs = store();
    try {
      // Bodies a little past what the loopback socket's buffers take (a few MiB): one of them
      // has ended, all of it handed over, while its last part still waits to be sent.
      for (let mib = 2; mib <= 16; mib++) {
        const size = mib * 1024 * 1024;
        const body = generated(size, 64 * 1024).stream;
        const err = await failure(blobs.put(`reset-${mib}`, body, size));
        expect(err, `${mib} MiB: ${String(err)}`).to.be.instanceOf(ObjectStoreUnavailable);
      }
      // An error nobody heard would have ended the process (mocha reports it as this test's).
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      blobs.close();
    }
  });

  it('a download whose body stalls midway is cut (the stream fails), not left waiting', async () => {
    behaviour = 'stall-body';
    const blobs = store();
    try {
      const body = await blobs.get('b');
      expect(body).to.not.equal(null);
      let bytes = 0;
      const ended = await new Promise<string>((resolve) => {
        (body as Readable).on('data', (chunk: Buffer) => (bytes += chunk.length));
        (body as Readable).on('end', () => resolve('end'));
        (body as Readable).on('error', () => resolve('error'));
      });
      expect(ended).to.equal('error');
      expect(bytes).to.equal(1000);
    } finally {
      blobs.close();
    }
  });
});
