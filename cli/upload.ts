// `artifact-repo upload`: puts a build's output directory into its build collection with
// the build token's credentials, several files at a time, each with its SHA-256 so the
// server can refuse a corrupted body, retrying only the failures a retry can cure.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProgressLine } from './progress.js';
import { mintToken, revokeToken, type MintedCredential } from './token-commands.js';
import { ClientError } from './http-client.js';

export interface UploadIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export const USAGE = 'usage: artifact-repo upload [--parallel N] [--retries N] DIR URL\n  With ARTIFACT_USER and ARTIFACT_PASSWORD (a build token), URL is the build\'s; with\n  ARTIFACT_REPO_ID_TOKEN (a CI job\'s OpenID token), URL is the repository\'s: the job\'s\n  build is minted, uploaded into and revoked (sealed), in one command.';

export const DEFAULT_PARALLEL = 4;
export const MAX_PARALLEL = 64;
export const DEFAULT_RETRIES = 3;
export const MAX_RETRIES = 20;
const DEFAULT_BACKOFF_MS = 250;
const DEFAULT_TIMEOUT_MS = 60_000;
/** How long to wait for `100 Continue` before sending the body anyway (as curl does). */
const EXPECT_WAIT_MS = 1000;
const ERROR_BODY_CHARS = 200;
/** Enough of an error body for its first line; the rest is drained, not kept. */
const ERROR_BODY_KEEP_BYTES = 8192;

export interface LocalFile {
  /** Path segments below DIR, in order. */
  segments: string[];
  /** `a/b c.txt`: the segments joined with `/`, for messages. */
  relative: string;
  absolute: string;
  size: number;
}

export interface SkippedEntry {
  relative: string;
  reason: string;
}

export interface UploadedFile {
  relative: string;
  size: number;
  sha256: string;
  status: number;
  attempts: number;
}

export interface FailedFile {
  relative: string;
  /** The HTTP status when the server answered; absent for a transport or local error. */
  status?: number;
  error: string;
  attempts: number;
}

export type UploadEvent =
  | { type: 'scanned'; files: number; bytes: number }
  | { type: 'skipped'; relative: string; reason: string }
  /** Body bytes handed to the socket; negative when a failed attempt's bytes are taken back. */
  | { type: 'bytes'; delta: number }
  /** The file's real size differs from the scan's (it changed in between). */
  | { type: 'resized'; delta: number }
  | { type: 'retry'; relative: string; attempt: number; of: number; reason: string; delayMs: number }
  | { type: 'uploaded'; file: UploadedFile }
  | { type: 'failed'; file: FailedFile };

export interface UploadOptions {
  dir: string;
  /** Collection URL; a missing trailing `/` is added. */
  url: string;
  username: string;
  password: string;
  /** Files in flight at once, 1..64; default 4. */
  parallel?: number;
  /** Further attempts per file after a dropped connection or a retryable 5xx; default 3. */
  retries?: number;
  /** The n-th retry waits n times this; default 250 ms. */
  backoffMs?: number;
  /** A socket silent this long is given up (ETIMEDOUT, retried); default 60 s. */
  timeoutMs?: number;
  onEvent?: (event: UploadEvent) => void;
}

export interface UploadResult {
  url: string;
  files: number;
  bytes: number;
  uploaded: UploadedFile[];
  failed: FailedFile[];
  /** Files never tried because the server refused the credentials. */
  notAttempted: string[];
  skipped: SkippedEntry[];
  /** Body bytes of the files stored. */
  bytesUploaded: number;
  /** A 401 or 403 stopped the upload early. */
  authRefused: boolean;
  elapsedMs: number;
}

// ---------------------------------------------------------------------------------------
// Pure helpers

/** The collection URL with a trailing `/`; throws with a one-line reason when unusable. */
export function normaliseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`URL must be http or https: ${url.protocol}`);
  // Credentials in a URL end up in shell history and logs; they come from the environment.
  if (url.username !== '' || url.password !== '') throw new Error('URL must not contain credentials; set ARTIFACT_USER and ARTIFACT_PASSWORD');
  if (url.search !== '' || url.hash !== '') throw new Error('URL must not have a query or a fragment');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** Plain http to another machine: Basic credentials readable by anyone on the path. */
