// A private Docker engine for the deployment test: Debian's dockerd on a socket of its own,
// started and stopped by the test, and the host put back as it was afterwards (dockerd
// leaves its bridge, its iptables chains, the FORWARD policy and ip_forward behind).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { makeTempDir, REPO_ROOT, type MintedToken } from '../helpers/harness.js';
import { findTool, run, type RunResult } from '../helpers/tools.js';

export interface Engine {
  /** DOCKER_HOST and the rest of the environment for docker and docker-compose. */
  env: NodeJS.ProcessEnv;
  /** Kept between runs: the engine's images (the stand-ins) and what builds them. */
  cacheDir: string;
  docker(args: string[], options?: { input?: string; timeoutMs?: number; cwd?: string }): Promise<RunResult>;
  stop(): Promise<void>;
}

/** Why no engine can start here, or null. */
export function engineUnavailable(): string | null {
  if (process.platform !== 'linux') return 'the Docker engine test needs Linux';
  if (process.getuid?.() !== 0) return 'dockerd must run as root';
  for (const [tool, pkg] of [['dockerd', 'docker.io'], ['docker', 'docker.io'], ['docker-compose', 'docker-compose'], ['debootstrap', 'debootstrap'], ['iptables', 'iptables']]) {
    if (!findTool(tool as string)) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  return null;
}

function otherDockerdRunning(): boolean {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

interface HostState {
  forwardPolicy: string;
  ipForward: string;
}

async function iptables(args: string[]): Promise<RunResult> {
  return run(findTool('iptables') as string, args, { timeoutMs: 30_000 });
}

async function hostState(): Promise<HostState> {
  const rules = (await iptables(['-S', 'FORWARD'])).stdout;
  return {
    forwardPolicy: /^-P FORWARD (\w+)/m.exec(rules)?.[1] ?? 'ACCEPT',
    ipForward: (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')).trim(),
  };
}

const DOCKER_CHAIN = /^DOCKER/;

/** Removes what dockerd left in the filter and nat tables, and its bridges. */
async function cleanHost(state: HostState | null): Promise<void> {
  for (const table of ['filter', 'nat']) {
    const rules = (await iptables(['-t', table, '-S'])).stdout.split('\n');
    // Jumps into docker's chains and rules about its bridges, in the built-in chains.
    for (const rule of rules) {
      const m = /^-A (\S+) (.*)$/.exec(rule);
      if (!m || DOCKER_CHAIN.test(m[1] as string)) continue;
      if (/-j DOCKER|docker0|br-[0-9a-f]{12}/.test(m[2] as string)) await iptables(['-t', table, '-D', m[1] as string, ...(m[2] as string).split(' ')]);
    }
    const chains = rules.map((r) => /^-N (\S+)$/.exec(r)?.[1]).filter((c): c is string => c !== undefined && DOCKER_CHAIN.test(c));
    for (const chain of chains) await iptables(['-t', table, '-F', chain]);
    for (const chain of chains) await iptables(['-t', table, '-X', chain]);
  }
  const ip = findTool('ip');
  if (ip) {
    for (const name of await readdir('/sys/class/net').catch(() => [] as string[])) {
      if (name === 'docker0' || /^br-[0-9a-f]{12}$/.test(name)) await run(ip, ['link', 'delete', name], { timeoutMs: 10_000 });
    }
  }
  if (state) {
    await iptables(['-P', 'FORWARD', state.forwardPolicy]);
    await writeFile('/proc/sys/net/ipv4/ip_forward', state.ipForward).catch(() => undefined);
  }
}

export function dockerCacheDir(): string {
  return process.env.ARTIFACT_REPO_DOCKER_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'artifact-repo', 'docker-test');
}

export async function startEngine(): Promise<Engine> {
  if (otherDockerdRunning()) throw new Error('another dockerd runs on this machine: stop it first, the test starts its own');
  const cacheDir = dockerCacheDir();
  await mkdir(cacheDir, { recursive: true });
  // Short paths: containerd's sockets live under exec-root, and sun_path is 108 bytes.
  const runDir = await makeTempDir('dkr-');
  const socket = path.join(runDir, 'docker.sock');
  const state = await hostState();
  // A bridge left by an engine that was killed would be taken over: start clean.
  await cleanHost(null);
  let log = '';
  const child: ChildProcess = spawn(
    findTool('dockerd') as string,
    ['-H', `unix://${socket}`, '--data-root', path.join(cacheDir, 'data'), '--exec-root', path.join(runDir, 'x'), '--pidfile', path.join(runDir, 'pid'), '--userland-proxy=true'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, COMPOSE_INTERACTIVE_NO_CLI: '1', DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' };
  const docker = (args: string[], options: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> =>
    run(findTool('docker') as string, args, { env, input: options.input, cwd: options.cwd, timeoutMs: options.timeoutMs ?? 600_000 });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    }
    await cleanHost(state);
    await rm(runDir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`dockerd exited: ${log.slice(-2000)}`);
    }
    if ((await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 })).code === 0) break;
    if (i > 60) {
      await stop();
      throw new Error(`dockerd did not answer within 60 s: ${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { env, cacheDir, docker, stop };
}

/** The repository as a user has it: its files (committed or not), in a new folder of its own. */
export async function userCheckout(label: string): Promise<string> {
  const work = await makeTempDir(label);
  const files = await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO_ROOT });
  for (const file of files.stdout.split('\0').filter(Boolean)) {
    await cp(path.join(REPO_ROOT, file), path.join(work, file), { recursive: true, errorOnExist: false }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err; // deleted but not yet committed
    });
  }
  return work;
}

/**
 * What every compose suite does last: the project down with its volumes, the images it
 * built pruned, the engine stopped, the work folder gone, and the timings shown.
 */
export async function tearDownCompose(engine: Engine | null, work: string | undefined, compose: (args: string[]) => Promise<unknown>, timings: readonly string[]): Promise<void> {
  if (!engine) return;
  if (work) await compose(['down', '-v', '--remove-orphans']);
  await engine.docker(['image', 'prune', '--force']);
  await engine.stop();
  if (work) await rm(work, { recursive: true, force: true });
  console.log(timings.map((t) => `      ${t}`).join('\n'));
}

/** docker-compose for one project, its files and environment read when each command runs (a suite sets them in its before()). */
export interface ComposeProject {
  run(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Runs a command that must succeed; its standard output. */
  must(args: string[]): Promise<string>;
  containersOf(service: string): Promise<string[]>;
  /** "healthy true", "starting true", "none false"...: a container's health and whether it runs. */
  healthOf(id: string): Promise<string>;
  /** Every line each running container of `service` logged. */
  logsOf(service: string): Promise<string[]>;
}

export function composeProject(files: readonly string[], where: () => { engine: Engine | null; work: string; env: NodeJS.ProcessEnv }): ComposeProject {
  const project: ComposeProject = {
    run: (args, timeoutMs = 900_000) => {
      const { work, env } = where();
      return run(findTool('docker-compose') as string, [...files.flatMap((f) => ['-f', f]), ...args], { cwd: work, env, timeoutMs });
    },
    async must(args) {
      const result = await project.run(args);
      if (result.code !== 0) throw new Error(`docker-compose ${args.join(' ')} (${result.code}):\n${result.stdout}\n${result.stderr}`);
      return result.stdout;
    },
    containersOf: async (service) => (await project.must(['ps', '-q', service])).split('\n').filter(Boolean),
    healthOf: async (id) => (await (where().engine as Engine).docker(['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Running}}', id])).stdout.trim(),
    async logsOf(service) {
      const lines: string[] = [];
      for (const id of await project.containersOf(service)) {
        const logs = await (where().engine as Engine).docker(['logs', id]);
        lines.push(...`${logs.stdout}\n${logs.stderr}`.split('\n'));
      }
      return lines;
    },
  };
  return project;
}

/** What the replica suites ask of a deployment as its build master: minting, and a build's uploads. */
export interface MasterClient {
  /** The master's Authorization header. */
  master: string;
  /** A token for dpkg/PROJECT/BUILD (201, or the test fails). */
  mint(build: string): Promise<MintedToken>;
  /** PUT of one file into the token's build: the status. */
  put(t: MintedToken, name: string, body: Buffer | string): Promise<number>;
}

export function masterClient(base: () => string, masterPassword: string, project: string): MasterClient {
  const master = 'Basic ' + Buffer.from(`buildbot:${masterPassword}`).toString('base64');
  return {
    master,
    async mint(build) {
      const res = await fetch(`${base()}/-/tokens`, { method: 'POST', headers: { Authorization: master, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project, build }) });
      expect(res.status, await res.clone().text()).to.equal(201);
      return (await res.json()) as MintedToken;
    },
    put: async (t, name, body) =>
      (await fetch(`${base()}${t.scope}${name}`, { method: 'PUT', headers: { Authorization: 'Basic ' + Buffer.from(`${t.username}:${t.password}`).toString('base64') }, body: typeof body === 'string' ? body : new Uint8Array(body) })).status,
  };
}
