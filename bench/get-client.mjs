// Client half of the small-GET measurement, run in its own process: N GETs of the files
// f0.bin … f(K-1).bin under URL, round robin, over C keep-alive connections. Prints JSON
// {requests, seconds, rate}.
import http from 'node:http';

const [url, nArg, cArg, kArg] = process.argv.slice(2);
const total = Number(nArg ?? 4000);
const connections = Number(cArg ?? 8);
const files = Number(kArg ?? 100);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const base = new URL(url);

function get(i) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, method: 'GET', path: `${base.pathname}f${i % files}.bin`, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 && res.headers['x-checksum-sha256'] ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

let next = 0;
const started = performance.now();
await Promise.all(Array.from({ length: connections }, async () => {
  while (next < total) await get(next++);
}));
const seconds = (performance.now() - started) / 1000;
agent.destroy();
console.log(JSON.stringify({ requests: total, seconds: Number(seconds.toFixed(3)), rate: Math.round(total / seconds) }));