export function sendsInClear(url: URL): boolean {
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

/** Each segment percent-encoded on its own, so `#`, `%`, `?` and `/`-free names survive. */
export function fileUrl(base: URL, segments: readonly string[]): URL {
  return new URL(base.origin + base.pathname + segments.map(encodeURIComponent).join('/'));
}

export function basicAuth(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The first line of an error body, whitespace collapsed, at most 200 characters. */
export function oneLine(body: string, max = ERROR_BODY_CHARS): string {
  const first = body.trim().split(/\r?\n/, 1)[0] ?? '';
  const line = first.replace(/\s+/g, ' ').trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

/** The forms a credential can take in a message: the password, and the Basic header value. */
export function secretsOf(username: string, password: string): string[] {
  return [password, `${username}:${password}`, basicAuth(username, password).slice('Basic '.length)];
}

/**
 * Belt and braces: whatever a server or the OS put in a message (a proxy echoing request
 * headers, say), the password never goes out, raw or as its Basic header.
 */
export function redact(text: string, ...secrets: string[]): string {
  let out = text;
  // Longest first: the password is part of "user:password".
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** 5xx means the server may do better next time; 507 (disk full) will not improve by retrying. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 && status <= 599 && status !== 507;
}

export function isRetryableCode(code: string | undefined): boolean {
  return code !== undefined && RETRYABLE_CODES.has(code);
}

export function backoffDelay(attempt: number, baseMs: number): number {
  return baseMs * attempt;
}

export function parsePositiveInt(text: string | undefined, fallback: number, min: number, max: number): number | null {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) return null;
  const value = Number(text);
  return value >= min && value <= max ? value : null;
}

// ---------------------------------------------------------------------------------------
// The directory walk

/** Regular files below dir, each directory's entries in code-unit order, so runs repeat exactly. */
export async function listFiles(dir: string, onSkip: (entry: SkippedEntry) => void = () => undefined): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  async function walk(absolute: string, segments: string[]): Promise<void> {
    const names = (await readdir(absolute)).sort();
    for (const name of names) {
      const full = path.join(absolute, name);
      const here = [...segments, name];
      const relative = here.join('/');
      // lstat, not stat: a symlink could point outside DIR and publish files nobody meant to.
      const stats = await lstat(full);
      if (stats.isSymbolicLink()) onSkip({ relative, reason: 'symbolic link, not followed' });
      else if (stats.isDirectory()) await walk(full, here);
      else if (stats.isFile()) files.push({ segments: here, relative, absolute: full, size: stats.size });
      else onSkip({ relative, reason: 'not a regular file' });
    }
  }
  await walk(dir, []);
  return files;
}

/** SHA-256 and length from one streamed read: the length sent must be the length hashed. */
export function hashFile(absolute: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    const stream = createReadStream(absolute);
    stream.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      hash.update(bytes);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve({ sha256: hash.digest('hex'), size }));
  });
}

// ---------------------------------------------------------------------------------------
// One PUT

class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** A local problem (file vanished, shrank, unreadable): retrying the same bytes cannot help. */
class LocalFileError extends Error {}

interface Reply {
  status: number;
  statusMessage: string;
  body: string;
}

interface PutRequest {
  url: URL;
  agent: http.Agent;
  authorization: string;
  absolute: string;
  size: number;
  sha256: string;
  timeoutMs: number;
  onBytes: (delta: number) => void;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function putOnce(p: PutRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let bodyStarted = false;
    let bodyFinished = false;
    let waitForContinue: NodeJS.Timeout | undefined;
    const send = p.url.protocol === 'https:' ? https.request : http.request;
    const req = send(p.url, {
      method: 'PUT',
      agent: p.agent,
      headers: {
        Authorization: p.authorization,
        'Content-Length': p.size,
        'X-Checksum-Sha256': p.sha256,
        // The server refuses bad credentials before the body: no bytes wasted, and the
        // 401 arrives as an answer rather than as a reset connection.
        ...(p.size > 0 ? { Expect: '100-continue' } : {}),
      },
    });
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(waitForContinue);
      req.destroy();
      reject(err);
    };
    const succeed = (reply: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(waitForContinue);
      // An answer before the whole body (a refusal) leaves the connection mid-request.
      if (!bodyFinished) req.destroy();
      resolve(reply);
    };

