// An upstream origin for the build proxy's tests: Debian's nginx over HTTPS (a CA and a
// certificate the test makes with openssl) and plain HTTP, on 127.0.0.2 so that clients
// do use the proxy, under a name (an /etc/hosts line the test adds and removes: npm checks
// the certificate against a name). It serves files, a redirect, a 404, a response that
// varies on Accept, a POST, a PEP 503 index with a wheel, an npm packument with its
// tarball, a git repository over dumb and smart HTTP (git http-backend via fcgiwrap), and
// a mebibyte sent at 512 KiB/s.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir } from './harness.js';
import { freePort } from './nginx.js';
import { findTool, run } from './tools.js';

export const ORIGIN_HOST = 'origin.artifact-repo.test';
export const ORIGIN_ADDRESS = '127.0.0.2';
const HOSTS_FILE = '/etc/hosts';
const HOSTS_MARK = '# artifact-repo test origin';

export interface Origin {
  dir: string;
  /** https://origin.artifact-repo.test:PORT */
  httpsBase: string;
  /** http://origin.artifact-repo.test:PORT */
  httpBase: string;
  httpsPort: number;
  httpPort: number;
  /** The CA the origin's certificate chains to (PEM file): UPSTREAM_CA_FILE. */
  caFile: string;
  /** The origin's certificate and key (for the name and 127.0.0.2). */
  certFile: string;
  keyFile: string;
  /** Whether the name resolves (the /etc/hosts line could be added). */
  named: boolean;
  /** Every request the origin saw: method, URI and the headers the proxy must not pass on. */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

async function must(cmd: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(cmd, args, { cwd, env: env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd ?? '/tmp' }, timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** A CA and a certificate for the origin's name and address, made with openssl. */
async function tlsMaterial(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const openssl = findTool('openssl') ?? 'openssl';
  const ca = path.join(dir, 'ca');
  await mkdir(ca);
  await must(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(ca, 'ca.key'), '-out', path.join(ca, 'ca.pem'), '-days', '2', '-subj', '/CN=artifact-repo test origin CA'], ca);
  await writeFile(path.join(ca, 'ext.cnf'), `subjectAltName=DNS:${ORIGIN_HOST},IP:${ORIGIN_ADDRESS}\nextendedKeyUsage=serverAuth\n`);
  await must(openssl, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(ca, 'origin.key'), '-out', path.join(ca, 'origin.csr'), '-subj', `/CN=${ORIGIN_HOST}`], ca);
  await must(openssl, ['x509', '-req', '-in', path.join(ca, 'origin.csr'), '-CA', path.join(ca, 'ca.pem'), '-CAkey', path.join(ca, 'ca.key'), '-CAcreateserial', '-out', path.join(ca, 'origin.pem'), '-days', '2', '-extfile', path.join(ca, 'ext.cnf')], ca);
  return { caFile: path.join(ca, 'ca.pem'), certFile: path.join(ca, 'origin.pem'), keyFile: path.join(ca, 'origin.key') };
}

/** A wheel pip accepts: a zip of the module, METADATA, WHEEL and RECORD. */
async function wheel(dir: string): Promise<string> {
  const script = `
import base64, hashlib, sys, zipfile
out = sys.argv[1]
files = {
  'demo_pkg/__init__.py': b'VALUE = 42\\n',
  'demo_pkg-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\\nName: demo-pkg\\nVersion: 1.0\\n',
  'demo_pkg-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\\nGenerator: artifact-repo-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
}
record = ''
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    record += f'{name},sha256={digest},{len(data)}\\n'
record += 'demo_pkg-1.0.dist-info/RECORD,,\\n'
with zipfile.ZipFile(out, 'w') as z:
    for name, data in files.items():
        z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    z.writestr(zipfile.ZipInfo('demo_pkg-1.0.dist-info/RECORD', (2020, 1, 1, 0, 0, 0)), record)
`;
  const file = path.join(dir, 'demo_pkg-1.0-py3-none-any.whl');
  await must(findTool('python3') ?? 'python3', ['-c', script, file], dir);
  return file;
}

async function fixtures(root: string, httpsBase: string): Promise<void> {
  const www = path.join(root, 'www');
  await mkdir(path.join(www, 'files'), { recursive: true });
  await writeFile(path.join(www, 'files', 'hello.txt'), 'hello from the origin\n');
  await writeFile(path.join(www, 'files', 'data.json'), '{"version":1}\n');
  await mkdir(path.join(www, 'slow'));
  await writeFile(path.join(www, 'slow', 'one-mib.bin'), Buffer.alloc(1024 * 1024, 0x5a));
  await writeFile(path.join(www, 'vary.txt'), 'as text\n');
  await writeFile(path.join(www, 'vary.json'), '{"as":"json"}\n');
  // PEP 503 simple index with one wheel.
  await mkdir(path.join(www, 'simple', 'demo-pkg'), { recursive: true });
  const whl = await wheel(path.join(www, 'simple', 'demo-pkg'));
  const whlSha = createHash('sha256').update(await readFile(whl)).digest('hex');
  await writeFile(path.join(www, 'simple', 'index.html'), '<!DOCTYPE html><html><body><a href="demo-pkg/">demo-pkg</a></body></html>\n');
  await writeFile(path.join(www, 'simple', 'demo-pkg', 'index.html'), `<!DOCTYPE html><html><body><a href="demo_pkg-1.0-py3-none-any.whl#sha256=${whlSha}">demo_pkg-1.0-py3-none-any.whl</a></body></html>\n`);
  // An npm package: its packument and tarball.
  const pkgDir = path.join(root, 'npm-src');
  await mkdir(pkgDir, { recursive: true });
  await writeFile(path.join(pkgDir, 'package.json'), JSON.stringify({ name: 'demo-pkg', version: '1.0.0', main: 'index.js' }));
  await writeFile(path.join(pkgDir, 'index.js'), 'module.exports = 42;\n');
  const npm = findTool('npm') ?? 'npm';
  // npm's cache (and the log it writes there as it runs) outside the folder it packs: inside
  // it, npm pack read its own log as it grew and failed now and then, saying nothing.
  const npmHome = path.join(root, 'npm-home');
  await mkdir(npmHome, { recursive: true });
  await must(npm, ['pack', '--silent', '--pack-destination', pkgDir], pkgDir, { PATH: process.env.PATH ?? '', HOME: npmHome, npm_config_cache: path.join(npmHome, '.npm'), npm_config_update_notifier: 'false' });
  const tgz = await readFile(path.join(pkgDir, 'demo-pkg-1.0.0.tgz'));
  await mkdir(path.join(www, 'npm', 'demo-pkg', '-'), { recursive: true });
  await writeFile(path.join(www, 'npm', 'demo-pkg', '-', 'demo-pkg-1.0.0.tgz'), tgz);
  const packument = {
    name: 'demo-pkg',
    'dist-tags': { latest: '1.0.0' },
    versions: {
      '1.0.0': {
        name: 'demo-pkg',
        version: '1.0.0',
        main: 'index.js',
        dist: { tarball: `${httpsBase}/npm/demo-pkg/-/demo-pkg-1.0.0.tgz`, shasum: createHash('sha1').update(tgz).digest('hex'), integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}` },
      },
    },
  };
  await writeFile(path.join(www, 'npm', 'demo-pkg', 'index.json'), JSON.stringify(packument));
  // A flat apt repository (deb [trusted=yes] URL ./) with one package built by dpkg-deb.
  const apt = path.join(www, 'apt');
  const pkgRoot = path.join(root, 'apt-src');
  await mkdir(path.join(pkgRoot, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(pkgRoot, 'usr', 'share', 'demo-hello'), { recursive: true });
  await mkdir(apt, { recursive: true });
  const control = 'Package: demo-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: test <test@example.org>\nDescription: a package behind the build proxy\n';
  await writeFile(path.join(pkgRoot, 'DEBIAN', 'control'), control);
  await writeFile(path.join(pkgRoot, 'usr', 'share', 'demo-hello', 'hello'), 'hello from a .deb\n');
  await must(findTool('dpkg-deb') ?? 'dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', pkgRoot, path.join(apt, 'demo-hello_1.0_all.deb')], root);
  const deb = await readFile(path.join(apt, 'demo-hello_1.0_all.deb'));
  const packages = `${control.replace('Description:', `Filename: ./demo-hello_1.0_all.deb\nSize: ${deb.length}\nSHA256: ${createHash('sha256').update(deb).digest('hex')}\nDescription:`)}\n`;
  await writeFile(path.join(apt, 'Packages'), packages);
  await writeFile(path.join(apt, 'Release'), `Origin: test\nLabel: test\nSuite: stable\nCodename: test\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: all amd64\nSHA256:\n ${createHash('sha256').update(packages).digest('hex')} ${Buffer.byteLength(packages)} Packages\n`);
  // A git repository with one commit, for dumb (static files) and smart HTTP.
  const git = findTool('git') ?? 'git';
  const work = path.join(root, 'git-src');
  await mkdir(work);
  const gitEnv = { PATH: process.env.PATH ?? '', HOME: work, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org', GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' };
  await must(git, ['init', '-q', '-b', 'main'], work, gitEnv);
  await writeFile(path.join(work, 'README'), 'a repository behind the build proxy\n');
  await must(git, ['add', 'README'], work, gitEnv);
  await must(git, ['commit', '-q', '-m', 'first'], work, gitEnv);
  await must(git, ['clone', '-q', '--bare', work, path.join(www, 'git', 'demo.git')], root, gitEnv);
  await must(git, ['update-server-info'], path.join(www, 'git', 'demo.git'), gitEnv);
}

export interface OriginOptions {
  /**
   * A registry (distribution, plain HTTP on 127.0.0.2:PORT) that the origin fronts at /v2/
   * over HTTPS, behind the anonymous Bearer-token flow: /v2/ asks for a token from
   * /token, which hands one to anyone (as Docker Hub does for public images).
   */
  registryPort?: number;
}

export const REGISTRY_TOKEN = 'anonymous-pull-token';

function registryLocations(httpsBase: string, port: number): string {
  return `
    location = /token { default_type application/json; return 200 '{"token":"${REGISTRY_TOKEN}","expires_in":300}'; }
    location /v2/ {
      if ($http_authorization != "Bearer ${REGISTRY_TOKEN}") {
        add_header WWW-Authenticate 'Bearer realm="${httpsBase}/token",service="test-registry",scope="repository:demo/app:pull"' always;
        add_header Docker-Distribution-API-Version registry/2.0 always;
        return 401 '{"errors":[{"code":"UNAUTHORIZED"}]}';
      }
      proxy_pass http://${ORIGIN_ADDRESS}:${port};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
    }`;
}

function nginxConf(root: string, ports: { https: number; http: number }, tls: { certFile: string; keyFile: string }, httpsBase: string, options: OriginOptions): string {
  const www = path.join(root, 'www');
  const log = path.join(root, 'logs');
  return `
user www-data;
worker_processes 1;
pid ${root}/nginx.pid;
error_log ${log}/error.log warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  client_body_temp_path ${root}/tmp/body;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  proxy_temp_path ${root}/tmp/proxy;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
  # What reached the origin, and whether any credential the proxy must keep came along.
  log_format seen '$request_method $request_uri auth=$http_authorization proxyauth=$http_proxy_authorization cookie=$http_cookie conn=$connection';
  access_log ${log}/access.log seen;
  map $http_accept $vary_file { "~json" /vary.json; default /vary.txt; }
  server {
    listen ${ORIGIN_ADDRESS}:${ports.https} ssl;
    listen ${ORIGIN_ADDRESS}:${ports.http};
    server_name ${ORIGIN_HOST};
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    root ${www};
    location = /redirect { return 302 /files/hello.txt; }
    location = /hop3 { return 302 /hop2; }
    location = /hop2 { return 301 /hop1; }
    location = /hop1 { return 307 /files/hello.txt; }
    location = /loop { return 302 /loop; }${options.registryPort ? registryLocations(httpsBase, options.registryPort) : ''}
    location /slow/ { limit_rate 512k; }
    location = /post { return 200 "posted\\n"; }
    location = /cookie { add_header Set-Cookie "session=secret-session-value; Path=/"; return 200 "cookie set\\n"; }
    location = /vary { add_header Vary Accept; try_files $vary_file =404; }
    location = /npm/demo-pkg { default_type application/json; try_files /npm/demo-pkg/index.json =404; }
    location /smart/ {
      fastcgi_pass unix:${root}/fcgi.sock;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT ${www}/git;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_split_path_info ^(/smart)(/.*)$;
      fastcgi_param PATH_INFO $fastcgi_path_info;
    }
  }
}
`;
}

async function addHostsLine(): Promise<boolean> {
  try {
    const hosts = await readFile(HOSTS_FILE, 'utf8');
    if (!hosts.includes(HOSTS_MARK)) await writeFile(HOSTS_FILE, `${hosts.endsWith('\n') ? hosts : hosts + '\n'}${ORIGIN_ADDRESS} ${ORIGIN_HOST} ${HOSTS_MARK}\n`);
    return true;
  } catch {
    return false;
  }
}

async function removeHostsLine(): Promise<void> {
  try {
    const hosts = await readFile(HOSTS_FILE, 'utf8');
    if (hosts.includes(HOSTS_MARK)) await writeFile(HOSTS_FILE, hosts.split('\n').filter((l) => !l.includes(HOSTS_MARK)).join('\n'));
  } catch {
    // not ours to fix
  }
}

/** Waits until `child` listens on host:port (or fails if it exits first). */
export async function waitForPort(host: string, port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

/** Makes the origin's files and starts it. Needs nginx, fcgiwrap, git, openssl, python3, npm. */
export async function startOrigin(options: OriginOptions = {}): Promise<Origin> {
  const root = await makeTempDir('origin-');
  await chmod(root, 0o755);
  for (const d of ['logs', 'tmp']) await mkdir(path.join(root, d));
  const named = await addHostsLine();
  const host = named ? ORIGIN_HOST : ORIGIN_ADDRESS;
  const ports = { https: await freePort(), http: await freePort() };
  const httpsBase = `https://${host}:${ports.https}`;
  const httpBase = `http://${host}:${ports.http}`;
  const material = await tlsMaterial(root);
  await fixtures(root, httpsBase);
  await writeFile(path.join(root, 'nginx.conf'), nginxConf(root, ports, material, httpsBase, options));
  let nginx: ChildProcess | null = null;
  let fcgi: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const socket = path.join(root, 'fcgi.sock');
    await rm(socket, { force: true });
    fcgi = spawn(findTool('fcgiwrap') ?? 'fcgiwrap', ['-s', `unix:${socket}`], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        await chmod(socket, 0o666);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    nginx = spawn(findTool('nginx') ?? 'nginx', ['-p', root, '-c', path.join(root, 'nginx.conf'), '-e', path.join(root, 'logs', 'startup.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
    await waitForPort(ORIGIN_ADDRESS, ports.https, nginx, 'the origin nginx');
  };
  const stop = async (): Promise<void> => {
    for (const child of [nginx, fcgi]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(child === nginx ? 'SIGQUIT' : 'SIGTERM');
      await exited;
    }
    nginx = null;
    fcgi = null;
  };
  await start();
  return {
    dir: root,
    httpsBase,
    httpBase,
    httpsPort: ports.https,
    httpPort: ports.http,
    caFile: material.caFile,
    certFile: material.certFile,
    keyFile: material.keyFile,
    named,
    requests: async () => (await readFile(path.join(root, 'logs', 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop,
    start,
    remove: async () => {
      await stop();
      await removeHostsLine();
      await rm(root, { recursive: true, force: true });
    },
  };
}
