#!/usr/bin/env node
// artifact-repo: the admin CLI (masters, tokens, retention), the server (serve), and the
// workers' upload helper. Admin commands work on the data directory of a running server
// (through its admin socket) or a stopped one (directly); see cli/admin-client.ts.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../server/config/config.js';
import type { AdminRequest } from '../server/admin/operations.js';
import type { RetentionReport } from '../server/services/retention.js';
import type { MirrorEntryView } from '../server/services/mirror.js';
import type { MasterSummary, TokenSummary } from '../token-service/token-service.js';
import { becomeUser, PrivilegeError } from '../server/privileges.js';
import { adminCall } from './admin-client.js';
import { asksForHelp, CLIENT_COMMANDS, clientCommandList, runClientCommand } from './client.js';
import { adminSocketPath, isListening, startAdminSocket } from '../server/admin/admin-socket.js';

// Each admin command's usage, shown by `artifact-repo COMMAND --help` and after a mistake.
const ADMIN_USAGE: Record<string, string> = {
  serve: `usage: artifact-repo serve
  start the server (the same as npm start); settings come from the environment
  (docs/operations.md): HOST, PORT (8080), PROXY_PORT (8081), DATA_DIR (./data), ...`,
  master: `usage: artifact-repo master add NAME      add a build master; prints its password once
       artifact-repo master list [--json]  list the masters
       artifact-repo master remove NAME   remove a master`,
  token: `usage: artifact-repo token list [--json]  list live build tokens
       artifact-repo token revoke ID      revoke a token (its build is sealed if no other is live)`,
  retention: `usage: artifact-repo retention run [--dry-run] [--json]
  delete the sealed builds the policy lets go (--dry-run: only list them)`,
  mirror: `usage: artifact-repo mirror add URL [--sha256 HEX] [--note TEXT]
                                 mirror an external file (fetched once, kept for ever)
       artifact-repo mirror add-image REGISTRY/NAME@sha256:HEX [--note TEXT]
                                 mirror a container image by digest
       artifact-repo mirror list [--json]  list the mirror's entries, their state and why
       artifact-repo mirror remove ID      remove an entry (its bytes go once nothing uses them)`,
  'signing-key': `usage: artifact-repo signing-key list [--json]
                                 the keys sealed builds are signed with, current first
       artifact-repo signing-key rotate
                                 sign from now on with a new key; the old one stays listed
                                 at /-/signing-keys, so what it signed still verifies`,
  migrate: `usage: artifact-repo migrate [--to postgres://user:password@host:5432/database]
  copy masters, tokens, the audit trail, inputs and the mirror into an empty database (the
  server stopped; the URL from DATABASE_URL without --to); then start it with DATABASE_URL
       artifact-repo migrate --to-bucket s3://bucket/prefix
  copy the files of ARTIFACTS_DIR and the bodies recordings and the mirror keep into the
  bucket (S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE and the AWS SDK's credentials from
  the environment), the tree into DATABASE_URL's database; the servers stopped. Resumable:
  run it again after a cut; then start the servers with BLOB_STORE`,
};

const USAGE = `usage: artifact-repo COMMAND [--help]

On the repository's machine (DATA_DIR, or ./data, holds the repository):
${Object.keys(ADMIN_USAGE).map((name) => `  ${name}`).join('\n')}

Anywhere, over HTTP (also served as one file at /-/client/artifact-repo):
${clientCommandList()}

Admin commands read the server's settings from the environment (DATA_DIR, TOKENS_DIR,
ARTIFACTS_DIR, RETENTION_POLICY) and work whether the server runs or not.
artifact-repo COMMAND --help says more.`;

class UsageError extends Error {}

interface Io {
  out(line: string): void;
  err(line: string): void;
}

const io: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

async function admin(config: Config, request: AdminRequest): Promise<{ ok: boolean; body: unknown }> {
  const { response } = await adminCall(config, request);
  const ok = response.status >= 200 && response.status < 300;
  if (!ok) io.err(`artifact-repo: ${(response.body as { error?: string }).error ?? `failed (${response.status})`}`);
  return { ok, body: response.body };
}

const ADMIN_SUBCOMMANDS = new Set(['master add', 'master list', 'master remove', 'token list', 'token revoke', 'mirror add', 'mirror add-image', 'mirror list', 'mirror remove', 'signing-key list', 'signing-key rotate', 'retention run']);

