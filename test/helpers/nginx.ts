// Runs Debian's nginx with the repository's own nginx/nginx.conf and
// nginx/templates/default.conf.template, rendered with local paths and a free port, as the
// nginx image renders them in the container.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './harness.js';
import { requireTool } from './tools.js';

export interface NginxOptions {
  prefix: string;
  upstream: string;
  artifactsRoot: string;
  mastersAllow: string;
  /**
   * The build proxies to balance with nginx/stream.conf (host:port each), as the
   * several-replica deployment does; Debian loads the stream module from its own package.
   */
  proxyUpstreams?: string[];
  /** Where the app keeps checksum records (the template's ARTIFACT_RECORDS): 'volume' unless it has DATABASE_URL. */
  records?: 'volume' | 'database';
  /** Bytes in a bucket: nginx/bucket.conf mounted too (whole files fetched by nginx from presigned URLs). */
  bucket?: boolean;
}

/** The files of nginx/ that the compose files mount into /etc/nginx/artifact-repo/ (here PREFIX/artifact-repo/). */
const MOUNTED = ['mime.types', 'describe.js', 'download-headers.conf', 'described-by-app.conf', 'described-by-volume.conf'];

/** Debian's nginx has the stream module as a package of its own (libnginx-mod-stream). */
export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export interface RunningNginx {
  port: number;
  baseUrl: string;
  /** Where nginx/stream.conf listens, with proxyUpstreams. */
  proxyPort: number | null;
  prefix: string;
  clientBodyTemp: string;
  accessLog: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** ${NAME} placeholders only, as envsubst with a fixed list of names: nginx's own $vars stay. */
export function renderTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const { prefix } = options;
  const port = await freePort();
  const confD = path.join(prefix, 'conf.d');
  const clientBodyTemp = path.join(prefix, 'client_temp');
  await mkdir(confD, { recursive: true });
  await mkdir(clientBodyTemp, { recursive: true });
  await mkdir(path.join(prefix, 'cache'), { recursive: true });
  await mkdir(path.join(prefix, 'logs'), { recursive: true });
  // The container's /etc/nginx/artifact-repo/, with every path to it made local.
  const mounted = path.join(prefix, 'artifact-repo');
  await mkdir(mounted, { recursive: true });
  const localPaths = (text: string): string => text.replaceAll('/etc/nginx/artifact-repo/', mounted + '/');
  for (const name of [...MOUNTED, ...(options.bucket ? ['bucket.conf'] : [])]) await writeFile(path.join(mounted, name), localPaths(await readFile(path.join(REPO_ROOT, 'nginx', name), 'utf8')));
  const mastersFile = path.join(prefix, 'masters-allow.conf');
  await writeFile(mastersFile, options.mastersAllow);
  const template = await readFile(path.join(REPO_ROOT, 'nginx/templates/default.conf.template'), 'utf8');
  const rendered = renderTemplate(template, {
    ARTIFACT_REPO_UPSTREAM: options.upstream,
    ARTIFACTS_ROOT: options.artifactsRoot,
    LISTEN_PORT: `127.0.0.1:${port}`,
    MASTERS_ALLOW: mastersFile,
    ARTIFACT_RECORDS: options.records ?? 'volume',
  });
  await writeFile(path.join(confD, 'default.conf'), localPaths(rendered));
  let proxyPort: number | null = null;
  if (options.proxyUpstreams) {
    proxyPort = await freePort();
    const stream = (await readFile(path.join(REPO_ROOT, 'nginx/stream.conf'), 'utf8'))
      .replace('server app:8081;', options.proxyUpstreams.map((u) => `server ${u};`).join('\n        '))
      .replace('listen 8081;', `listen 127.0.0.1:${proxyPort};`);
    await writeFile(path.join(mounted, 'stream.conf'), stream);
  }
  const main = (options.proxyUpstreams ? `load_module ${STREAM_MODULE};\n` : '') + localPaths(await readFile(path.join(REPO_ROOT, 'nginx/nginx.conf'), 'utf8'))
    // Debian names the unprivileged user www-data where the nginx image says nginx.
    .replace('user nginx;', 'user www-data;')
    .replaceAll('/var/run/nginx.pid', path.join(prefix, 'nginx.pid'))
    .replaceAll('/var/log/nginx/', path.join(prefix, 'logs') + '/')
    .replaceAll('/var/cache/nginx/client_temp', clientBodyTemp)
    .replaceAll('/var/cache/nginx/', path.join(prefix, 'cache') + '/')
    .replaceAll('/etc/nginx/conf.d/', confD + '/');
  const confFile = path.join(prefix, 'nginx.conf');
  await writeFile(confFile, main);
  const child: ChildProcess = spawn('nginx', ['-p', prefix, '-c', confFile, '-e', path.join(prefix, 'logs', 'startup.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGQUIT');
      await exited;
    }
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) {
      await stop();
      throw new Error(`nginx did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    proxyPort,
    prefix,
    clientBodyTemp,
    accessLog: path.join(prefix, 'logs', 'access.log'),
    stop,
  };
}

/**
 * The shipped nginx in front of a test server (its artifacts served from disk by nginx,
 * everything else proxied), for running a corpus through the deployment as well as
 * against the app. Skips the test where nginx is not installed (fails under CI).
 */
export async function frontWithNginx(ctx: Mocha.Context, server: { port: number; dataDir: string; artifactsDir: string }): Promise<RunningNginx> {
  requireTool(ctx, 'nginx', 'nginx');
  // nginx's workers run as www-data: the volume must be readable by it, as in the container.
  await chmod(server.dataDir, 0o755);
  await chmod(server.artifactsDir, 0o755);
  const prefix = await mkdtemp(path.join(tmpdir(), 'front-'));
  await chmod(prefix, 0o755);
  const nginx = await startNginx({ prefix, upstream: `127.0.0.1:${server.port}`, artifactsRoot: server.artifactsDir, mastersAllow: 'allow all;\n' });
  return {
    ...nginx,
    stop: async () => {
      await nginx.stop();
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
