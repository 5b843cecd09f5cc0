#!/usr/bin/env node
// The plainest build proxy Node can be, for bench/proxy-bench.mjs: what no proxy written in
// Node can beat on this machine. It takes a CONNECT, ends TLS with the origin's own
// certificate (the client trusts the origin's CA), and answers each request in one of two
// ways: "memory", 4 KiB from memory (the floor of a small replay: TLS and HTTP only), or
// "forward", the request passed to the origin over kept HTTPS connections and the answer
// piped back (the floor of a recording: nothing hashed, stored or listed). Its sockets'
// buffers are the app's (256 KiB, server/proxy/bodies.ts): the same Node, minus the work.
//
//   node bench/node-floor-proxy.mjs PORT memory|forward CERT KEY CA ORIGIN_NAME ORIGIN_ADDRESS ORIGIN_PORT
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const [port, mode, certFile, keyFile, caFile, originName, originAddress, originPort] = process.argv.slice(2);
const key = readFileSync(keyFile);
const cert = readFileSync(certFile);
const small = Buffer.alloc(4096, 7);
const agent = new https.Agent({ keepAlive: true, ca: readFileSync(caFile) });
const TUNNEL_BUFFER = 256 * 1024;

const inner = http.createServer({ highWaterMark: TUNNEL_BUFFER }, (req, res) => {
  if (mode === 'memory') {
    res.writeHead(200, { 'Content-Length': small.length, 'Content-Type': 'application/octet-stream' });
    res.end(small);
    return;
  }
  const upstream = https.request({ host: originAddress, port: Number(originPort), servername: originName, method: req.method, path: req.url, headers: { host: req.headers.host }, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.once('error', () => res.destroy());
  upstream.end();
});
const outer = http.createServer();
outer.on('connect', (req, socket) => {
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  inner.emit('connection', new tls.TLSSocket(socket, { isServer: true, key, cert, highWaterMark: TUNNEL_BUFFER }));
});
outer.listen(Number(port), '127.0.0.1', () => process.send?.('listening'));
