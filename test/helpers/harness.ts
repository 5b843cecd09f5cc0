// Starts the real server on 127.0.0.1 with a free port and temporary directories, in this
// process (so tests can move its clock) or as a child process (for restarts and signals).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createApp, type App } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';

export const MASTER_USER = 'buildbot';
export const MASTER_PASSWORD = 'correct-horse-battery-staple';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface MintedToken {
  id: string;
  username: string;
  password: string;
  scope: string;
  url: string;
  expires_at: string;
}

export function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

export const MASTER_AUTH = basic(MASTER_USER, MASTER_PASSWORD);

export interface TestServer {
  app: App;
  baseUrl: string;
  port: number;
  dataDir: string;
  /** Set when the server keeps its shared state in PostgreSQL. */
  databaseUrl: string | null;
  artifactsDir: string;
  tokensDir: string;
  /** Every access-log line written so far. */
  logLines: string[];
  clock: { offsetMs: number };
  mint(type?: string, project?: string, build?: string, ttl?: number): Promise<MintedToken>;
  close(): Promise<void>;
}

/** Polls `probe` until it gives a value (the audit trail and seals follow their request). */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 5_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function makeTempDir(label = 'artifact-repo-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), label));
}

export async function mintWith(baseUrl: string, body: Record<string, unknown>): Promise<MintedToken> {
  const res = await fetch(`${baseUrl}/-/tokens`, {
    method: 'POST',
    headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`mint failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as MintedToken;
}

/** Where servers get their stores from while a suite runs in another mode: the settings of a fresh set. */
let storeSettings: (() => Promise<Record<string, string>>) | null = null;

/** Servers started from now on keep their shared state in a fresh database each (null: embedded). */
export function useDatabases(provider: (() => Promise<string>) | null): void {
  storeSettings = provider ? async () => ({ DATABASE_URL: await provider() }) : null;
}

/** Servers started from now on get these settings (a fresh database and bucket each, say); null: embedded. */
export function useStoreSettings(provider: (() => Promise<Record<string, string>>) | null): void {
  storeSettings = provider;
}

export async function startServer(env: Record<string, string> = {}, options: { cacheProofs?: boolean } = {}): Promise<TestServer> {
  if (storeSettings && env.DATABASE_URL === undefined) env = { ...(await storeSettings()), ...env };
  // A DATA_DIR given is the caller's (a restart on the same data): left in place at close.
  const ownData = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? (await makeTempDir());
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const clock = { offsetMs: 0 };
  // The build proxy only where a test asks for it (PROXY_PORT), never on the default port.
  const config = loadConfig({ PORT: '0', PROXY_PORT: '0', MASTER_USER, MASTER_PASSWORD, SHUTDOWN_GRACE: '5', ...env, DATA_DIR: dataDir });
  const app = await createApp(config, { logger: pino({ level: 'info' }, sink), now: () => Date.now() + clock.offsetMs, cacheProofs: options.cacheProofs });
  const address = await app.listen();
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    app,
    baseUrl,
    port: address.port,
    dataDir,
    databaseUrl: config.databaseUrl,
    artifactsDir: config.artifactsDir,
    tokensDir: config.tokensDir,
    logLines,
    clock,
    mint: (type = 'dpkg', project = 'hello', build = '42', ttl?: number) => mintWith(baseUrl, { type, project, build, ...(ttl ? { ttl } : {}) }),
    close: async () => {
      await app.shutdown();
      if (ownData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ChildServer {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs docker/entrypoint.sh, the command of `npm start` and of the container, on a free
 * port; from `appDir`, a copy of the app, when given.
 */
export async function startChild(dataDir: string, env: Record<string, string> = {}, appDir: string = REPO_ROOT): Promise<ChildServer> {
  const child = spawn('sh', [path.join(appDir, 'docker/entrypoint.sh')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', PROXY_PORT: '0', MASTER_USER, MASTER_PASSWORD, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on (http:\/\/[^\s/]+)\//.exec(output);
      if (m?.[1]) {
        child.stderr?.off('data', onData);
        child.stderr?.on('data', (more: Buffer) => (output += more.toString()));
        resolve(m[1]);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return {
    child,
    baseUrl,
    output: () => output,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}
