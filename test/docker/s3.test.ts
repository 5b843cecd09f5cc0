// The S3-mode deployment, run for real: docker/docker-compose.s3.yml unchanged on a private
// Docker engine, its three replicas sharing no volume, with an object store of the test's
// own on the compose network (Swift with s3api from Debian, test/docker/object-store/),
// added by an override file as a user would point S3_ENDPOINT at theirs. Uploads land in
// the bucket, downloads come from it through nginx/bucket.conf's redirect (resolved by
// Docker's DNS), the seal writes its files there, and a lost object store is a 503.
//
// `npm run test:docker`. Skipped with the reason where no engine can start; under CI that
// fails instead.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../helpers/nginx.js';
import { run, skipUnlessCi, type RunResult } from '../helpers/tools.js';
import { composeProject, engineUnavailable, masterClient, startEngine, userCheckout, type Engine, tearDownCompose } from './engine.js';
import { ensureObjectStore, ensureStandins } from './standins.js';

const MASTER_PASSWORD = 'a-long-master-password-for-s3';
const POSTGRES_PASSWORD = 'a-long-postgres-password-for-s3';
const PROJECT = 'artrepos3';
const COMPOSE_FILE = 'docker/docker-compose.s3.yml';
const OVERRIDE_FILE = 'docker/object-store.override.yml';
const REPLICAS = 3;
const BUCKET = 'artifacts';
const PREFIX = 'repo';
// The object store's S3 user (test/docker/object-store/swift-entrypoint.sh's tempauth user).
const S3_KEY = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

