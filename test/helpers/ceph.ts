// Ceph's object gateway (RGW) from Debian's packages, as a test's S3 server: one monitor,
// one OSD on memstore (its data in RAM), radosgw, all on 127.0.0.1 with free ports and
// without authentication between them, their files in a temporary folder, started and
// stopped by the test; an S3 user made with radosgw-admin.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { makeTempDir } from './harness.js';
import { freePort } from './nginx.js';
import { findTool, run, skipUnlessCi } from './tools.js';
import type { RunningSwift } from './swift.js';

export type RunningRgw = RunningSwift;

export const CEPH_PACKAGES = 'ceph-mon ceph-osd radosgw ceph-common';

export function requireCeph(ctx: Mocha.Context): void {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph']) {
    if (!findTool(tool)) skipUnlessCi(ctx, `${tool} is not installed`, `apt-get install ${CEPH_PACKAGES}, as .ci/run does`);
  }
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`Ceph: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startRgw(): Promise<RunningRgw> {
  const dir = await makeTempDir('ceph-');
  const [monPort, rgwPort] = await Promise.all([freePort(), freePort()]);
  const fsid = randomUUID();
  const conf = path.join(dir, 'ceph.conf');
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(
    conf,
    [
      '[global]',
      `fsid = ${fsid}`,
      `mon host = v1:127.0.0.1:${monPort}`,
      'mon initial members = a',
      // Loopback only, one process tree: no authentication between the daemons.
      'auth cluster required = none',
      'auth service required = none',
      'auth client required = none',
      'osd pool default size = 1',
      'osd pool default min size = 1',
      'osd pool default pg num = 8',
      'osd pool default pgp num = 8',
      'mon allow pool size one = true',
      'mon max pg per osd = 1000',
      'osd objectstore = memstore',
      'memstore device bytes = 1073741824',
      `run dir = ${path.join(dir, 'run')}`,
      `admin socket = ${path.join(dir, 'run')}/$name.asok`,
      `log file = ${path.join(dir, 'log')}/$name.log`,
      `pid file = ${path.join(dir, 'run')}/$name.pid`,
      `mon data = ${path.join(dir, 'mon')}/$cluster-$id`,
      `osd data = ${path.join(dir, 'osd')}/$cluster-$id`,
      'ms bind ipv6 = false',
      'public addr = 127.0.0.1',
      '[client.rgw]',
      `rgw frontends = beast endpoint=127.0.0.1:${rgwPort}`,
      `rgw data = ${path.join(dir, 'rgw')}`,
      '',
    ].join('\n'),
  );
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const start = (cmd: string, args: string[]): void => {
    const child = spawn(cmd, ['-c', conf, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    children.push(child);
  };
  const must = async (cmd: string, args: string[]): Promise<string> => {
    const done = await run(cmd, ['-c', conf, ...args], { timeoutMs: 60_000 });
    if (done.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${done.stdout}${done.stderr}`);
    return done.stdout;
  };
  const stop = async (): Promise<void> => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const monmap = path.join(dir, 'monmap');
    const made = await run('monmaptool', ['--create', '--add', 'a', `v1:127.0.0.1:${monPort}`, '--fsid', fsid, monmap]);
    if (made.code !== 0) throw new Error(`monmaptool: ${made.stderr}`);
    await must('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', monmap]);
    start('ceph-mon', ['-i', 'a', '-f']);
    const osdUuid = randomUUID();
    await must('ceph', ['--connect-timeout', '30', 'osd', 'create', osdUuid]);
    await must('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    start('ceph-osd', ['-i', '0', '-f']);
    start('radosgw', ['-n', 'client.rgw', '-f']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until('radosgw answering', async () => (await fetch(endpoint).catch(() => null))?.status === 200, 60_000);
    const accessKeyId = 'ARTIFACTREPOTEST';
    const secretAccessKey = 'artifact-repo-test-secret';
    await must('radosgw-admin', ['user', 'create', '--uid=artifact-repo', '--display-name=artifact-repo', `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      client,
      async bucket(name) {
        await until(`bucket ${name} made`, () => client.send(new CreateBucketCommand({ Bucket: name })).then(() => true, () => false), 60_000);
        return name;
      },
      async stop() {
        client.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.join('').slice(-2000)}`);
  }
}