    const startBody = (): void => {
      clearTimeout(waitForContinue);
      if (bodyStarted || settled) return;
      bodyStarted = true;
      let sent = 0;
      // `end` caps the read at the hashed length, should the file have grown since.
      const stream = createReadStream(p.absolute, { start: 0, end: p.size - 1 });
      stream.on('data', (chunk: Buffer | string) => {
        const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        sent += length;
        p.onBytes(length);
      });
      stream.once('error', (err) => fail(new LocalFileError(`cannot read file: ${errorCode(err) ?? err.message}`)));
      stream.once('end', () => {
        if (sent !== p.size) return fail(new LocalFileError(`file shrank from ${p.size} to ${sent} bytes while uploading`));
        bodyFinished = true;
        req.end();
      });
      stream.pipe(req, { end: false });
      req.once('close', () => stream.destroy());
    };

    req.on('continue', startBody);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept >= ERROR_BODY_KEEP_BYTES) return;
        chunks.push(chunk);
        kept += chunk.length;
      });
      res.once('end', () => succeed({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', (err) => fail(new TransportError(`response aborted: ${err.message}`, errorCode(err) ?? 'ECONNRESET')));
      res.once('close', () => fail(new TransportError('response aborted', 'ECONNRESET')));
    });
    req.on('error', (err) => fail(new TransportError(err.message, errorCode(err))));
    req.setTimeout(p.timeoutMs, () => fail(new TransportError(`no data for ${Math.round(p.timeoutMs / 1000)} s`, 'ETIMEDOUT')));

    if (p.size === 0) {
      bodyStarted = true;
      bodyFinished = true;
      req.end();
    } else {
      // Headers go out now; the body waits for `100 Continue` unless the server ignores Expect.
      req.flushHeaders();
      waitForContinue = setTimeout(startBody, EXPECT_WAIT_MS);
    }
  });
}

// ---------------------------------------------------------------------------------------
// The whole directory

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type FileOutcome = { ok: true; file: UploadedFile } | { ok: false; file: FailedFile; authRefused: boolean };

