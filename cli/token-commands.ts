// artifact-repo mint / revoke: a build token from the master's credentials, as shell lines
// to evaluate, and its revocation by the build. The walkthrough's first and last steps, and
// what a CI job without buildbot runs around its build.
import { parseArgs } from 'node:util';
import { ClientError, reach, serverMessage, shellQuote } from './http-client.js';

export const MINT_USAGE = `usage: artifact-repo mint URL TYPE/PROJECT/BUILD [--ttl SECONDS] [--offline] [--replay /TYPE/PROJECT/BUILD/]
         [--repository URI] [--revision REV] [--branch NAME] [--builder URI] [--build-url URL] [--property KEY=VALUE]...
  Mints a token for one build with the master's credentials (MASTER_USER, default
  buildbot, and MASTER_PASSWORD), or in a CI job with its OpenID token
  (ARTIFACT_REPO_ID_TOKEN; the build may then be left out: the repository's rule names
  it, docs/ci.md), and prints the lines that set ARTIFACT_USER,
  ARTIFACT_PASSWORD, ARTIFACT_TOKEN_ID and ARTIFACT_URL for the build:
    eval "$(artifact-repo mint http://127.0.0.1:8080/ dpkg/hello/42)"
  --offline   the build proxy answers only from the mirror (records misses)
  --replay    the build proxy answers from that sealed build's recording (implies offline)
  --repository, --revision, --branch: what the build is built from; --builder, --build-url:
  the CI job and this run of it; --property: more, at most 32. All public: shown on the
  build's page and signed into its provenance; never a secret.`;

export const REVOKE_USAGE = `usage: artifact-repo revoke URL
  Revokes the build token in ARTIFACT_TOKEN_ID (with ARTIFACT_USER and ARTIFACT_PASSWORD):
  the build is sealed once its last token ends.`;

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

class UsageProblem extends Error {}

