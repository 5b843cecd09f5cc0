// An S3 server that takes the connection and then says nothing (a paused process, a
// black-holed network, a stuck gateway): every call of the bucket's blob store fails as
// "the object store is unreachable" once the socket has been silent for the idle time,
// and a download that stalls midway is cut, instead of waiting for ever. (Killed servers,
// which refuse connections, are test/faults/object-store.test.ts.)
import { expect } from 'chai';
import net from 'node:net';
import { Readable } from 'node:stream';
import { S3BlobStore, ObjectStoreUnavailable } from '../../server/storage/s3-blobs.js';

describe('the bucket when its S3 server falls silent', function () {
  this.timeout(30_000);
  let server: net.Server;
  let port: number;
  /** What the server does with a connection: nothing at all, or a GET answer's head and then nothing. */
  let behaviour: 'silent' | 'stall-body' = 'silent';
  const sockets = new Set<net.Socket>();
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'silent';
    process.env.AWS_SECRET_ACCESS_KEY = 'silent-secret';
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
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