export async function uploadDirectory(options: UploadOptions): Promise<UploadResult> {
  const started = performance.now();
  const base = normaliseBaseUrl(options.url);
  const parallel = options.parallel ?? DEFAULT_PARALLEL;
  const retries = options.retries ?? DEFAULT_RETRIES;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) throw new RangeError(`parallel must be 1..${MAX_PARALLEL}`);
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError('retries must be a non-negative integer');
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const emit = options.onEvent ?? (() => undefined);
  const authorization = basicAuth(options.username, options.password);
  const secrets = secretsOf(options.username, options.password);
  const clean = (text: string): string => redact(text, ...secrets);

  const skipped: SkippedEntry[] = [];
  const files = await listFiles(options.dir, (entry) => {
    skipped.push(entry);
    emit({ type: 'skipped', ...entry });
  });
  const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  emit({ type: 'scanned', files: files.length, bytes: totalBytes });

  const agentOptions = { keepAlive: true, maxSockets: parallel };
  const agent = base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  let stop = false;

  async function uploadOne(file: LocalFile): Promise<FileOutcome> {
    let attempts = 0;
    const failed = (error: string, status?: number): FileOutcome => {
      const authRefused = status === 401 || status === 403;
      return { ok: false, authRefused, file: { relative: file.relative, error: clean(error), attempts, ...(status !== undefined ? { status } : {}) } };
    };
    let digest: { sha256: string; size: number };
    try {
      digest = await hashFile(file.absolute);
    } catch (err) {
      return failed(`cannot read file: ${errorCode(err) ?? (err as Error).message}`);
    }
    if (digest.size !== file.size) emit({ type: 'resized', delta: digest.size - file.size });
    const url = fileUrl(base, file.segments);
    for (;;) {
      attempts++;
      let attemptBytes = 0;
      let reason: string;
      try {
        const reply = await putOnce({
          url,
          agent,
          authorization,
          absolute: file.absolute,
          size: digest.size,
          sha256: digest.sha256,
          timeoutMs,
          onBytes: (delta) => {
            attemptBytes += delta;
            emit({ type: 'bytes', delta });
          },
        });
        if (reply.status >= 200 && reply.status < 300) {
          // A body cut short by the network would be refused by the server; count the full size.
          if (attemptBytes !== digest.size) emit({ type: 'bytes', delta: digest.size - attemptBytes });
          return { ok: true, file: { relative: file.relative, size: digest.size, sha256: digest.sha256, status: reply.status, attempts } };
        }
        emit({ type: 'bytes', delta: -attemptBytes });
        const detail = oneLine(reply.body);
        reason = `${reply.status} ${reply.statusMessage}`.trim() + (detail ? `: ${detail}` : '');
        if (!isRetryableStatus(reply.status)) return failed(reason, reply.status);
      } catch (err) {
        emit({ type: 'bytes', delta: -attemptBytes });
        if (err instanceof LocalFileError) return failed(err.message);
        const code = err instanceof TransportError ? err.code : errorCode(err);
        reason = code && !(err as Error).message.includes(code) ? `${code} (${(err as Error).message})` : (err as Error).message;
        if (!isRetryableCode(code)) return failed(reason);
      }
      if (attempts > retries || stop) return failed(attempts > 1 ? `${reason} (after ${attempts} attempts)` : reason);
      const delayMs = backoffDelay(attempts, backoffMs);
      emit({ type: 'retry', relative: file.relative, attempt: attempts + 1, of: retries + 1, reason: clean(reason), delayMs });
      await sleep(delayMs);
    }
  }

  const uploaded: UploadedFile[] = [];
  const failures: FailedFile[] = [];
  const notAttempted: string[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < files.length) {
      const file = files[next++] as LocalFile;
      // Credentials refused: every further file would be refused too, and each refusal
      // brings the client's address closer to the server's lockout.
      if (stop) {
        notAttempted.push(file.relative);
        continue;
      }
      const outcome = await uploadOne(file);
      if (outcome.ok) {
        uploaded.push(outcome.file);
        emit({ type: 'uploaded', file: outcome.file });
      } else {
        if (outcome.authRefused) stop = true;
        failures.push(outcome.file);
        emit({ type: 'failed', file: outcome.file });
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, files.length)) }, worker));
  } finally {
    agent.destroy();
  }
  const byPath = (a: { relative: string }, b: { relative: string }): number => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0);
  return {
    url: base.href,
    files: files.length,
    bytes: totalBytes,
    uploaded: uploaded.sort(byPath),
    failed: failures.sort(byPath),
    notAttempted: notAttempted.sort(),
    skipped,
    bytesUploaded: uploaded.reduce((sum, f) => sum + f.size, 0),
    authRefused: stop,
    elapsedMs: performance.now() - started,
  };
}

// ---------------------------------------------------------------------------------------
// The command

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function summaryLine(result: UploadResult): string {
  const seconds = (result.elapsedMs / 1000).toFixed(2);
  const done = `${plural(result.uploaded.length, 'file')}, ${result.bytesUploaded} bytes uploaded to ${result.url} in ${seconds} s`;
  const notFine = result.failed.length + result.notAttempted.length;
  if (notFine === 0) return done;
  const skippedPart = result.notAttempted.length > 0 ? ` (${result.notAttempted.length} not attempted after the credentials were refused)` : '';
  return `${notFine} of ${plural(result.files, 'file')} failed${skippedPart}; ${done}`;
}

