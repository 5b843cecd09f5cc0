// The repository's signatures, in formats stock tools check: SSH signatures (OpenSSH's
// SSHSIG, what `ssh-keygen -Y verify` reads) and DSSE envelopes (what in-toto and SLSA
// tooling read), both with one Ed25519 key. Pure functions over node:crypto.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** The namespace of every SSH signature the repository makes: a signature for another purpose never verifies as one. */
export const SIGNATURE_NAMESPACE = 'artifact-repo';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

const KEY_TYPE = 'ssh-ed25519';
const MAGIC = Buffer.from('SSHSIG');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Reads SSH wire-format fields one after the other; a short or overlong field is an error. */
class WireReader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}

  raw(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new Error('truncated');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  uint32(): number {
    return this.raw(4).readUInt32BE();
  }

  string(): Buffer {
    return this.raw(this.uint32());
  }

  done(): boolean {
    return this.at === this.bytes.length;
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** The public key as SSH encodes it (the base64 part of an OpenSSH public key line). */
export function sshPublicKeyBlob(key: KeyObject): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(rawPublicKey(key))]);
}

/** `ssh-ed25519 AAAA… comment`: an OpenSSH public key line. */
export function openSshPublicKey(key: KeyObject, comment = SIGNATURE_NAMESPACE): string {
  return `${KEY_TYPE} ${sshPublicKeyBlob(key).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The fingerprint `ssh-keygen -l` prints: SHA256:base64 without padding. */
export function keyFingerprint(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(sshPublicKeyBlob(key)).digest('base64').replace(/=+$/, '')}`;
}

/** An `allowed_signers` line (ssh-keygen(1), ALLOWED SIGNERS) that trusts this key for the repository's signatures. */
export function allowedSignersLine(key: KeyObject, comment?: string): string {
  return `${SIGNATURE_NAMESPACE} namespaces="${SIGNATURE_NAMESPACE}" ${openSshPublicKey(key, comment ?? '')}`;
}

function keyFromBlob(blob: Buffer): KeyObject | null {
  try {
    const reader = new WireReader(blob);
    if (reader.string().toString() !== KEY_TYPE) return null;
    const raw = reader.string();
    if (raw.length !== 32 || !reader.done()) return null;
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return null;
  }
}

// A key type and a base64 key: where a line's key starts (what sshkey_read would accept).
const KEY_FIELDS = /^(?:ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+\s+[A-Za-z0-9+/]+={0,2}(?:\s|$)/;

/** One usable line of an allowed_signers file (or a plain public key line), as ssh-keygen(1) reads it. */
export interface AllowedSigner {
  key: KeyObject;
  /** valid-after / valid-before, in ms since the epoch; null when the line does not say. */
  validAfter: number | null;
  validBefore: number | null;
  /** 1-based line number, for messages. */
  line: number;
}

/** A time of an allowed_signers option: YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z], local time unless Z. */
export function allowedSignersTime(text: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const at = m[7] ? Date.UTC(y, mo - 1, d, h, mi, sec) : new Date(y, mo - 1, d, h, mi, sec).getTime();
  // 20230231 is not a date: it must come back as written.
  const back = new Date(at);
  const parts = m[7] ? [back.getUTCFullYear(), back.getUTCMonth() + 1, back.getUTCDate()] : [back.getFullYear(), back.getMonth() + 1, back.getDate()];
  return parts[0] === y && parts[1] === mo && parts[2] === d && h < 24 && mi < 60 && sec < 60 ? at : null;
}

/** OpenSSH's pattern lists (match_pattern_list): `*` and `?` wildcards, `!` negates and wins. */
export function matchesPatternList(name: string, list: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
    if (re.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The option string of a line and where it ends: up to the first blank outside quotes. */
function optionsOf(text: string): { options: string; rest: string } | null {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) return { options: text.slice(0, i), rest: text.slice(i).trimStart() };
  }
  return null;
}

/** Parses `name="value",flag,…` as sshsig's sigopts_parse does; an error for anything it would refuse. */
function signerOptions(options: string): { certAuthority: boolean; namespaces?: string; validAfter?: string; validBefore?: string } | string {
  const out: { certAuthority: boolean; namespaces?: string; validAfter?: string; validBefore?: string } = { certAuthority: false };
  let rest = options;
  while (rest !== '') {
    const m = /^([A-Za-z-]+)/.exec(rest);
    const name = m?.[1]?.toLowerCase() ?? '';
    rest = rest.slice(m?.[1]?.length ?? 0);
    if (name === 'cert-authority') out.certAuthority = true;
    else if (name === 'namespaces' || name === 'valid-after' || name === 'valid-before') {
      const field = name === 'namespaces' ? 'namespaces' : name === 'valid-after' ? 'validAfter' : 'validBefore';
      if (out[field] !== undefined) return `multiple "${name}" clauses`;
      const q = /^="((?:[^"\\]|\\.)*)"/.exec(rest);
      if (!q) return `"${name}" needs a quoted value`;
      out[field] = (q[1] as string).replace(/\\(.)/g, '$1');
      rest = rest.slice(q[0].length);
    } else return `unknown option ${JSON.stringify((name || rest).slice(0, 40))}`;
    if (rest === '') break;
    if (rest[0] !== ',' || rest.length === 1) return 'malformed options';
    rest = rest.slice(1);
  }
  return out;
}

