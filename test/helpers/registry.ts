// A real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.2, plain HTTP,
// fronted over HTTPS by the test origin (origin.ts, registryPort) with the anonymous
// Bearer-token flow. pushImage puts a small multi-platform image into it through the
// registry API: two configs and layers, two manifests and an OCI index of both.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from './harness.js';
import { ORIGIN_ADDRESS, waitForPort } from './origin.js';
import { findTool, run } from './tools.js';

export interface Registry {
  port: number;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

export async function startRegistry(port: number): Promise<Registry> {
  const dir = await makeTempDir('registry-');
  await mkdir(path.join(dir, 'data'));
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
http:
  addr: ${ORIGIN_ADDRESS}:${port}
  secret: artifact-repo-test-registry
`,
  );
  let child: ChildProcess | null = spawn(findTool('docker-registry') ?? 'docker-registry', ['serve', config], { stdio: 'ignore' });
  await waitForPort(ORIGIN_ADDRESS, port, child, 'docker-registry');
  const stop = async (): Promise<void> => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    child = null;
  };
  return { port, stop, remove: async () => (await stop(), await rm(dir, { recursive: true, force: true })) };
}

export interface PushedImage {
  name: string;
  /** sha256:… of the index. */
  index: string;
  manifests: string[];
  /** Configs and layers, with their bytes. */
  blobs: Map<string, Buffer>;
  /** Every manifest body by digest (the index's included). */
  manifestBodies: Map<string, Buffer>;
}

const digestOf = (body: Buffer): string => `sha256:${createHash('sha256').update(body).digest('hex')}`;

async function pushBlob(base: string, name: string, body: Buffer): Promise<string> {
  const digest = digestOf(body);
  const start = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status}`);
  const location = new URL(start.headers.get('location') as string, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(body) });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
  return digest;
}

async function pushManifest(base: string, name: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: new Uint8Array(body) });
  if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${await res.text()}`);
  return digestOf(body);
}

/** Pushes demo/app: an index of an amd64 and an arm64 manifest, each with a config and a layer of `layerBytes`. */
export async function pushImage(registryPort: number, layerBytes = 64 * 1024): Promise<PushedImage> {
  const base = `http://${ORIGIN_ADDRESS}:${registryPort}`;
  const name = 'demo/app';
  const blobs = new Map<string, Buffer>();
  const manifestBodies = new Map<string, Buffer>();
  const manifests: string[] = [];
  const entries: object[] = [];
  const work = await makeTempDir('image-');
  for (const architecture of ['amd64', 'arm64']) {
    // A real tar, so a client that unpacks it (podman) can.
    await writeFile(path.join(work, 'payload.bin'), randomBytes(layerBytes));
    await writeFile(path.join(work, 'arch.txt'), `${architecture}\n`);
    const tarFile = path.join(work, `${architecture}.tar`);
    const tarred = await run(findTool('tar') ?? 'tar', ['--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tarFile, '-C', work, 'payload.bin', 'arch.txt']);
    if (tarred.code !== 0) throw new Error(`tar: ${tarred.stderr}`);
    const layer = await readFile(tarFile);
    const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] }, config: {} }));
    for (const blob of [config, layer]) blobs.set(await pushBlob(base, name, blob), blob);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
      }),
    );
    const digest = await pushManifest(base, name, digestOf(manifest), 'application/vnd.oci.image.manifest.v1+json', manifest);
    manifests.push(digest);
    manifestBodies.set(digest, manifest);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, platform: { architecture, os: 'linux' } });
  }
  await rm(work, { recursive: true, force: true });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
  const indexDigest = await pushManifest(base, name, 'latest', 'application/vnd.oci.image.index.v1+json', index);
  manifestBodies.set(indexDigest, index);
  return { name, index: indexDigest, manifests, blobs, manifestBodies };
}
