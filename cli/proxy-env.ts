// artifact-repo proxy-env URL: the shell lines a build needs to use the build proxy, for
// `eval "$(artifact-repo proxy-env https://artifacts.example.org/)"`. It fetches the
// repository's proxy CA, writes a bundle of the system's roots plus that CA, and prints the
// variables each tool reads. The proxy's credentials are the build token in ARTIFACT_USER
// and ARTIFACT_PASSWORD, and the lines name those variables rather than their values, so
// the password never appears in what is printed (a terminal, a CI log).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { reach, shellQuote } from './http-client.js';

const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The variables that point each tool at the CA bundle. */
export const CA_VARIABLES = ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'GIT_SSL_CAINFO', 'NODE_EXTRA_CA_CERTS', 'npm_config_cafile'] as const;

export const PROXY_ENV_USAGE = 'usage: artifact-repo proxy-env [--proxy http://HOST:PORT] [--ca-bundle FILE] URL';

/**
 * What the build's own NO_PROXY already bypasses: said (those hosts are fetched directly,
 * unrecorded), and refused when it is everything (`*`): nothing would be recorded at all.
 */
export function noProxyProblem(env: NodeJS.ProcessEnv, repository: URL): { refuse: boolean; message: string | null } {
  const listed = [env.NO_PROXY, env.no_proxy].filter((v): v is string => v !== undefined).join(',');
  const entries = [...new Set(listed.split(',').map((e) => e.trim()).filter((e) => e !== '' && e !== noProxyEntry(repository)))];
  if (entries.length === 0) return { refuse: false, message: null };
  if (entries.includes('*')) return { refuse: true, message: 'NO_PROXY is "*": every request would bypass the build proxy, unrecorded; unset it (or list only hosts) first' };
  return { refuse: false, message: `NO_PROXY already lists ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}: requests to those hosts bypass the build proxy and are not recorded` };
}

/** The repository's host as NO_PROXY lists it: a name or an address, never anything a shell expands. */
function noProxyEntry(repository: URL): string {
  return repository.hostname.replace(/^\[|\]$/g, '').replace(/[^A-Za-z0-9.:-]/g, '');
}

/**
 * Where the CA bundle goes when --ca-bundle names no file: the user's cache, one per
 * repository, never the working directory (a later `upload .` would upload it).
 */
export function defaultBundlePath(repository: URL, env: NodeJS.ProcessEnv): string {
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'artifact-repo', `ca-bundle-${repository.host.replace(/[^A-Za-z0-9.-]/g, '_')}.pem`);
}

/** The lines to evaluate, given the proxy's URL (no credentials) and the bundle's path. */
/** A NO_PROXY list with `entry` in it: what it listed stays, in its order, and the entry is added once. */
export function withNoProxyEntry(list: string | undefined, entry: string): string {
  const entries = (list ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  return (entries.includes(entry) ? entries : [...entries, entry]).join(',');
}

export function proxyEnvLines(proxy: URL, bundle: string, repository: URL, env: NodeJS.ProcessEnv = {}): string[] {
  const withCredentials = `${proxy.protocol}//\${ARTIFACT_USER}:\${ARTIFACT_PASSWORD}@${proxy.host}`;
  const lines = [
    `export HTTP_PROXY="${withCredentials}"`,
    'export HTTPS_PROXY="$HTTP_PROXY" http_proxy="$HTTP_PROXY" https_proxy="$HTTP_PROXY"',
    'export npm_config_proxy="$HTTP_PROXY" npm_config_https_proxy="$HTTP_PROXY"',
    // Uploads to the repository itself go straight to it; what the build's own setting
    // already bypasses stays bypassed (appended, not replaced).
    `export NO_PROXY=${shellQuote(withNoProxyEntry(env.NO_PROXY, noProxyEntry(repository)))} no_proxy=${shellQuote(withNoProxyEntry(env.no_proxy, noProxyEntry(repository)))}`,
  ];
  lines.push(`export ${CA_VARIABLES.map((name) => `${name}=${shellQuote(bundle)}`).join(' ')}`);
  return lines;
}

function systemRoots(): string {
  if (existsSync(SYSTEM_BUNDLE)) return readFileSync(SYSTEM_BUNDLE, 'utf8');
  return tls.rootCertificates.join('\n') + '\n';
}

export async function runProxyEnvCommand(args: string[], env: NodeJS.ProcessEnv, out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { proxy: { type: 'string' }, 'ca-bundle': { type: 'string' } } });
  } catch (err) {
    out.stderr.write(`artifact-repo proxy-env: ${(err as Error).message}\n${PROXY_ENV_USAGE}\n`);
    return 2;
  }
  const [raw, ...extra] = parsed.positionals;
  let repository: URL;
  let proxy: URL;
  try {
    if (!raw || extra.length > 0) throw new Error('one URL');
    repository = new URL(raw.endsWith('/') ? raw : `${raw}/`);
    if (repository.protocol !== 'http:' && repository.protocol !== 'https:') throw new Error('http(s)');
    proxy = new URL(parsed.values.proxy ?? `http://${repository.hostname.includes(':') ? `[${repository.hostname}]` : repository.hostname}:8081`);
    if (proxy.protocol !== 'http:' || proxy.username || proxy.password) throw new Error('proxy');
  } catch {
    out.stderr.write(`${PROXY_ENV_USAGE}\n  URL is the repository's base URL; --proxy its build proxy (default: the same host, port 8081), without credentials\n`);
    return 2;
  }
  const bundle = path.resolve(parsed.values['ca-bundle'] ?? defaultBundlePath(repository, env));
  let ca: string;
  try {
    const res = await reach(new URL('-/proxy/ca.pem', repository));
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim().slice(0, 200)}`);
    ca = await res.text();
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('the answer is not a PEM certificate');
  } catch (err) {
    out.stderr.write(`artifact-repo: cannot fetch the build proxy's CA from ${new URL('-/proxy/ca.pem', repository).href}: ${(err as Error).message}\n`);
    return 1;
  }
  const bypassed = noProxyProblem(env, repository);
  if (bypassed.refuse) {
    out.stderr.write(`artifact-repo: ${bypassed.message}\n`);
    return 1;
  }
  if (bypassed.message) out.stderr.write(`artifact-repo: warning: ${bypassed.message}\n`);
  // Written aside and renamed: two jobs on one worker never read a half-written bundle.
  await mkdir(path.dirname(bundle), { recursive: true });
  const temp = `${bundle}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(temp, `${systemRoots().trimEnd()}\n${ca.trim()}\n`, { mode: 0o644 });
    await rename(temp, bundle);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  out.stderr.write(`artifact-repo: the system's CAs and the build proxy's are in ${bundle}\n`);
  if (!env.ARTIFACT_USER || !env.ARTIFACT_PASSWORD) out.stderr.write('artifact-repo: note: ARTIFACT_USER and ARTIFACT_PASSWORD (the build token) must be set when these lines are evaluated\n');
  for (const line of proxyEnvLines(proxy, bundle, repository, env)) out.stdout.write(`${line}\n`);
  return 0;
}
