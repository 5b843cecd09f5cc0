// Ceph RGW from Debian's packages (Ceph 16) as a test's S3 server: one monitor, one OSD
// keeping its objects in memory (memstore), no manager, and radosgw with its beast frontend,
// all on 127.0.0.1 with free ports, every file (configuration, maps, data, sockets, logs) in
// a temporary folder, started and stopped by the test. No cephx (auth none).
// S3 credentials: test / test-secret-key.
//
// The monitor speaks msgr2 only (a `v2:` address in the monitor map and in `mon host`),
// never the legacy protocol: over v1 an OSD's monitor client counts itself authenticated
// on the auth reply, before the monitor's map has come, and the OSD sends its first command
// (`osd crush create-or-move`, from OSD::init) stamped with the fsid of the map it built
// from `mon host`, which is all zeros; the monitor refuses it ("wrong fsid", EPERM) and the
// OSD exits. A race, lost about a third of the time (4 of 10 runs of the earlier script, a
// shell one as much as from Node; its `fsid` in the configuration did not help); 0 of 40
// over v2. Besides: one fsid, in the configuration and the monitor map; every program given
// -c (never /etc/ceph, CEPH_ARGS or CEPH_CONF); the steps in order, each waited for
// (monitor in quorum, `ceph osd new`, `ceph-osd --mkfs` and its fsid checked, the OSD up,
// radosgw answering, the S3 user).
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from './harness.js';
import { freePort } from './nginx.js';
import { findTool, run, skipUnlessCi, type RunResult } from './tools.js';
import { Daemons, runningS3, until, type RunningS3 } from './daemons.js';

export const CEPH_PACKAGES = 'ceph-mon ceph-osd radosgw ceph-common';

const TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];

/** Ceph's programs, or a skip (a failure under CI) naming the packages. */
export function requireCeph(ctx: Mocha.Context): void {
  for (const tool of TOOLS) {
    if (!findTool(tool)) skipUnlessCi(ctx, `${tool} is not installed`, `apt-get install ${CEPH_PACKAGES}, as .ci/run does`);
  }
}

export const CEPH_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test-secret-key' };

