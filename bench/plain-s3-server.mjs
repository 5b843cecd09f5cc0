// The floor for S3 mode in bench/s3-bench.mjs: the plainest Node server that keeps files
// in a bucket, so that what a hop through any Node process costs on this machine is in the
// same table as the app. node:http and the AWS SDK client the app makes, no
// authentication, no database, no checksum: PUT streams the body as one PutObject of its
// Content-Length, GET streams GetObject's body. Keys are the request paths below PREFIX.
// With --sha256, a PUT also hashes its body on the way, as the app must (its answer's
// X-Checksum-Sha256): the floor of an upload that is hashed while it streams.
// Usage: node bench/plain-s3-server.mjs ENDPOINT BUCKET PREFIX [--sha256]   (credentials
// from the environment, as the app's; prints "listening on PORT" once ready)
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../dist/server/storage/s3-blobs.js';

const [endpoint, bucket, prefix, option] = process.argv.slice(2);
const HASH = option === '--sha256';
const client = s3Client({ region: 'us-east-1', forcePathStyle: true, endpoint, requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 } });

async function handle(req, res) {
  const Key = `${prefix}${decodeURIComponent(new URL(req.url, 'http://x').pathname).slice(1)}`;
  if (req.method === 'PUT') {
    const hash = HASH ? createHash('sha256') : null;
    const Body = hash ? req.pipe(new Transform({ transform: (chunk, _enc, done) => done(null, hash.update(chunk) && chunk) })) : req;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Number(req.headers['content-length']) }));
    res.writeHead(201, { 'Content-Length': 0, ...(hash ? { 'X-Checksum-Sha256': hash.digest('hex') } : {}) }).end();
  } else if (req.method === 'GET') {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
    res.writeHead(200, { 'Content-Length': answer.ContentLength });
    await pipeline(answer.Body, res);
  } else res.writeHead(405).end();
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) res.writeHead(500).end(String(err));
    else res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => {
  client.destroy();
  server.close();
  server.closeAllConnections();
});