function baseUrl(raw: string | undefined): URL {
  if (!raw) throw new UsageProblem('the repository\'s URL is missing');
  let url: URL;
  try {
    url = new URL(raw.endsWith('/') ? raw : `${raw}/`);
  } catch {
    throw new UsageProblem(`not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageProblem('the URL must be http:// or https://');
  return url;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The JSON body of a mint request from the command's words; throws UsageProblem. */
export function mintRequest(
  build: string | undefined,
  options: { ttl?: string; offline?: boolean; replay?: string; repository?: string; revision?: string; branch?: string; builder?: string; 'build-url'?: string; property?: string[] },
): Record<string, unknown> {
  const parts = (build ?? '').replace(/^\/+|\/+$/g, '').split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) throw new UsageProblem('name the build as TYPE/PROJECT/BUILD, dpkg/hello/42 say');
  const [type, project, name] = parts;
  const body: Record<string, unknown> = { type, project, build: name };
  if (options.ttl !== undefined) {
    if (!/^\d{1,9}$/.test(options.ttl)) throw new UsageProblem('--ttl takes a whole number of seconds');
    body.ttl = Number(options.ttl);
  }
  if (options.replay !== undefined) body.replay = options.replay;
  if (options.offline || options.replay !== undefined) body.proxy = 'offline';
  const source = Object.fromEntries(Object.entries({ uri: options.repository, revision: options.revision, branch: options.branch }).filter(([, v]) => v !== undefined));
  if (Object.keys(source).length > 0) body.source = source;
  const builder = Object.fromEntries(Object.entries({ id: options.builder, url: options['build-url'] }).filter(([, v]) => v !== undefined));
  if (Object.keys(builder).length > 0) body.builder = builder;
  if (options.property !== undefined && options.property.length > 0) {
    const properties: Record<string, string> = {};
    for (const pair of options.property) {
      const at = pair.indexOf('=');
      if (at < 1) throw new UsageProblem(`--property takes KEY=VALUE, not ${JSON.stringify(pair.slice(0, 64))}`);
      properties[pair.slice(0, at)] = pair.slice(at + 1);
    }
    body.properties = properties;
  }
  return body;
}

async function run(io: Io, usage: string, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof UsageProblem) {
      io.stderr.write(`artifact-repo: ${err.message}\n${usage}\n`);
      return 2;
    }
    if (err instanceof ClientError) {
      io.stderr.write(`artifact-repo: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

export interface MintedCredential {
  id: string;
  username: string;
  password: string;
  scope: string;
  url: string;
  expires_at: string;
}

/** POST /-/tokens with a master's Basic credentials or a job's `Bearer` token; throws ClientError. */
export async function mintToken(base: URL, authorization: string, body: Record<string, unknown>): Promise<MintedCredential> {
  const res = await reach(new URL('-/tokens', base), {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new ClientError(`the mint was refused (${res.status}): ${await serverMessage(res)}`);
  return (await res.json()) as MintedCredential;
}

/** DELETE /-/tokens/ID with the token's own credentials; the seal's state as the server says it. */
export async function revokeToken(base: URL, id: string, username: string, password: string): Promise<string | null> {
  const res = await reach(new URL(`-/tokens/${encodeURIComponent(id)}`, base), { method: 'DELETE', headers: { authorization: basic(username, password) } });
  if (res.status === 401) throw new ClientError('the server refused the credentials: the token is wrong, expired or already revoked');
  if (res.status !== 204 && res.status !== 200) throw new ClientError(`the revoke was refused (${res.status}): ${await serverMessage(res)}`);
  return res.headers.get('x-artifact-repo-seal');
}

export function runMintCommand(args: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return run(io, MINT_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ttl: { type: 'string' },
        offline: { type: 'boolean' },
        replay: { type: 'string' },
        repository: { type: 'string' },
        revision: { type: 'string' },
        branch: { type: 'string' },
        builder: { type: 'string' },
        'build-url': { type: 'string' },
        property: { type: 'string', multiple: true },
      },
    });
    const idToken = env.ARTIFACT_REPO_ID_TOKEN ?? '';
    const password = env.MASTER_PASSWORD ?? '';
    // A CI job's OpenID token names the build through the repository's rules: the build is optional.
    if (positionals.length !== 2 && !(idToken !== '' && password === '' && positionals.length === 1)) throw new UsageProblem('mint takes the repository\'s URL and the build');
    const base = baseUrl(positionals[0]);
    const body = positionals[1] === undefined ? {} : mintRequest(positionals[1], values);
    if (password === '' && idToken === '') throw new UsageProblem('set MASTER_PASSWORD (and MASTER_USER if not buildbot) to the master\'s credentials, or ARTIFACT_REPO_ID_TOKEN to the CI job\'s OpenID token');
    const minted = await mintToken(base, password !== '' ? basic(env.MASTER_USER || 'buildbot', password) : `Bearer ${idToken}`, body);
    const mode = body.replay !== undefined ? `replaying ${String(body.replay)}` : body.proxy === 'offline' ? 'offline' : 'recording';
    io.stderr.write(`minted token ${minted.id} for ${minted.scope} (build proxy ${mode}), expires ${minted.expires_at}\n`);
    // For eval: the password goes into the shell's variables, not onto a screen in plain words.
    io.stdout.write(`export ARTIFACT_USER=${shellQuote(minted.username)} ARTIFACT_PASSWORD=${shellQuote(minted.password)} ARTIFACT_TOKEN_ID=${shellQuote(minted.id)} ARTIFACT_URL=${shellQuote(minted.url)}\n`);
    return 0;
  });
}

export function runRevokeCommand(args: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return run(io, REVOKE_USAGE, async () => {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    if (positionals.length !== 1) throw new UsageProblem('revoke takes the repository\'s URL');
    const base = baseUrl(positionals[0]);
    const id = env.ARTIFACT_TOKEN_ID ?? '';
    if (id === '' || !env.ARTIFACT_USER || !env.ARTIFACT_PASSWORD) throw new UsageProblem('set ARTIFACT_TOKEN_ID, ARTIFACT_USER and ARTIFACT_PASSWORD (what mint printed)');
    const seal = await revokeToken(base, id, env.ARTIFACT_USER, env.ARTIFACT_PASSWORD);
    const state = seal === 'sealed' ? 'the build is sealed' : seal === 'pending' ? 'the build is sealed once its uploads in flight end' : 'another token of the build is still live, so it stays open';
    io.stdout.write(`revoked token ${id}: ${state}\n`);
    return 0;
  });
}
