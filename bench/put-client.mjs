// Client half of the small-PUT measurement, run in its own process: N PUTs of SIZE bytes
// over C keep-alive connections with one token. Prints JSON {files, seconds, rate}.
import http from 'node:http';

const [url, user, password, nArg, cArg, sizeArg] = process.argv.slice(2);
const total = Number(nArg ?? 2000);
const connections = Number(cArg ?? 8);
const body = Buffer.alloc(Number(sizeArg ?? 4096), 0x61);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const auth = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
const base = new URL(url);

function put(i) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, method: 'PUT', path: `${base.pathname}f${i}.bin`, agent, headers: { Authorization: auth, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 || res.statusCode === 204 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let next = 0;
const started = performance.now();
await Promise.all(Array.from({ length: connections }, async () => {
  while (next < total) await put(next++);
}));
const seconds = (performance.now() - started) / 1000;
agent.destroy();
console.log(JSON.stringify({ files: total, seconds: Number(seconds.toFixed(3)), rate: Math.round(total / seconds) }));