type ParsedArgs = { ok: true; dir: string; url: URL; parallel: number; retries: number } | { ok: false; help: boolean; error: string };

export function parseUploadArgs(args: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { parallel: { type: 'string' }, retries: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    return { ok: false, help: false, error: (err as Error).message.split('\n', 1)[0] ?? 'bad arguments' };
  }
  if (parsed.values.help) return { ok: false, help: true, error: '' };
  const parallel = parsePositiveInt(parsed.values.parallel, DEFAULT_PARALLEL, 1, MAX_PARALLEL);
  if (parallel === null) return { ok: false, help: false, error: `--parallel must be a whole number from 1 to ${MAX_PARALLEL}` };
  const retries = parsePositiveInt(parsed.values.retries, DEFAULT_RETRIES, 0, MAX_RETRIES);
  if (retries === null) return { ok: false, help: false, error: `--retries must be a whole number from 0 to ${MAX_RETRIES}` };
  if (parsed.positionals.length !== 2) return { ok: false, help: false, error: 'expected DIR and URL' };
  const [dir, rawUrl] = parsed.positionals as [string, string];
  let url: URL;
  try {
    url = normaliseBaseUrl(rawUrl);
  } catch (err) {
    return { ok: false, help: false, error: (err as Error).message };
  }
  return { ok: true, dir, url, parallel, retries };
}

/**
 * Why the upload stopped early, told apart: a 401 is the credentials (wrong, expired,
 * revoked), a 403 is where they were used (outside the token's scope), with the server's words.
 */
export function refusalLine(failed: readonly FailedFile[]): string {
  const forbidden = failed.find((f) => f.status === 403);
  if (forbidden) return `stopped: the token may not write there (${forbidden.error})`;
  return 'stopped: the server refused the credentials (token wrong, expired or revoked)';
}