/**
 * Reads an allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS) the way `ssh-keygen -Y
 * verify` does, for the repository's namespace: `principals [options] ssh-ed25519 KEY`,
 * options `namespaces` (patterns), `valid-after`, `valid-before` and `cert-authority`. A
 * line with any other option, a malformed one, a namespace list leaving out the
 * repository's, or `cert-authority` (certificates are not used here) is not trusted, and
 * why is said in `skipped`. Plain OpenSSH public key lines are trusted as they are.
 */
export function parseAllowedSigners(text: string): { signers: AllowedSigner[]; skipped: string[] } {
  const signers: AllowedSigner[] = [];
  const skipped: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const number = index + 1;
    if (line === '' || line.startsWith('#')) return;
    // `principals [options] TYPE KEY`, or a plain `TYPE KEY comment` public key line.
    let keyPart = line;
    let options = '';
    if (!KEY_FIELDS.test(line)) {
      const afterPrincipals = optionsOf(line);
      if (!afterPrincipals) return void skipped.push(`line ${number}: no key`);
      keyPart = afterPrincipals.rest;
      if (!KEY_FIELDS.test(keyPart)) {
        const split = optionsOf(keyPart);
        if (!split) return void skipped.push(`line ${number}: no key after the options`);
        options = split.options;
        keyPart = split.rest;
      }
    }
    const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(keyPart);
    if (!m) return void skipped.push(`line ${number}: no key`);
    if (m[1] !== KEY_TYPE) return void skipped.push(`line ${number}: a ${m[1]} key cannot have signed the repository's signatures`);
    const parsed = signerOptions(options);
    if (typeof parsed === 'string') return void skipped.push(`line ${number}: ${parsed}`);
    if (parsed.certAuthority) return void skipped.push(`line ${number}: cert-authority (certificates are not used for the repository's signatures)`);
    if (parsed.namespaces !== undefined && !matchesPatternList(SIGNATURE_NAMESPACE, parsed.namespaces)) return void skipped.push(`line ${number}: namespaces leave out "${SIGNATURE_NAMESPACE}"`);
    const validAfter = parsed.validAfter === undefined ? null : allowedSignersTime(parsed.validAfter);
    const validBefore = parsed.validBefore === undefined ? null : allowedSignersTime(parsed.validBefore);
    if ((parsed.validAfter !== undefined && validAfter === null) || (parsed.validBefore !== undefined && validBefore === null)) return void skipped.push(`line ${number}: an invalid valid-after or valid-before time`);
    const key = keyFromBlob(Buffer.from(m[2] as string, 'base64'));
    if (!key) return void skipped.push(`line ${number}: not an Ed25519 key`);
    signers.push({ key, validAfter, validBefore, line: number });
  });
  return { signers, skipped };
}

/** Why a signer may not be used at this time (as ssh-keygen says it), or null. */
export function signerTimeProblem(signer: AllowedSigner, at: number): string | null {
  if (signer.validAfter !== null && at < signer.validAfter) return `key is not yet valid: verify time ${new Date(at).toISOString()} < valid-after ${new Date(signer.validAfter).toISOString()}`;
  if (signer.validBefore !== null && at > signer.validBefore) return `key has expired: verify time ${new Date(at).toISOString()} > valid-before ${new Date(signer.validBefore).toISOString()}`;
  return null;
}

/**
 * The Ed25519 keys trusted for the repository's signatures at `at` (now, by default, as
 * `ssh-keygen -Y verify` checks): see parseAllowedSigners.
 */
export function parsePublicKeys(text: string, at: number = Date.now()): KeyObject[] {
  return parseAllowedSigners(text).signers.filter((s) => signerTimeProblem(s, at) === null).map((s) => s.key);
}

function signedData(message: Buffer, namespace: string, hashName: 'sha512' | 'sha256'): Buffer {
  const digest = createHash(hashName).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(hashName), sshString(digest)]);
}