/**
 * An admin command run with no DATA_DIR where ./data holds no repository would make an
 * empty one there and answer from it (an empty mirror, no tokens) while the server runs
 * elsewhere: say so. With DATA_DIR (or TOKENS_DIR) named, making it is what was asked
 * (adding the first master before the first start, say).
 */
async function requireRepository(config: Config, env: NodeJS.ProcessEnv): Promise<void> {
  if (env.DATA_DIR || env.TOKENS_DIR) return;
  if (existsSync(config.tokensDir) || (await isListening(adminSocketPath(config.tokensDir)))) return;
  throw new UsageError(`artifact-repo: no repository in ${config.tokensDir}: set DATA_DIR to the server's data directory (DATA_DIR=./data makes a new one here)`);
}

function words(args: string[], count: number, usage: string): string[] {
  if (args.length !== count) throw new UsageError(`usage: artifact-repo ${usage}`);
  return args;
}

async function runAdmin(command: string, rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, sha256: { type: 'string' }, note: { type: 'string' } } });
  const sub = `${command} ${positionals[0] ?? ''}`.trim();
  const args = positionals.slice(1);
  if (!ADMIN_SUBCOMMANDS.has(sub)) throw new UsageError(`artifact-repo: unknown ${command} command "${positionals[0] ?? ''}"\n${ADMIN_USAGE[command] ?? USAGE}`);
  const config = loadConfig();
  // As root (docker compose exec/run), files it creates must still belong to the server's user.
  becomeUser(config.runAsUser);
  await requireRepository(config, process.env);
  switch (sub) {
    case 'master add': {
      const [name] = words(args, 1, 'master add NAME');
      const { ok, body } = await admin(config, { method: 'POST', path: '/masters', body: { name } });
      if (!ok) return 1;
      // The password alone on stdout (PASSWORD=$(artifact-repo master add ci)); the rest on stderr.
      io.err(`master ${name} added. Its password is shown only this once:`);
      io.out((body as { password: string }).password);
      return 0;
    }
    case 'master list': {
      words(args, 0, 'master list');
      const { ok, body } = await admin(config, { method: 'GET', path: '/masters' });
      if (!ok) return 1;
      const masters = body as MasterSummary[];
      if (values.json) io.out(JSON.stringify(masters));
      else for (const line of table([['NAME', 'CREATED'], ...masters.map((m) => [m.name, m.created_at])])) io.out(line);
      return 0;
    }
    case 'master remove': {
      const [name] = words(args, 1, 'master remove NAME');
      const { ok } = await admin(config, { method: 'DELETE', path: `/masters/${encodeURIComponent(name ?? '')}` });
      if (ok) io.out(`removed master ${name}`);
      return ok ? 0 : 1;
    }
    case 'token list': {
      words(args, 0, 'token list');
      const { ok, body } = await admin(config, { method: 'GET', path: '/tokens' });
      if (!ok) return 1;
      const tokens = body as TokenSummary[];
      if (values.json) io.out(JSON.stringify(tokens));
      else for (const line of table([['ID', 'SCOPE', 'MINTED BY', 'CREATED', 'EXPIRES'], ...tokens.map((t) => [t.id, t.scope, t.created_by, t.created_at, t.expires_at])])) io.out(line);
      return 0;
    }
    case 'token revoke': {
      const [id] = words(args, 1, 'token revoke ID');
      const { ok, body } = await admin(config, { method: 'DELETE', path: `/tokens/${encodeURIComponent(id ?? '')}` });
      if (!ok) return 1;
      io.out((body as { result: string }).result === 'revoked' ? `revoked ${id}` : `${id} was already revoked or expired`);
      return 0;
    }
    case 'mirror add':
    case 'mirror add-image': {
      const image = sub === 'mirror add-image';
      const [what] = words(args, 1, image ? 'mirror add-image REGISTRY/NAME@sha256:HEX [--note TEXT]' : 'mirror add URL [--sha256 HEX] [--note TEXT]');
      const body = image ? { image: what, note: values.note } : { url: what, sha256: values.sha256, note: values.note };
      const { ok, body: entry } = await admin(config, { method: 'POST', path: '/mirror', body });
      if (!ok) return 1;
      const e = entry as MirrorEntryView;
      if (values.json) io.out(JSON.stringify(e));
      else io.out(`${e.id} ${e.state} ${e.url ?? e.image}${e.reason ? ` (${e.reason})` : ''}`);
      return 0;
    }
    case 'mirror list': {
      words(args, 0, 'mirror list [--json]');
      const { ok, body } = await admin(config, { method: 'GET', path: '/mirror' });
      if (!ok) return 1;
      const entries = body as MirrorEntryView[];
      if (values.json) io.out(JSON.stringify(entries));
      else for (const line of table([['ID', 'STATE', 'SIZE', 'SHA-256', 'URL OR IMAGE', 'WHY'], ...entries.map((e) => [e.id, e.state, e.size === null ? '' : human(e.size), e.sha256?.slice(0, 12) ?? '', e.url ?? e.image ?? '', e.reason ?? ''])])) io.out(line);
      return 0;
    }
    case 'mirror remove': {
      const [id] = words(args, 1, 'mirror remove ID');
      const { ok } = await admin(config, { method: 'DELETE', path: `/mirror/${encodeURIComponent(id ?? '')}` });
      if (ok) io.out(`removed mirror entry ${id}`);
      return ok ? 0 : 1;
    }
    case 'signing-key list': {
      words(args, 0, 'signing-key list [--json]');
      const { ok, body } = await admin(config, { method: 'GET', path: '/signing-key' });
      if (!ok) return 1;
      const keys = body as Array<{ fingerprint: string; createdAt: string; retiredAt: string | null }>;
      if (values.json) io.out(JSON.stringify(keys));
      else for (const line of table([['FINGERPRINT', 'CREATED', 'RETIRED'], ...keys.map((k) => [k.fingerprint, k.createdAt, k.retiredAt ?? 'current'])])) io.out(line);
      return 0;
    }
    case 'signing-key rotate': {
      words(args, 0, 'signing-key rotate');
      const { ok, body } = await admin(config, { method: 'POST', path: '/signing-key/rotate' });
      if (!ok) return 1;
      const rotated = body as { retired: string; current: string };
      io.out(`sealed builds are signed with ${rotated.current} from now on; ${rotated.retired} is retired and still listed at /-/signing-keys`);
      return 0;
    }
    case 'retention run': {
      words(args, 0, 'retention run [--dry-run] [--json]');
      const dryRun = values['dry-run'] === true;
      const { ok, body } = await admin(config, { method: 'POST', path: `/retention${dryRun ? '?dry_run=1' : ''}` });
      if (!ok) return 1;
      const report = body as RetentionReport;
      if (values.json) {
        io.out(JSON.stringify(report));
        return 0;
      }
      for (const d of report.deleted) io.out(`${dryRun ? 'would delete' : 'deleted'} ${d.build} (sealed ${d.sealed_at}, ${d.files} files, ${human(d.bytes)})`);
      io.out(`${report.deleted.length} build${report.deleted.length === 1 ? '' : 's'} ${dryRun ? 'would be deleted' : 'deleted'}, ${report.kept} kept`);
      return 0;
    }
    default:
      throw new UsageError(`artifact-repo: unknown ${command} command "${positionals[0] ?? ''}"\n${ADMIN_USAGE[command] ?? USAGE}`);
  }
}