/** `artifact-repo upload [--parallel N] [--retries N] DIR URL`; returns the process exit code. `args` are the words after `upload`. */
export async function runUploadCommand(args: string[], env: NodeJS.ProcessEnv, io: UploadIo): Promise<number> {
  const out = (line: string): void => void io.stdout.write(line + '\n');
  const parsed = parseUploadArgs(args);
  if (!parsed.ok) {
    if (parsed.help) {
      out(USAGE);
      return 0;
    }
    io.stderr.write(`artifact-repo upload: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  const usageError = (message: string): number => {
    io.stderr.write(`artifact-repo upload: ${message}\n`);
    return 2;
  };
  try {
    const stats = await lstat(parsed.dir).catch((error: unknown) => (errorCode(error) === 'ENOENT' ? null : Promise.reject(error)));
    if (stats === null) return usageError(`${parsed.dir}: no such directory`);
    // A symlink given as DIR itself is the caller's explicit choice; follow that one.
    const target = stats.isSymbolicLink() ? await stat(parsed.dir).catch(() => null) : stats;
    if (target === null || !target.isDirectory()) return usageError(`${parsed.dir}: not a directory`);
  } catch (err) {
    return usageError(`${parsed.dir}: ${errorCode(err) ?? (err as Error).message}`);
  }
  const username = env.ARTIFACT_USER ?? '';
  const password = env.ARTIFACT_PASSWORD ?? '';
  const idToken = env.ARTIFACT_REPO_ID_TOKEN ?? '';
  if ((username === '' || password === '') && idToken !== '') return uploadForJob(parsed, idToken, env, io);
  if (username === '' || password === '') return usageError('set ARTIFACT_USER and ARTIFACT_PASSWORD to the build token\'s username and password (or, in a CI job, ARTIFACT_REPO_ID_TOKEN to its OpenID token)');

  if (sendsInClear(parsed.url)) io.stderr.write(`artifact-repo upload: warning: ${parsed.url.host} is not this machine and the URL is http://: the token goes over the network unencrypted\n`);
  const tty = io.stderr.isTTY === true;
  const progress = tty ? new ProgressLine((text) => void io.stderr.write(text), { columns: io.stderr.columns ?? 80 }) : null;
  const totals = { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0, failed: 0 };
  // Messages on stderr go on a row of their own, above the progress line.
  const err = (line: string): void => {
    progress?.clear();
    io.stderr.write(redact(line, ...secretsOf(username, password)) + '\n');
    progress?.update(totals, true);
  };
  // A stalled upload still redraws, so the throughput visibly drops to zero.
  const ticker = progress ? setInterval(() => progress.update(totals), 1000) : null;
  ticker?.unref();

  let result: UploadResult;
  try {
    result = await uploadDirectory({
      dir: parsed.dir,
      url: parsed.url.href,
      username,
      password,
      parallel: parsed.parallel,
      retries: parsed.retries,
      onEvent: (event) => {
        switch (event.type) {
          case 'scanned':
            totals.filesTotal = event.files;
            totals.bytesTotal = event.bytes;
            progress?.update(totals, true);
            break;
          case 'skipped':
            err(`skipped ${event.relative}: ${event.reason}`);
            break;
          case 'resized':
            totals.bytesTotal += event.delta;
            break;
          case 'bytes':
            totals.bytesDone += event.delta;
            progress?.update(totals);
            break;
          case 'retry':
            err(`retrying ${event.relative} (attempt ${event.attempt} of ${event.of}) in ${event.delayMs} ms: ${event.reason}`);
            break;
          case 'uploaded':
            totals.filesDone++;
            if (progress) progress.update(totals);
            else out(`uploaded ${event.file.relative} ${event.file.size} bytes sha256 ${event.file.sha256}`);
            break;
          case 'failed':
            totals.filesDone++;
            totals.failed++;
            err(`failed ${event.file.relative}: ${event.file.error}`);
            break;
        }
      },
    });
  } catch (error) {
    if (ticker) clearInterval(ticker);
    progress?.finish(totals);
    err(`cannot upload ${parsed.dir}: ${errorCode(error) ?? (error as Error).message}`);
    return 1;
  }
  if (ticker) clearInterval(ticker);
  progress?.finish(totals);
  if (result.authRefused) err(refusalLine(result.failed));
  out(redact(summaryLine(result), ...secretsOf(username, password)));
  return result.failed.length + result.notAttempted.length === 0 ? 0 : 1;
}

/**
 * In a CI job with an OpenID token (docs/ci.md): URL is the repository's; the job's build
 * credential is minted with the token, DIR uploaded into its build, and the credential
 * revoked (which seals the build), whatever the upload's outcome.
 */
async function uploadForJob(parsed: { dir: string; url: URL; parallel: number; retries: number }, idToken: string, env: NodeJS.ProcessEnv, io: UploadIo): Promise<number> {
  if (sendsInClear(parsed.url)) io.stderr.write(`artifact-repo upload: warning: ${parsed.url.host} is not this machine and the URL is http://: the job's token goes over the network unencrypted\n`);
  let minted: MintedCredential;
  try {
    minted = await mintToken(parsed.url, `Bearer ${idToken}`, {});
  } catch (err) {
    io.stderr.write(`artifact-repo upload: ${err instanceof ClientError ? err.message : (err as Error).message}\n`);
    return 1;
  }
  io.stderr.write(`minted token ${minted.id} for ${minted.scope}, expires ${minted.expires_at}\n`);
  const args = ['--parallel', String(parsed.parallel), '--retries', String(parsed.retries), parsed.dir, minted.url];
  const code = await runUploadCommand(args, { ...env, ARTIFACT_REPO_ID_TOKEN: '', ARTIFACT_USER: minted.username, ARTIFACT_PASSWORD: minted.password }, io);
  try {
    const seal = await revokeToken(parsed.url, minted.id, minted.username, minted.password);
    io.stdout.write(`revoked token ${minted.id}: ${seal === 'sealed' ? `${minted.url} is sealed` : 'the build is sealed once its uploads in flight end'}\n`);
  } catch (err) {
    io.stderr.write(`artifact-repo upload: ${err instanceof ClientError ? err.message : (err as Error).message}\n`);
    return 1;
  }
  return code;
}
