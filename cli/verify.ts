// artifact-repo verify URL-OF-A-BUILD/: checks a sealed build the way a user would by
// hand (docs/provenance.md), in one command: SHA256SUMS's signature against a pinned key,
// every file's bytes against SHA256SUMS, and the signed provenance's signature and
// subjects. Any failure is named (the file, or the signature) and the exit status is 1.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { dsseVerify, IN_TOTO_PAYLOAD_TYPE, keyFingerprint, parseAllowedSigners, parsePublicKeys, signerTimeProblem, sshVerify } from '../server/domain/signing.js';
import { parseSums, SLSA_PROVENANCE_V1, STATEMENT_TYPE } from '../server/domain/provenance.js';
import { PROVENANCE_FILE, SUMS_FILE, SUMS_SIGNATURE_FILE } from '../server/domain/seal-files.js';
import { formatBytes, ProgressLine } from './progress.js';
import { reach } from './http-client.js';

export const VERIFY_USAGE = 'usage: artifact-repo verify URL-OF-A-BUILD/ [--key FILE] [--into DIR] [--trust-server-key]';

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

class Refused extends Error {}

/** The repository's base URL: the build URL without its last three segments (type/project/build). */
export function repositoryBase(build: URL): URL {
  const segments = build.pathname.split('/').filter(Boolean);
  if (segments.length < 3) throw new Refused('the URL is not a build: it needs /TYPE/PROJECT/BUILD/');
  return new URL(`/${segments.slice(0, -3).map((s) => `${s}/`).join('')}`, build);
}

/**
 * Whether the build a statement names is the one at `url`: the same TYPE/PROJECT/BUILD.
 * The signature covers the list, not where it was found; this is what stops a mirror from
 * serving one signed build under another's name.
 */
export function sameBuild(named: unknown, url: URL): boolean {
  if (typeof named !== 'string') return false;
  let path: string;
  try {
    path = named.startsWith('/') ? named : new URL(named).pathname;
  } catch {
    return false;
  }
  const last3 = (p: string): string[] => p.split('/').filter(Boolean).slice(-3);
  const [theirs, ours] = [last3(path), last3(url.pathname)];
  try {
    return theirs.length === 3 && ours.length === 3 && theirs.every((s, i) => decodeURIComponent(s) === decodeURIComponent(ours[i] as string));
  } catch {
    return false;
  }
}

// A lying server must not fill memory: SHA256SUMS of a million files is under 100 MiB.
const MAX_META_BYTES = 256 * 1024 * 1024;

/** Whether two lists of [name, sha256] say the same, and the first difference if not. */
export function firstDifference(a: ReadonlyArray<{ path: string; sha256: string }>, b: ReadonlyArray<{ path: string; sha256: string }>): string | null {
  const left = new Map(a.map((x) => [x.path, x.sha256]));
  const right = new Map(b.map((x) => [x.path, x.sha256]));
  for (const [name, sha] of left) if (right.get(name) !== sha) return right.has(name) ? `${name} has another digest` : `${name} is missing`;
  for (const name of right.keys()) if (!left.has(name)) return `${name} is not in ${SUMS_FILE}`;
  return null;
}

async function get(url: URL): Promise<Response> {
  try {
    return await reach(url);
  } catch (err) {
    throw new Refused((err as Error).message);
  }
}

/** Why a build has no SHA256SUMS: there is no such build, or it is not sealed yet. */
async function whyNoSums(build: URL): Promise<string> {
  const res = await get(build);
  await res.body?.cancel();
  if (res.status === 404) return `no build at ${build.href} (404)`;
  if (res.ok) return `${build.href} is not sealed yet: a build is sealed, and signed, when its last token is revoked or expires`;
  return `${SUMS_FILE}: not found, and the build answers ${res.status}`;
}

async function text(url: URL, name: string, whyMissing?: () => Promise<string>): Promise<Buffer> {
  const res = await get(url);
  if (res.status === 404) {
    await res.body?.cancel();
    throw new Refused(whyMissing ? await whyMissing() : `${name}: not found (is the build sealed, by a repository that signs seals?)`);
  }
  if (!res.ok || !res.body) throw new Refused(`${name}: HTTP ${res.status}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > MAX_META_BYTES) throw new Refused(`${name}: larger than ${MAX_META_BYTES} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof Refused) throw err;
    throw new Refused(`${name}: the download broke off (${(err as Error).message})`);
  }
  return Buffer.concat(chunks);
}

function encodePath(relative: string): string {
  return relative.split('/').map(encodeURIComponent).join('/');
}