/** migrate --to URL: the embedded repository's shared state into an empty PostgreSQL database. */
async function runMigrate(rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { to: { type: 'string' }, 'to-bucket': { type: 'string' } } });
  if (values['to-bucket'] !== undefined) {
    if (positionals.length > 0 || values.to !== undefined) throw new UsageError(ADMIN_USAGE.migrate ?? '');
    return runMigrateToBucket(values['to-bucket']);
  }
  // The URL may carry a password: DATABASE_URL keeps it off the command line (ps, history).
  const target = values.to ?? process.env.DATABASE_URL;
  if (positionals.length > 0 || !target) throw new UsageError(ADMIN_USAGE.migrate ?? '');
  const config = loadConfig({ ...process.env, DATABASE_URL: target });
  const databaseUrl = config.databaseUrl;
  if (databaseUrl === null) throw new UsageError('usage: artifact-repo migrate --to postgres://…');
  becomeUser(config.runAsUser);
  const { DatabaseNotEmpty, moveToPostgres } = await import('../server/admin/move-to-postgres.js');
  return aloneOnDataDir(config.tokensDir, async () => {
    const report = await moveToPostgres(config, databaseUrl);
    io.out(`copied ${report.masters} masters, ${report.tokens} tokens, ${report.buildStates} build states, ${report.auditEntries} audit entries, ${report.inputLines} recorded inputs of ${report.recordedBuilds} builds, ${report.mirrorEntries} mirror entries, ${report.resources} files' checksums and properties, ${report.signingKeys} signing keys, the packages of ${report.packageBuilds} sealed builds${report.authority ? ', the build proxy\'s certificate authority' : ''}`);
    io.err('start the server with DATABASE_URL set to this database; the files it copied are left as they were');
    return 0;
  }, DatabaseNotEmpty);
}

