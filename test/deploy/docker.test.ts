// The docker deployment's files, checked without a Docker engine: the compose file
// validates with Debian's docker-compose and says what the deployment needs; the
// Dockerfile builds what `npm start` runs, with production dependencies only. The
// deployment itself runs on a real engine in test/docker/ (npm run test:docker).
import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/harness.js';
import { requireTool, run } from '../helpers/tools.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  secrets?: { source: string }[];
  volumes?: string[];
  ports?: ({ published: number | string; target: number } | string)[];
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  networks?: Record<string, unknown>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}

describe('docker deployment files', function () {
  this.timeout(60_000);
  let compose: { services: Record<string, ComposeService>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }>; networks?: unknown };
  let dockerfile: string;

  before(async function () {
    const dockerCompose = requireTool(this, 'docker-compose', 'docker-compose');
    const result = await run(dockerCompose, ['-f', path.join(REPO_ROOT, 'docker/docker-compose.yml'), 'config'], { env: { ...process.env, PUBLIC_URL: '', HTTP_PORT: '' } });
    expect(result.code, result.stderr).to.equal(0);
    compose = parse(result.stdout);
    dockerfile = await readFile(path.join(REPO_ROOT, 'docker/Dockerfile'), 'utf8');
  });

  it('has nginx and the app, named volumes, artifacts read-only in nginx, tokens only in the app', () => {
    expect(Object.keys(compose.services).sort()).to.deep.equal(['app', 'nginx']);
    expect(Object.keys(compose.volumes).sort()).to.deep.equal(['artifacts', 'sockets', 'tokens']);
    const { app, nginx } = compose.services as { app: ComposeService; nginx: ComposeService };
    expect(app.volumes).to.include.members(['artifacts:/data/artifacts:rw', 'tokens:/data/tokens:rw', 'sockets:/run/artifact-repo:rw']);
    expect(nginx.volumes).to.include.members(['artifacts:/srv/artifacts:ro', 'sockets:/run/artifact-repo:ro']);
    expect((nginx.volumes ?? []).some((v) => v.startsWith('tokens:'))).to.equal(false);
  });

  it('passes the master password as a docker secret read through MASTER_PASSWORD_FILE', () => {
    const app = compose.services.app as ComposeService;
    expect(app.secrets?.map((s) => s.source)).to.deep.equal(['master_password']);
    expect(app.environment?.MASTER_PASSWORD_FILE).to.equal('/run/secrets/master_password');
    expect(app.environment).to.not.have.property('MASTER_PASSWORD');
    expect(compose.secrets.master_password?.file).to.match(/docker\/master_password\.txt$/);
  });

  it('publishes nginx and the build proxy, restarts both, healthchecks both, nginx reaches the app by its socket', () => {
    const { app, nginx } = compose.services as { app: ComposeService; nginx: ComposeService };
    // The build proxy is the app's own port (nginx cannot carry CONNECT); the rest is nginx's.
    expect((app.ports ?? []).map((p) => (typeof p === 'string' ? p.split(':').slice(-1)[0] : String(p.target)))).to.deep.equal(['8081/tcp']);
    expect(nginx.ports).to.have.length(1);
    const port = nginx.ports?.[0];
    expect(typeof port === 'string' ? /:80(\/tcp)?$/.test(port) : port?.target === 80, JSON.stringify(port)).to.equal(true);
    expect(app.restart).to.equal('unless-stopped');
    expect(nginx.restart).to.equal('unless-stopped');
    expect(nginx.depends_on?.app?.condition).to.equal('service_healthy');
    expect(nginx.healthcheck?.test.join(' ')).to.include('/-/health');
    // No fixed subnet or address: nginx finds the app by a socket on their shared volume,
    // and only what arrives there is believed to come from a proxy.
    expect(JSON.stringify(compose)).to.not.match(/subnet|ipv4_address/);
    expect(app.environment).to.not.have.property('TRUSTED_PROXIES');
    expect(nginx.environment?.ARTIFACT_REPO_UPSTREAM).to.equal(`unix:${app.environment?.LISTEN_SOCKET}`);
    expect(app.environment?.LISTEN_SOCKET?.startsWith('/run/artifact-repo/')).to.equal(true);
    // Uploads in flight get SHUTDOWN_GRACE seconds; docker must wait longer before SIGKILL.
    expect(parseInt(app.stop_grace_period ?? '10', 10)).to.be.greaterThan(Number(app.environment?.SHUTDOWN_GRACE ?? 30));
  });

  it("gives nginx exactly the template's placeholders, and only those are substituted", async () => {
    const template = await readFile(path.join(REPO_ROOT, 'nginx/templates/default.conf.template'), 'utf8');
    const placeholders = [...new Set([...template.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]))].sort();
    const env = (compose.services.nginx as ComposeService).environment ?? {};
    expect(placeholders).to.deep.equal(Object.keys(env).filter((k) => k !== 'NGINX_ENVSUBST_FILTER').sort());
    const filter = new RegExp((env.NGINX_ENVSUBST_FILTER as string).replace('$$', '$'));
    for (const name of placeholders) expect(filter.test(name as string), name).to.equal(true);
    expect(filter.test('PATH')).to.equal(false);
  });

  it('Dockerfile: pinned node:20 bookworm-slim, multi-stage, npm ci --omit=dev, runs as node, healthcheck, tini', () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).to.have.length(2);
    for (const image of froms) expect(image).to.match(/^node:20\.\d+\.\d+-bookworm-slim$/);
    expect(dockerfile).to.match(/npm ci --omit=dev/);
    // Root only to read the secret; the process then becomes node (server/privileges.ts).
    expect(dockerfile).to.not.match(/^USER /m);
    expect(dockerfile).to.match(/RUN_AS_USER=node/);
    expect(dockerfile).to.match(/^HEALTHCHECK[\s\S]*\/-\/health/m);
    expect(dockerfile).to.match(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/app\/docker\/entrypoint\.sh"\]$/m);
    expect(dockerfile).to.match(/tsconfig\.build\.json/);
    // The admin CLI is built, copied and on the PATH (docker compose exec app artifact-repo ...).
    expect(dockerfile).to.match(/^COPY cli \.\/cli$/m);
    expect(dockerfile).to.match(/^COPY --from=build \/src\/dist\/cli \.\/dist\/cli$/m);
    expect(dockerfile).to.match(/ln -s \/app\/dist\/cli\/main\.js \/usr\/local\/bin\/artifact-repo/);
  });

  it('the image needs nothing from devDependencies: every package the app imports is a dependency', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const imported = new Set<string>();
    for (const dir of ['dist/server', 'dist/token-service', 'dist/cli']) {
      for (const file of await readdir(path.join(REPO_ROOT, dir), { recursive: true })) {
        if (!file.endsWith('.js')) continue;
        const code = await readFile(path.join(REPO_ROOT, dir, file), 'utf8');
        for (const m of code.matchAll(/from '([^'.][^']*)'/g)) {
          const spec = m[1] as string;
          if (spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string));
        }
      }
    }
    expect([...imported].filter((p) => !(p in pkg.dependencies))).to.deep.equal([]);
  });
});

