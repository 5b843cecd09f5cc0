// The floor for the app in bench/bench.mjs: what Node itself does on this machine with the
// plainest file server (node:http and fs streams; no authentication, no checksum, no
// metadata, no listing). PUT writes a temporary file and renames it into place (as the app
// and nginx's DAV module do), GET and HEAD stream the file, DELETE removes a file or folder.
// GET /-/memory-4k answers 4 KiB from memory (the HTTP stack alone).
// Usage: node bench/plain-node-server.mjs ROOT   (prints "listening on PORT" once ready)
import { createReadStream, mkdirSync, renameSync, statSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const root = path.resolve(process.argv[2] ?? '.');
let temps = 0;

function target(url) {
  const rel = decodeURIComponent(new URL(url, 'http://x').pathname);
  const full = path.join(root, rel);
  return full.startsWith(root) ? full : null;
}

// GET /-/memory-4k: 4 KiB from memory, no file system at all. What one Node process's
// HTTP stack alone answers here: the ceiling for the app's small downloads (one thread).
const MEMORY_4K = Buffer.alloc(4096, 0x61);

async function handle(req, res) {
  if (req.url === '/-/memory-4k') return void res.writeHead(200, { 'Content-Length': MEMORY_4K.length, 'Content-Type': 'application/octet-stream' }).end(MEMORY_4K);
  const file = target(req.url);
  if (!file) return void res.writeHead(400).end();
  if (req.method === 'PUT') {
    mkdirSync(path.dirname(file), { recursive: true });
    const temp = path.join(root, `.tmp-${process.pid}-${++temps}`);
    const handle = await open(temp, 'w');
    await pipeline(req, handle.createWriteStream({ highWaterMark: 1024 * 1024 }));
    let existed = true;
    try {
      statSync(file);
    } catch {
      existed = false;
    }
    renameSync(temp, file);
    return void res.writeHead(existed ? 204 : 201).end();
  }
  if (req.method === 'DELETE') {
    await rm(file, { recursive: true, force: true });
    return void res.writeHead(204).end();
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    let stats;
    try {
      stats = statSync(file);
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'Content-Length': stats.size, 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    return pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), res);
  }
  res.writeHead(405).end();
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
