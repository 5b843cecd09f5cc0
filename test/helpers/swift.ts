// OpenStack Swift with its S3 API (s3api), from Debian's packages, as a test's S3 server:
// one account, container and object server and a proxy with tempauth and s3api, and the
// memcached tempauth needs, all on 127.0.0.1 with free ports, their data in a temporary
// folder, started and stopped by the test. S3 credentials: test:tester / testing.
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import { makeTempDir } from './harness.js';
import { freePort } from './nginx.js';
import { findTool, run, skipUnlessCi } from './tools.js';
import { Daemons, runningS3, until, type RunningS3 } from './daemons.js';

export interface RunningSwift extends RunningS3 {
  /** The S3 endpoint goes away (its proxy server killed; the stored objects stay) ... */
  stopProxy(): Promise<void>;
  /** ... and comes back on the same port. */
  startProxy(): Promise<void>;
}

const SERVERS = ['account', 'container', 'object'] as const;

export const SWIFT_PACKAGES = 'swift swift-proxy swift-account swift-container swift-object memcached';

/** Swift's programs, or a skip (a failure under CI) naming the packages. */
export function requireSwift(ctx: Mocha.Context): void {
  for (const tool of ['swift-proxy-server', 'swift-object-server', 'swift-ring-builder', 'memcached']) {
    if (!findTool(tool)) skipUnlessCi(ctx, `${tool} is not installed`, `apt-get install ${SWIFT_PACKAGES}, as .ci/run does`);
  }
}

export async function startSwift(): Promise<RunningSwift> {
  const dir = await makeTempDir('swift-');
  const etc = path.join(dir, 'etc');
  const devices = path.join(dir, 'node');
  await mkdir(etc);
  await mkdir(path.join(devices, 'd1'), { recursive: true });
  const user = userInfo().username;
  const [proxyPort, memcachedPort, ...serverPorts] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
  await writeFile(path.join(etc, 'swift.conf'), '[swift-hash]\nswift_hash_path_suffix = artifact-repo-test\nswift_hash_path_prefix = artifact-repo-test\n[storage-policy:0]\nname = gold\ndefault = yes\n');
  // No syslog here: a log address that does not exist leaves Swift's logs unwritten.
  const common = (port: number): string => `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\nswift_dir = ${etc}\nworkers = 0\nuser = ${user}\nlog_address = ${path.join(dir, 'no-syslog')}\n`;
  for (const [i, server] of SERVERS.entries()) {
    const port = serverPorts[i] as number;
    for (const args of [['create', '4', '1', '1'], ['add', `r1z1-127.0.0.1:${port}/d1`, '1'], ['rebalance']]) {
      const built = await run('swift-ring-builder', [path.join(etc, `${server}.builder`), ...args]);
      if (built.code !== 0) throw new Error(`swift-ring-builder ${args.join(' ')}: ${built.stdout}${built.stderr}`);
    }
    await writeFile(path.join(etc, `${server}-server.conf`), `${common(port)}devices = ${devices}\nmount_check = false\n[pipeline:main]\npipeline = ${server}-server\n[app:${server}-server]\nuse = egg:swift#${server}\n`);
  }
  const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'proxy_logging', 'listing_formats', 's3api', 'copy', 'slo', 'dlo'];
  await writeFile(
    path.join(etc, 'proxy-server.conf'),
    `${common(proxyPort as number)}[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy_logging cache listing_formats s3api tempauth copy slo dlo proxy_logging proxy-server\n` +
      `[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\n` +
      `[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:${memcachedPort}\n` +
      filters.map((f) => `[filter:${f}]\nuse = egg:swift#${f}\n`).join(''),
  );
  const daemons = new Daemons(dir);
  const start = (cmd: string, args: string[]): ChildProcess => daemons.start(cmd, args);
  const stop = (): Promise<void> => daemons.stop();
  try {
    start('memcached', ['-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0', '-u', user]);
    for (const server of SERVERS) start(`swift-${server}-server`, [path.join(etc, `${server}-server.conf`)]);
    const endpoint = `http://127.0.0.1:${proxyPort}`;
    const proxyUp = (): Promise<void> => until('Swift: the proxy', async () => (await fetch(`${endpoint}/healthcheck`).catch(() => null))?.status === 200, 30_000);
    let proxy = start('swift-proxy-server', [path.join(etc, 'proxy-server.conf')]);
    await proxyUp();
    return {
      ...runningS3(endpoint, { accessKeyId: 'test:tester', secretAccessKey: 'testing' }, daemons, 30_000),
      stopProxy: () => daemons.kill(proxy),
      async startProxy() {
        // Once: a second one would share the port (SO_REUSEPORT) and outlive a stop.
        if (proxy.exitCode === null && proxy.signalCode === null) return;
        proxy = start('swift-proxy-server', [path.join(etc, 'proxy-server.conf')]);
        await proxyUp();
      },
    };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${daemons.tail()}`);
  }
}