export async function runVerifyCommand(args: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { key: { type: 'string' }, into: { type: 'string' }, 'trust-server-key': { type: 'boolean' } } });
  } catch (err) {
    io.stderr.write(`artifact-repo verify: ${(err as Error).message}\n${VERIFY_USAGE}\n`);
    return 2;
  }
  const [raw, ...extra] = parsed.positionals;
  if (!raw || extra.length > 0) {
    io.stderr.write(`${VERIFY_USAGE}\n`);
    return 2;
  }
  const say = (line: string): void => void io.stdout.write(`${line}\n`);
  const problems: string[] = [];
  try {
    let build: URL;
    try {
      build = new URL(raw.endsWith('/') ? raw : `${raw}/`);
    } catch {
      throw new Refused(`not a URL: ${raw}`);
    }
    if (build.protocol !== 'http:' && build.protocol !== 'https:') throw new Refused('the URL must be http:// or https://');
    const base = repositoryBase(build);

    // The key: pinned by the user, or (only when asked) whatever the server lists now.
    let keys: KeyObject[];
    // Keys a line pins only for another time (valid-after, valid-before), as ssh-keygen reads them at the time of the check.
    let outOfTime: Array<{ key: KeyObject; why: string; line: number }> = [];
    const keyFile = parsed.values.key ?? env.ARTIFACT_REPO_SIGNING_KEY;
    if (keyFile) {
      const pinned = parseAllowedSigners(await readFile(keyFile, 'utf8').catch(() => Promise.reject(new Refused(`cannot read the key file ${keyFile}`))));
      const now = Date.now();
      keys = pinned.signers.filter((signer) => signerTimeProblem(signer, now) === null).map((signer) => signer.key);
      outOfTime = pinned.signers.flatMap((signer) => {
        const why = signerTimeProblem(signer, now);
        return why ? [{ key: signer.key, why, line: signer.line }] : [];
      });
      for (const reason of pinned.skipped) io.stderr.write(`warning: ${keyFile}: ${reason}: not trusted\n`);
      if (keys.length === 0 && outOfTime.length === 0) throw new Refused(`no usable ssh-ed25519 public key in ${keyFile}`);
    } else if (parsed.values['trust-server-key']) {
      keys = parsePublicKeys((await text(new URL('-/signing-keys', base), '/-/signing-keys')).toString());
      io.stderr.write(`warning: trusting the keys the server lists now (${keys.map(keyFingerprint).join(', ')}); pin one with --key\n`);
    } else {
      throw new Refused(`no key is pinned: save ${new URL('-/signing-key', base).href} once and pass it with --key FILE (or --trust-server-key to trust whatever the server says)`);
    }

    const sums = await text(new URL(SUMS_FILE, build), SUMS_FILE, () => whyNoSums(build));
    const signature = await text(new URL(SUMS_SIGNATURE_FILE, build), SUMS_SIGNATURE_FILE);
    const verdict = sshVerify(sums, signature.toString(), keys);
    if (!verdict.ok) {
      const late = sshVerify(sums, signature.toString(), outOfTime.map((o) => o.key));
      const retired = late.ok ? outOfTime.find((o) => o.key === late.key) : undefined;
      if (retired) throw new Refused(`${SUMS_SIGNATURE_FILE}: signed by ${keyFingerprint(retired.key)}, which ${keyFile} line ${retired.line} does not allow now: ${retired.why}`);
      throw new Refused(`${SUMS_SIGNATURE_FILE}: ${verdict.reason}`);
    }
    let listed: Array<{ path: string; sha256: string }>;
    try {
      listed = parseSums(sums.toString());
    } catch (err) {
      throw new Refused(`${SUMS_FILE}: ${(err as Error).message}`);
    }

    // Every file, hashed as it arrives (and kept under --into, if given).
    const into = parsed.values.into ? path.resolve(parsed.values.into) : null;
    const progress = io.stderr.isTTY ? new ProgressLine((t) => void io.stderr.write(t), { columns: io.stderr.columns ?? 80 }) : null;
    const totals = { filesDone: 0, filesTotal: listed.length, bytesDone: 0, bytesTotal: 0, failed: 0 };
    for (const file of listed) {
      const problem = await checkFile(new URL(encodePath(file.path), build), file, into, (n) => {
        totals.bytesDone += n;
        progress?.update(totals);
      });
      totals.filesDone++;
      if (problem) {
        totals.failed++;
        problems.push(`${file.path}: ${problem}`);
      }
      progress?.update(totals);
    }
    progress?.finish(totals);

    // The provenance: signed by a pinned key, about exactly these files.
    const provenance = await text(new URL(PROVENANCE_FILE, build), PROVENANCE_FILE);
    let inputs = 0;
    let statements = 0;
    for (const line of provenance.toString().split('\n').filter((l) => l.trim() !== '')) {
      let envelope: unknown;
      try {
        envelope = JSON.parse(line);
      } catch {
        problems.push(`${PROVENANCE_FILE}: not JSON`);
        continue;
      }
      const checked = dsseVerify(envelope, keys);
      if (!checked.ok) {
        problems.push(`${PROVENANCE_FILE}: ${checked.reason}`);
        continue;
      }
      if (checked.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
        problems.push(`${PROVENANCE_FILE}: payload type ${checked.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
        continue;
      }
      type Statement = { _type?: string; predicateType?: string; subject?: unknown; predicate?: { buildDefinition?: { externalParameters?: { build?: unknown }; resolvedDependencies?: unknown[] } } };
      let statement: Statement;
      try {
        statement = JSON.parse(checked.payload.toString()) as Statement;
      } catch {
        problems.push(`${PROVENANCE_FILE}: its signed payload is not JSON`);
        continue;
      }
      if (statement?._type !== STATEMENT_TYPE || statement.predicateType !== SLSA_PROVENANCE_V1 || !Array.isArray(statement.subject)) {
        problems.push(`${PROVENANCE_FILE}: not an in-toto statement of SLSA provenance v1`);
        continue;
      }
      const named = statement.predicate?.buildDefinition?.externalParameters?.build;
      if (!sameBuild(named, build)) {
        problems.push(`${PROVENANCE_FILE}: it is the provenance of ${JSON.stringify(named)}, not of ${build.pathname}`);
        continue;
      }
      const subjects = (statement.subject as Array<{ name?: unknown; digest?: { sha256?: unknown } }>).map((s) => ({ path: String(s?.name), sha256: String(s?.digest?.sha256 ?? '') }));
      const difference = firstDifference(subjects, listed);
      if (difference) {
        problems.push(`${PROVENANCE_FILE}: its subjects differ from ${SUMS_FILE}: ${difference}`);
        continue;
      }
      inputs = statement.predicate?.buildDefinition?.resolvedDependencies?.length ?? 0;
      statements++;
    }
    if (statements === 0 && !problems.some((p) => p.startsWith(PROVENANCE_FILE))) problems.push(`${PROVENANCE_FILE}: no signed statement in it`);
    if (problems.length > 0) {
      for (const p of problems) io.stderr.write(`FAILED ${p}\n`);
      io.stderr.write(`${build.href}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
      return 1;
    }
    say(`verified ${build.href}: ${listed.length} files, ${formatBytes(totals.bytesDone)}, signed by ${keyFingerprint(verdict.key)}; provenance signed, ${inputs} recorded inputs${into ? `; saved in ${into}` : ''}`);
    return 0;
  } catch (err) {
    if (err instanceof Refused) {
      for (const p of problems) io.stderr.write(`FAILED ${p}\n`);
      io.stderr.write(`FAILED ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** Downloads one file and says what is wrong with it, or null. */
async function checkFile(url: URL, file: { path: string; sha256: string }, into: string | null, received: (bytes: number) => void): Promise<string | null> {
  const res = await get(url);
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return `HTTP ${res.status}`;
  }
  const hash = createHash('sha256');
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received(chunk.length);
      done(null, chunk);
    },
  });
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  // Kept under --into only once its bytes are right: written beside, renamed on a match.
  let target: string | null = null;
  let temp: string | null = null;
  try {
    if (into) {
      // SHA256SUMS is signed, but a path is still never allowed out of the target folder.
      target = path.resolve(into, ...file.path.split('/'));
      if (!target.startsWith(into + path.sep)) {
        await res.body.cancel().catch(() => undefined);
        return 'a path outside the build';
      }
      await mkdir(path.dirname(target), { recursive: true });
      temp = `${target}.${randomBytes(6).toString('hex')}.part`;
      await pipeline(body, counter, createWriteStream(temp, { flags: 'wx' }));
    } else {
      await pipeline(body, counter, async function* (source) {
        for await (const _ of source) void _;
      });
    }
  } catch (err) {
    if (temp) await rm(temp, { force: true });
    return `the download broke off (${(err as Error).message})`;
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== file.sha256) {
    if (temp) await rm(temp, { force: true });
    return `its bytes hash to ${sha256}, ${SUMS_FILE} says ${file.sha256}`;
  }
  if (temp && target) await rename(temp, target);
  return null;
}