describe('docker deployment files: several replicas (docker-compose.ha.yml)', function () {
  this.timeout(60_000);
  let compose: { services: Record<string, ComposeService & { deploy?: { replicas?: number } }>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> };

  before(async function () {
    const dockerCompose = requireTool(this, 'docker-compose', 'docker-compose');
    const result = await run(dockerCompose, ['-f', path.join(REPO_ROOT, 'docker/docker-compose.ha.yml'), 'config'], { env: { ...process.env, PUBLIC_URL: '', HTTP_PORT: '' } });
    expect(result.code, result.stderr).to.equal(0);
    compose = parse(result.stdout);
  });

  it('has PostgreSQL, the app as several replicas sharing the artifacts volume, and nginx in front of them', () => {
    expect(Object.keys(compose.services).sort()).to.deep.equal(['app', 'nginx', 'postgres']);
    const { app, nginx, postgres } = compose.services as Record<string, ComposeService & { deploy?: { replicas?: number } }>;
    expect(app?.deploy?.replicas).to.be.greaterThan(1);
    expect(app?.volumes).to.deep.equal(['artifacts:/data/artifacts:rw']);
    expect(nginx?.volumes).to.include('artifacts:/srv/artifacts:ro');
    expect(postgres?.volumes).to.deep.equal(['database:/var/lib/postgresql/data:rw']);
    expect(app?.depends_on?.postgres?.condition).to.equal('service_healthy');
    expect(nginx?.depends_on?.app?.condition).to.equal('service_healthy');
    expect(postgres?.healthcheck?.test.join(' ')).to.include('pg_isready');
  });

  it('passes every password as a docker secret: the master, PostgreSQL\'s, and DATABASE_URL through DATABASE_URL_FILE', () => {
    const { app, postgres } = compose.services as Record<string, ComposeService>;
    expect(app?.secrets?.map((s) => s.source).sort()).to.deep.equal(['database_url', 'master_password']);
    expect(app?.environment?.DATABASE_URL_FILE).to.equal('/run/secrets/database_url');
    expect(app?.environment).to.not.have.property('DATABASE_URL');
    expect(app?.environment).to.not.have.property('MASTER_PASSWORD');
    expect(postgres?.environment?.POSTGRES_PASSWORD_FILE).to.equal('/run/secrets/postgres_password');
    expect(postgres?.environment).to.not.have.property('POSTGRES_PASSWORD');
    for (const secret of Object.values(compose.secrets)) expect(secret.file).to.match(/docker\/[a-z_]+\.txt$/);
  });

  it('nginx balances HTTP over every replica by name and the build proxy with stream.conf; the app publishes nothing itself', async () => {
    const { app, nginx } = compose.services as Record<string, ComposeService>;
    expect(app?.ports ?? []).to.deep.equal([]);
    expect(nginx?.environment?.ARTIFACT_REPO_UPSTREAM).to.equal(`app:${app?.environment?.PORT}`);
    expect(app?.environment?.TRUSTED_PROXIES).to.equal('uniquelocal');
    const targets = (nginx?.ports ?? []).map((p) => (typeof p === 'string' ? p.split(':').slice(-1)[0] : String(p.target))).sort();
    expect(targets).to.deep.equal(['80/tcp', '8081/tcp']);
    const stream = await readFile(path.join(REPO_ROOT, 'nginx/stream.conf'), 'utf8');
    expect(stream).to.match(/server app:8081;/).and.match(/listen 8081;/);
    for (const target of ['/etc/nginx/artifact-repo/stream.conf', '/etc/nginx/artifact-repo/mime.types']) {
      expect((nginx?.volumes ?? []).some((v) => v.endsWith(`:${target}:ro`)), target).to.equal(true);
    }
  });

  it('every file the nginx config reads from /etc/nginx/artifact-repo/ is mounted by both compose files', async () => {
    const config = await Promise.all(['nginx/nginx.conf', 'nginx/templates/default.conf.template', 'nginx/described-by-app.conf', 'nginx/described-by-volume.conf'].map((f) => readFile(path.join(REPO_ROOT, f), 'utf8')));
    const named = new Set(config.flatMap((text) => [...text.matchAll(/\/etc\/nginx\/artifact-repo\/([\w.*-]+)/g)].map((m) => m[1] as string)));
    expect([...named]).to.include.members(['describe.js', 'download-headers.conf', 'described-by-app.conf', 'described-by-volume.conf', 'mime.types']);
    for (const file of ['docker/docker-compose.yml', 'docker/docker-compose.ha.yml', 'docker/docker-compose.s3.yml']) {
      const text = await readFile(path.join(REPO_ROOT, file), 'utf8');
      for (const name of named) {
        // What is included only where there is one: the build proxies balanced by nginx
        // (stream*.conf, with replicas) and whole files fetched from the bucket (bucket*.conf, S3 mode).
        const only: Record<string, string[]> = { 'stream*.conf': ['docker-compose.ha.yml', 'docker-compose.s3.yml'], 'bucket*.conf': ['docker-compose.s3.yml'] };
        if (only[name] && !only[name].includes(path.basename(file))) continue;
        const pattern = name.replaceAll('.', '\\.').replaceAll('*', '[\\w.-]*');
        const mounted = new RegExp(`:/etc/nginx/artifact-repo/${pattern}:ro$`, 'm').test(text);
        expect(mounted, `${file} mounts /etc/nginx/artifact-repo/${name}`).to.equal(true);
      }
    }
  });

  it('every file both compose files mount from the repository exists', async () => {
    for (const file of ['docker/docker-compose.yml', 'docker/docker-compose.ha.yml', 'docker/docker-compose.s3.yml']) {
      const text = await readFile(path.join(REPO_ROOT, file), 'utf8');
      for (const m of text.matchAll(/^\s+- \.\.\/(\S+?):\//gm)) {
        const source = path.join(REPO_ROOT, m[1] as string);
        expect(await readFile(source).then(() => true, () => readdir(source).then(() => true, () => false)), `${file}: ${m[1]}`).to.equal(true);
      }
    }
  });
});

describe('docker deployment files: bytes in object storage (docker-compose.s3.yml)', function () {
  this.timeout(60_000);
  let dockerCompose: string;
  let compose: { services: Record<string, ComposeService & { deploy?: { replicas?: number } }>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> };
  const config = (env: Record<string, string>) => run(dockerCompose, ['-f', path.join(REPO_ROOT, 'docker/docker-compose.s3.yml'), 'config'], { env: { ...process.env, PUBLIC_URL: '', HTTP_PORT: '', ...env } });

  before(async function () {
    dockerCompose = requireTool(this, 'docker-compose', 'docker-compose');
    const result = await config({ BLOB_STORE: 's3://artifacts/repo', S3_ENDPOINT: 'https://s3.example.org', S3_FORCE_PATH_STYLE: 'true' });
    expect(result.code, result.stderr).to.equal(0);
    compose = parse(result.stdout);
  });

  it('will not start without BLOB_STORE, and says so', async () => {
    const result = await config({ BLOB_STORE: '' });
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('set BLOB_STORE=s3://bucket/prefix');
  });

  it('has PostgreSQL, replicas that share no volume, and nginx with no artifacts volume', () => {
    expect(Object.keys(compose.services).sort()).to.deep.equal(['app', 'nginx', 'postgres']);
    const { app, nginx } = compose.services as Record<string, ComposeService & { deploy?: { replicas?: number } }>;
    expect(app?.deploy?.replicas).to.be.greaterThan(1);
    expect(app?.volumes ?? []).to.deep.equal([]);
    expect((nginx?.volumes ?? []).filter((v) => !v.includes('/etc/nginx/'))).to.deep.equal([]);
    expect(Object.keys(compose.volumes)).to.deep.equal(['database']);
    expect(app?.environment?.BLOB_STORE).to.equal('s3://artifacts/repo');
    expect(app?.environment?.S3_ENDPOINT).to.equal('https://s3.example.org');
    expect(nginx?.environment?.ARTIFACT_RECORDS).to.equal('database');
  });

  it('passes the S3 credentials as a docker secret the AWS SDK reads (AWS_SHARED_CREDENTIALS_FILE), never in the environment', () => {
    const { app } = compose.services as Record<string, ComposeService>;
    expect(app?.secrets?.map((s) => s.source).sort()).to.deep.equal(['database_url', 'master_password', 's3_credentials']);
    expect(app?.environment?.AWS_SHARED_CREDENTIALS_FILE).to.equal('/run/secrets/s3_credentials');
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'DATABASE_URL', 'MASTER_PASSWORD']) expect(app?.environment).to.not.have.property(name);
    for (const secret of Object.values(compose.secrets)) expect(secret.file).to.match(/docker\/[a-z0-9_]+\.txt$/);
  });
});