/** An armored SSH signature (SSHSIG, PROTOCOL.sshsig) of `message`, as `ssh-keygen -Y sign` writes it. */
export function sshSign(message: Buffer, privateKey: KeyObject, namespace = SIGNATURE_NAMESPACE): string {
  const signature = sign(null, signedData(message, namespace, 'sha512'), privateKey);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(1);
  const blob = Buffer.concat([
    MAGIC,
    version,
    sshString(sshPublicKeyBlob(privateKey)),
    sshString(namespace),
    sshString(''),
    sshString('sha512'),
    sshString(Buffer.concat([sshString(KEY_TYPE), sshString(signature)])),
  ]);
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

export type Verdict = { ok: true; key: KeyObject } | { ok: false; reason: string };

/** Checks an armored SSH signature of `message` against the trusted keys. */
export function sshVerify(message: Buffer, armored: string, trusted: readonly KeyObject[], namespace = SIGNATURE_NAMESPACE): Verdict {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) return { ok: false, reason: 'not an SSH signature' };
  let fields;
  try {
    const reader = new WireReader(Buffer.from(text.slice(ARMOR_BEGIN.length, -ARMOR_END.length).replace(/\s+/g, ''), 'base64'));
    if (!reader.raw(MAGIC.length).equals(MAGIC) || reader.uint32() !== 1) return { ok: false, reason: 'not an SSH signature (version 1)' };
    fields = { key: reader.string(), namespace: reader.string().toString(), reserved: reader.string(), hash: reader.string().toString(), signature: reader.string() };
    if (!reader.done()) return { ok: false, reason: 'trailing bytes after the signature' };
  } catch {
    return { ok: false, reason: 'malformed SSH signature' };
  }
  if (fields.namespace !== namespace) return { ok: false, reason: `signature for namespace "${fields.namespace}", not "${namespace}"` };
  if (fields.hash !== 'sha512' && fields.hash !== 'sha256') return { ok: false, reason: `unknown hash "${fields.hash}"` };
  const signer = keyFromBlob(fields.key);
  if (!signer) return { ok: false, reason: 'signed with a key that is not Ed25519' };
  const pinned = trusted.find((k) => sshPublicKeyBlob(k).equals(fields.key));
  if (!pinned) return { ok: false, reason: `signed by a key that is not pinned (${keyFingerprint(signer)})` };
  let signature: Buffer;
  try {
    const reader = new WireReader(fields.signature);
    if (reader.string().toString() !== KEY_TYPE) return { ok: false, reason: 'signature is not ssh-ed25519' };
    signature = reader.string();
    if (!reader.done()) return { ok: false, reason: 'malformed SSH signature' };
  } catch {
    return { ok: false, reason: 'malformed SSH signature' };
  }
  if (!verify(null, signedData(message, namespace, fields.hash), pinned, signature)) return { ok: false, reason: 'the signature does not match the signed bytes' };
  return { ok: true, key: pinned };
}

/** DSSE's pre-authentication encoding: what is signed is never ambiguous about its type. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 */
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

export function dsseSign(payloadType: string, payload: Buffer, privateKey: KeyObject): DsseEnvelope {
  const sig = sign(null, preAuthEncoding(payloadType, payload), privateKey);
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid: keyFingerprint(privateKey), sig: sig.toString('base64') }] };
}

/**
 * dsseSign as one line of JSON, the very same bytes as JSON.stringify of its envelope, for
 * payloads of tens of megabytes: signed in the thread pool, the base64 of the payload
 * (which JSON never escapes) made a slice at a time (`pause` between slices), and never
 * held as one string.
 */
export async function dsseSignedLine(payloadType: string, payload: Buffer, privateKey: KeyObject, pause: () => Promise<void> = async () => undefined): Promise<Buffer> {
  const sig = await new Promise<Buffer>((resolve, reject) => sign(null, preAuthEncoding(payloadType, payload), privateKey, (err, signature) => (err ? reject(err) : resolve(signature))));
  // Slices of a multiple of 3 bytes: their base64 joined is the base64 of the whole.
  const slice = 3 * 1024 * 1024;
  const encoded: Buffer[] = [];
  for (let at = 0; at < payload.length; at += slice) {
    encoded.push(Buffer.from(payload.subarray(at, at + slice).toString('base64')));
    await pause();
  }
  const signatures = JSON.stringify([{ keyid: keyFingerprint(privateKey), sig: sig.toString('base64') }]);
  return Buffer.concat([Buffer.from(`{"payloadType":${JSON.stringify(payloadType)},"payload":"`), ...encoded, Buffer.from(`","signatures":${signatures}}`)]);
}

/** Checks that one of the envelope's signatures is a trusted key's; gives the payload. */
export function dsseVerify(envelope: unknown, trusted: readonly KeyObject[]): { ok: true; payload: Buffer; payloadType: string } | { ok: false; reason: string } {
  const e = envelope as Partial<DsseEnvelope> | null;
  if (!e || typeof e.payloadType !== 'string' || typeof e.payload !== 'string' || !Array.isArray(e.signatures)) return { ok: false, reason: 'not a DSSE envelope' };
  const payload = Buffer.from(e.payload, 'base64');
  const signed = preAuthEncoding(e.payloadType, payload);
  for (const s of e.signatures) {
    if (typeof s?.sig !== 'string') continue;
    const sig = Buffer.from(s.sig, 'base64');
    if (trusted.some((key) => verify(null, signed, key, sig))) return { ok: true, payload, payloadType: e.payloadType };
  }
  return { ok: false, reason: 'no signature of a pinned key matches the envelope' };
}
