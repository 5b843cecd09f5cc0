// Servers and process memory for the benchmarks: the reference nginx (Debian's nginx with
// the DAV modules, bench/reference-nginx.conf.template), the app started as `npm start`
// does (startApp), its access log sent to a file, and resident memory read from /proc.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, which } from './lib-proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..');
export const DAV_EXT_MODULE = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';
/** The shipped nginx.conf loads njs (nginx/describe.js). */
const JS_MODULE = '/usr/lib/nginx/modules/ngx_http_js_module.so';

/**
 * What is missing to run the bench, as one line naming the Debian packages (and the build
 * step), or null. Installs nothing.
 */
export async function missingPrerequisites() {
  const packages = [];
  for (const [program, pkg] of [['curl', 'curl'], ['wrk', 'wrk'], ['nginx', 'nginx'], ['pgrep', 'procps'], ['sync', 'coreutils']]) {
    if (!(await which(program))) packages.push(pkg);
  }
  if (!existsSync(DAV_EXT_MODULE)) packages.push('libnginx-mod-http-dav-ext');
  if (!existsSync(JS_MODULE)) packages.push('libnginx-mod-http-js');
  const problems = [];
  if (packages.length) problems.push(`missing Debian package${packages.length > 1 ? 's' : ''} ${packages.join(', ')} (apt-get install -y ${packages.join(' ')})`);
  for (const file of ['dist/server/main.js', 'dist/test/helpers/harness.js', 'dist/test/helpers/nginx.js']) {
    if (!existsSync(path.join(REPO, file))) {
      problems.push(`${file} not found (run npm run build first)`);
      break;
    }
  }
  if (!existsSync('/proc/self/clear_refs')) problems.push('/proc/PID/clear_refs not available (needs Linux procfs)');
  return problems.length ? `bench: ${problems.join('; ')}` : null;
}

/** Sends the app's stdout (its JSON access log, one line per request) to a file, not into memory. */
export function relayLog(childServer, file) {
  const stdout = childServer.child.stdout;
  stdout.removeAllListeners('data');
  stdout.pipe(createWriteStream(file));
}

async function wwwData() {
  try {
    const { stdout: uid } = await run('id', ['-u', 'www-data']);
    const { stdout: gid } = await run('id', ['-g', 'www-data']);
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

async function waitForPort(port, child, stderr) {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`reference nginx exited: ${stderr()}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    if (i > 200) throw new Error(`reference nginx did not start: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the reference nginx (WebDAV, no auth) on 127.0.0.1:port, serving and writing davRoot. */
export async function startReference({ prefix, davRoot, port, renderTemplate }) {
  const bodyTemp = path.join(path.dirname(davRoot), 'reference-body-temp');
  await mkdir(prefix, { recursive: true, mode: 0o755 });
  await mkdir(davRoot, { recursive: true, mode: 0o755 });
  await mkdir(bodyTemp, { recursive: true, mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // Workers run as www-data and write the tree (nginx chowns its temp path itself).
    const ids = await wwwData();
    if (!ids) throw new Error('user www-data not found (it comes with the nginx package)');
    await chown(davRoot, ids.uid, ids.gid);
    await chown(bodyTemp, ids.uid, ids.gid);
  }
  const template = await readFile(path.join(here, 'reference-nginx.conf.template'), 'utf8');
  const conf = renderTemplate(template, {
    DAV_EXT_MODULE,
    USER_DIRECTIVE: asRoot ? 'user www-data;' : '',
    PREFIX: prefix,
    LISTEN: `127.0.0.1:${port}`,
    DAV_ROOT: davRoot,
    BODY_TEMP: bodyTemp,
  });
  const confFile = path.join(prefix, 'nginx.conf');
  await writeFile(confFile, conf);
  const child = spawn('nginx', ['-p', prefix, '-c', confFile, '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      await exited;
    }
  };
  try {
    await waitForPort(port, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, port, baseUrl: `http://127.0.0.1:${port}`, pidFile: path.join(prefix, 'nginx.pid'), stop };
}

/** nginx's master and its workers (the pid file names the master). */
export async function nginxPids(pidFile) {
  const master = Number((await readFile(pidFile, 'utf8')).trim());
  const { stdout } = await run('pgrep', ['-P', String(master)], { allowFail: true });
  return [master, ...stdout.split('\n').filter(Boolean).map(Number)];
}

async function statusKiB(pid) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Summed VmRSS and VmHWM of these processes, in MiB. */
export async function memory(pids) {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    const s = await statusKiB(pid);
    rss += s.rss;
    hwm += s.hwm;
  }
  return { rss: rss / 1024, hwm: hwm / 1024 };
}

/** Resets VmHWM to the current RSS (clear_refs 5), so the next peak is the transfer's own. */
export async function resetPeak(pids) {
  for (const pid of pids) await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** Starts bench/plain-node-server.mjs (the floor: Node with no features) serving root. */
export async function startPlainNode(root) {
  await mkdir(root, { recursive: true, mode: 0o755 });
  return startFloor('plain-node-server.mjs', [root]);
}

/** Starts a floor server of bench/ (it prints "listening on PORT" once ready) as its own process. */
export async function startFloor(script, args) {
  const child = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => {
      output += d;
      const m = /listening on (\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}): ${output}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  return { child, baseUrl: `http://127.0.0.1:${port}`, stop };
}

/** Writes `bytes` of random data (1 MiB repeated) to `file`, streaming. */
export async function writeRandomFile(file, bytes) {
  const { createWriteStream } = await import('node:fs');
  const { randomBytes } = await import('node:crypto');
  await new Promise((resolve, reject) => {
    const out = createWriteStream(file);
    const chunk = randomBytes(1024 * 1024);
    let left = Math.ceil(bytes / chunk.length);
    const pump = () => {
      while (left > 0) {
        left--;
        if (!out.write(chunk)) return void out.once('drain', pump);
      }
      out.end(resolve);
    };
    out.on('error', reject);
    pump();
  });
}

/**
 * Starts the app as `npm start` does (docker/entrypoint.sh) from the checkout `appDir`
 * (another one's build, to measure before a change), on a free port with its data in a
 * temporary folder; `env` adds settings. stop() ends it with SIGTERM (so that it writes
 * what it writes at exit) and removes its data.
 */
export async function startApp(appDir, env = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'bench-app-'));
  const child = spawn('sh', [path.join(appDir, 'docker/entrypoint.sh')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const port = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return {
    port,
    // The app's own (the entrypoint execs node).
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