describe('S3-mode docker deployment on a real engine', function () {
  this.timeout(1_800_000);
  const timings: string[] = [];
  let engine: Engine | null = null;
  let work: string;
  let base: string;
  let composeEnv: NodeJS.ProcessEnv;
  let s3: S3Client;

  const project = composeProject([COMPOSE_FILE, OVERRIDE_FILE], () => ({ engine, work, env: composeEnv }));
  const { containersOf, healthOf } = project;
  const compose = (args: string[]): Promise<RunResult> => project.run(args);
  const mustCompose = (args: string[]): Promise<string> => project.must(args);
  const waitHealthy = async (services: Record<string, number>, what: string): Promise<void> => {
    const started = Date.now();
    for (;;) {
      const ids = (await Promise.all(Object.keys(services).map(containersOf))).flat();
      const states = await Promise.all(ids.map(healthOf));
      const wanted = Object.values(services).reduce((a, b) => a + b, 0);
      if (ids.length === wanted && states.every((s) => s === 'healthy true')) break;
      if (Date.now() - started > 240_000) throw new Error(`${what}: not healthy after 240 s: ${states.join(', ')}\n${(await compose(['logs', '--tail', '30'])).stdout}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    timings.push(`${what} healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  const { master, mint, put } = masterClient(() => base, MASTER_PASSWORD, 's3');
  /** Every object below the repository's prefix, with its size. */
  const objects = async (): Promise<Map<string, number>> => {
    const found = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) found.set(o.Key as string, o.Size ?? 0);
      token = page.NextContinuationToken;
    } while (token);
    return found;
  };
  /** The request lines every app replica logged for a path (JSON, as pino writes them). */
  const appRequests = async (pathname: string): Promise<{ method: string; status: number; bytes_out: number }[]> =>
    (await project.logsOf('app')).filter((line) => line.includes('"msg":"request"') && line.includes(`"path":"${pathname}"`)).map((line) => JSON.parse(line) as { method: string; status: number; bytes_out: number });

  before(async function () {
    const why = engineUnavailable();
    if (why) skipUnlessCi(this, `the Docker engine test cannot run: ${why}`, 'install docker.io, docker-compose, debootstrap and iptables and run as root, as .ci/run does');
    let started = Date.now();
    engine = await startEngine();
    await ensureStandins(engine, (line) => timings.push(line), { postgres: true });
    const objectStore = await ensureObjectStore(engine, (line) => timings.push(line));
    timings.push(`engine, stand-ins and object store ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    work = await userCheckout('compose-s3-');
    // The four secret files, as the compose file's header says.
    const secrets = {
      master_password: MASTER_PASSWORD,
      postgres_password: POSTGRES_PASSWORD,
      database_url: `postgres://artifacts:${POSTGRES_PASSWORD}@postgres:5432/artifacts`,
      s3_credentials: `[default]\naws_access_key_id = ${S3_KEY.accessKeyId}\naws_secret_access_key = ${S3_KEY.secretAccessKey}`,
    };
    for (const [name, value] of Object.entries(secrets)) {
      await writeFile(path.join(work, `docker/${name}.txt`), `${value}\n`);
      await chmod(path.join(work, `docker/${name}.txt`), 0o600);
    }
    await chown(path.join(work, 'docker/postgres_password.txt'), 999, 999);
    await chown(path.join(work, 'docker/s3_credentials.txt'), 1000, 1000);
    // The user's object store: published on loopback only, for this test to make the
    // bucket and to look into it; the replicas and nginx reach it by its service name.
    const s3Port = await freePort();
    await writeFile(
      path.join(work, OVERRIDE_FILE),
      `services:\n  s3:\n    image: ${objectStore}\n    ports:\n      - "127.0.0.1:${s3Port}:8080"\n  app:\n    depends_on:\n      s3:\n        condition: service_healthy\n`,
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    composeEnv = {
      ...engine.env,
      COMPOSE_PROJECT_NAME: PROJECT,
      HTTP_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(port),
      PROXY_ADDRESS: '127.0.0.1',
      PROXY_PORT: String(await freePort()),
      PUBLIC_URL: `${base}/`,
      BLOB_STORE: `s3://${BUCKET}/${PREFIX}`,
      S3_ENDPOINT: 'http://s3:8080',
      S3_FORCE_PATH_STYLE: 'true',
    };
    await compose(['down', '-v', '--remove-orphans']);
    started = Date.now();
    await mustCompose(['up', '-d', 's3']);
    await waitHealthy({ s3: 1 }, 'the object store');
    s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${s3Port}`, forcePathStyle: true, credentials: S3_KEY });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    started = Date.now();
    await mustCompose(['up', '-d', '--build']);
    timings.push(`up -d --build: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await waitHealthy({ postgres: 1, app: REPLICAS, nginx: 1 }, 'the deployment');
  });

  after(async () => {
    s3?.destroy();
    await tearDownCompose(engine, work, compose, timings);
  });

  it(`runs ${REPLICAS} replicas that share no volume: each has only its secrets and its own anonymous volumes`, async () => {
    const ids = await containersOf('app');
    expect(ids).to.have.length(REPLICAS);
    const volumes: string[] = [];
    for (const id of ids) {
      const mounts = JSON.parse((await (engine as Engine).docker(['inspect', '--format', '{{json .Mounts}}', id])).stdout) as { Type: string; Name?: string; Destination: string }[];
      // The image's VOLUMEs (/data/artifacts for temporary files, /data/tokens), each replica's own.
      const own = mounts.filter((m) => m.Type === 'volume');
      expect(own.map((m) => m.Destination).sort(), JSON.stringify(mounts)).to.deep.equal(['/data/artifacts', '/data/tokens']);
      expect(own.every((m) => /^[0-9a-f]{64}$/.test(m.Name ?? '')), 'anonymous volumes only').to.equal(true);
      volumes.push(...own.map((m) => m.Name as string));
      expect(mounts.filter((m) => m.Type !== 'volume' && !m.Destination.startsWith('/run/secrets/')), JSON.stringify(mounts)).to.deep.equal([]);
    }
    expect(new Set(volumes).size, 'no volume is shared by two replicas').to.equal(volumes.length);
  });

  it('uploads through nginx become objects in the bucket, and downloads come from it through the redirect, with the app\'s headers', async () => {
    const t = await mint('1');
    const big = randomBytes(5 * 1024 * 1024);
    const small = 'a small file\n';
    const before = await objects();
    expect(await put(t, 'big.bin', big)).to.equal(201);
    expect(await put(t, 'small.txt', small)).to.equal(201);
    const added = [...(await objects())].filter(([key]) => !before.has(key));
    // The two bodies are objects (content-addressed: no file name in a key), nothing else in the way.
    expect(added.map(([, size]) => size).sort((a, b) => a - b)).to.deep.equal([Buffer.byteLength(small), big.length]);

    for (const [name, body] of [['big.bin', big], ['small.txt', Buffer.from(small)]] as const) {
      const res = await fetch(`${base}${t.scope}${name}`);
      expect(res.status, name).to.equal(200);
      expect(res.headers.get('x-checksum-sha256')).to.equal(sha256(body));
      expect(res.headers.get('etag')).to.match(/^"/);
      expect(res.headers.get('x-amz-request-id')).to.equal(null);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).to.equal(sha256(body));
    }
    // The app answered the big GET with a redirect, not its bytes: nginx fetched them from the store.
    const gets = (await appRequests(`${t.scope}big.bin`)).filter((l) => l.method === 'GET');
    expect(gets, JSON.stringify(gets)).to.have.length(1);
    expect(gets[0]?.bytes_out).to.be.lessThan(4096);
    // A range is the app's own answer, from the bucket too.
    const range = await fetch(`${base}${t.scope}big.bin`, { headers: { Range: 'bytes=1000-1999' } });
    expect(range.status).to.equal(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(big.subarray(1000, 2000))).to.equal(true);
  });

  it('revoking seals the build: its sums are served from the bucket and sha256sum -c accepts the files', async () => {
    const t = await mint('2');
    const files: Record<string, Buffer> = { 'pkg_1.0_amd64.tar': randomBytes(300_000), 'notes.txt': Buffer.from('sealed in a bucket\n') };
    for (const [name, body] of Object.entries(files)) expect(await put(t, name, body)).to.equal(201);
    expect((await fetch(`${base}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: master } })).status).to.equal(204);
    let sums = '';
    for (let i = 0; i < 60 && !sums; i++) {
      const res = await fetch(`${base}${t.scope}SHA256SUMS`);
      if (res.status === 200) sums = await res.text();
      else await new Promise((r) => setTimeout(r, 500));
    }
    const dir = path.join(work, 'sealed');
    await run('mkdir', ['-p', dir]);
    await writeFile(path.join(dir, 'SHA256SUMS'), sums);
    for (const name of Object.keys(files)) await writeFile(path.join(dir, name), Buffer.from(await (await fetch(`${base}${t.scope}${name}`)).arrayBuffer()));
    const checked = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(checked.code, checked.stdout + checked.stderr).to.equal(0);
    expect(checked.stdout.trim().split('\n').sort()).to.deep.equal(Object.keys(files).map((n) => `${n}: OK`).sort());
  });

  it('with the object store stopped, a download is a 503 with Retry-After and an upload a 503 that leaves nothing; both work once it is back', async () => {
    const t = await mint('3');
    expect(await put(t, 'kept.txt', 'kept\n')).to.equal(201);
    await mustCompose(['stop', 's3']);
    try {
      const got = await fetch(`${base}${t.scope}kept.txt`);
      expect(got.status).to.equal(503);
      expect(got.headers.get('retry-after')).to.match(/^\d+$/);
      expect(await put(t, 'lost.txt', 'lost\n')).to.equal(503);
      expect((await fetch(`${base}${t.scope}lost.txt`)).status).to.equal(404);
    } finally {
      await mustCompose(['start', 's3']);
      await waitHealthy({ s3: 1 }, 'the object store, started again');
    }
    const got = await fetch(`${base}${t.scope}kept.txt`);
    expect(got.status).to.equal(200);
    expect(await got.text()).to.equal('kept\n');
    expect(await put(t, 'after.txt', 'after\n')).to.equal(201);
  });
});