/** The environment without what would point Ceph's programs at another cluster's settings. */
function cephEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('CEPH_')) delete env[name];
  return env;
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = ${dir}/keyring
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon cluster log file = ${dir}/log/cluster.log
log to stderr = false
err to stderr = true
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# one monitor: no need to gather changes for a second before proposing them (13 s to start, not 2)
paxos propose interval = 0.01
paxos min wait = 0.001
osd objectstore = memstore
memstore device bytes = 4294967296
osd fast shutdown = true
[client.rgw]
rgw data = ${dir}/rgw
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
# radosgw asks for a secure connection to the monitor, which auth none cannot give
ms mon client mode = crc secure
`;
}

export async function startCeph(): Promise<RunningS3> {
  const dir = await makeTempDir('ceph-');
  for (const sub of ['run', 'log', 'mon/ceph-a', 'osd/ceph-0', 'rgw']) await mkdir(path.join(dir, sub), { recursive: true });
  const conf = path.join(dir, 'ceph.conf');
  const fsid = randomUUID();
  const osdUuid = randomUUID();
  const [monPort, rgwPort] = await Promise.all([freePort(), freePort()]);
  await writeFile(conf, config(dir, fsid, monPort as number, rgwPort as number));
  const env = cephEnv();
  const daemons = new Daemons(dir);
  /** A one-shot program, always with this cluster's configuration; its failure an error. */
  const step = async (file: string, args: string[], timeoutMs = 60_000): Promise<RunResult> => {
    const result = await run(file, ['-c', conf, ...args], { env, timeoutMs });
    if (result.code !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    return result;
  };
  const ceph = (args: string[]): Promise<RunResult> => step('ceph', ['--connect-timeout', '10', ...args]);
  const json = async <T>(args: string[]): Promise<T | null> => {
    const result = await run('ceph', ['-c', conf, '--connect-timeout', '5', ...args, '--format', 'json'], { env, timeoutMs: 15_000 });
    try {
      return result.code === 0 ? (JSON.parse(result.stdout) as T) : null;
    } catch {
      return null;
    }
  };
  const alive = (name: string, child: { exitCode: number | null; signalCode: string | null }): void => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Ceph: ${name} exited (${child.exitCode ?? child.signalCode})`);
  };
  const logs = async (): Promise<string> => {
    const parts: string[] = [];
    for (const name of ['mon.a', 'osd.0', 'client.rgw']) {
      const text = await readFile(path.join(dir, 'log', `${name}.log`), 'utf8').catch(() => '');
      if (text) parts.push(`--- ${name}.log\n${text.slice(-1500)}`);
    }
    return parts.join('\n');
  };
  try {
    // The monitor: its map made with the configuration's fsid, its store made, started, in quorum.
    const monmap = path.join(dir, 'monmap');
    await step('monmaptool', ['--create', '--fsid', fsid, '--add', 'a', `v2:127.0.0.1:${monPort}`, monmap]);
    await step('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', 'none']);
    const mon = daemons.start('ceph-mon', ['-c', conf, '-i', 'a', '-f'], { env });
    await until(
      'Ceph: the monitor in quorum',
      async () => {
        alive('ceph-mon', mon);
        const status = await json<{ quorum_names?: string[]; monmap?: { fsid?: string } }>(['quorum_status']);
        if (status?.monmap?.fsid !== undefined && status.monmap.fsid !== fsid) throw new Error(`Ceph: the monitor has fsid ${status.monmap.fsid}, not ${fsid}`);
        return status?.quorum_names?.includes('a') === true;
      },
      30_000,
    );
    // The OSD: its id first, then its store (stamped with the cluster's fsid), then the daemon.
    const id = (await ceph(['osd', 'new', osdUuid, '0'])).stdout.trim();
    if (id !== '0') throw new Error(`Ceph: ceph osd new answered ${JSON.stringify(id)}, not 0`);
    await step('ceph-osd', ['--mkfs', '-i', '0', '--osd-uuid', osdUuid]);
    const stamped = (await readFile(path.join(dir, 'osd', 'ceph-0', 'ceph_fsid'), 'utf8')).trim();
    if (stamped !== fsid) throw new Error(`Ceph: the OSD's store has fsid ${stamped}, not ${fsid}`);
    const osd = daemons.start('ceph-osd', ['-c', conf, '-i', '0', '-f'], { env });
    await until(
      'Ceph: the OSD up',
      async () => {
        alive('ceph-osd', osd);
        const dump = await json<{ osds?: { osd: number; up: number; uuid: string }[] }>(['osd', 'dump']);
        return dump?.osds?.some((o) => o.osd === 0 && o.up === 1 && o.uuid === osdUuid) === true;
      },
      60_000,
    );
    // The gateway (it makes its pools as it starts), then the S3 user.
    const rgw = daemons.start('radosgw', ['-c', conf, '-n', 'client.rgw', '-f'], { env });
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until(
      'Ceph: radosgw answering',
      async () => {
        alive('radosgw', rgw);
        return fetch(endpoint).then((res) => res.arrayBuffer()).then(() => true, () => false);
      },
      120_000,
    );
    await step('radosgw-admin', ['user', 'create', '--uid=test', '--display-name=test', `--access-key=${CEPH_CREDENTIALS.accessKeyId}`, `--secret=${CEPH_CREDENTIALS.secretAccessKey}`]);
    return runningS3(endpoint, CEPH_CREDENTIALS, daemons, 60_000);
  } catch (err) {
    const detail = `${daemons.tail()}\n${await logs()}`;
    await daemons.stop();
    throw new Error(`${(err as Error).message}\n${detail}`);
  }
}