/**
 * Runs a migration alone on the data directory (a running server would go on writing the
 * files): refused while a server listens on its admin socket, which it holds meanwhile.
 * `Refused` is the migration's own refusal: its message, and exit 1.
 */
async function aloneOnDataDir(tokensDir: string, work: () => Promise<number>, Refused: new (...args: never[]) => Error): Promise<number> {
  if (await isListening(adminSocketPath(tokensDir))) {
    io.err('artifact-repo: a server is running on this data directory: stop it first');
    return 1;
  }
  const socket = await startAdminSocket(tokensDir, 'cli');
  try {
    return await work();
  } catch (err) {
    if (err instanceof Refused) {
      io.err(`artifact-repo: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await socket.close();
  }
}

/** migrate --to-bucket s3://…: the volume's bytes into a bucket, the tree into the database (resumable). */
async function runMigrateToBucket(target: string): Promise<number> {
  const config = loadConfig({ ...process.env, BLOB_STORE: target });
  if (config.blobStore === null || config.databaseUrl === null) throw new UsageError(ADMIN_USAGE.migrate ?? '');
  becomeUser(config.runAsUser);
  const { BucketMoveRefused, moveToBucket } = await import('../server/admin/move-to-bucket.js');
  const bucket = config.blobStore;
  const databaseUrl = config.databaseUrl;
  return aloneOnDataDir(config.tokensDir, async () => {
    const report = await moveToBucket(config, databaseUrl, bucket, (line) => io.err(line));
    io.out(`${report.files} files in ${report.collections} folders: ${report.copied} sent (${report.bytes} bytes), ${report.skipped} there already; ${report.bodies} recorded and mirrored bodies: ${report.bodiesCopied} sent`);
    if (report.mismatched.length > 0) {
      io.err(`artifact-repo: ${report.mismatched.length} files are not what their checksum records say, and were not copied:\n${report.mismatched.slice(0, 20).join('\n')}`);
      return 1;
    }
    io.err(`every file is in the bucket with its checksum; start the servers with BLOB_STORE=${target}`);
    return 0;
  }, BucketMoveRefused);
}

/** The server, started the way docker/entrypoint.sh starts it (GC and malloc settings). */
function serve(): Promise<number> {
  const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '../server/main.js');
  const child = spawn(process.execPath, ['--expose-gc', '--enable-source-maps', main], {
    stdio: 'inherit',
    env: { MALLOC_MMAP_THRESHOLD_: '65536', ...process.env },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.err(USAGE);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    io.out(USAGE);
    return 0;
  }
  const client = CLIENT_COMMANDS[command];
  const adminUsage = ADMIN_USAGE[command];
  if (!client && !adminUsage) {
    io.err(`artifact-repo: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  if (adminUsage && asksForHelp(rest)) {
    io.out(adminUsage);
    return 0;
  }
  try {
    if (client) return await runClientCommand(client, rest, process.env, { stdout: process.stdout, stderr: process.stderr });
    switch (command) {
      case 'serve':
        if (rest.length > 0) throw new UsageError(ADMIN_USAGE.serve ?? '');
        return await serve();
      case 'migrate':
        return await runMigrate(rest);
      default:
        return await runAdmin(command, rest);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof PrivilegeError) {
      io.err(`artifact-repo: configuration error: ${err.message}`);
      return 2;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_')) {
      io.err(`artifact-repo ${command}: ${(err as Error).message}\n${client?.usage ?? adminUsage}`);
      return 2;
    }
    io.err(`artifact-repo: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

// exit() rather than exitCode: nothing left open (a socket, a timer) may keep a finished
// command alive. stdout and stderr are synchronous for files and pipes on Linux.
process.exit(await main(process.argv.slice(2)));
