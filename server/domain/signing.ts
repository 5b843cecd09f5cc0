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

/**
 * The Ed25519 keys trusted for the repository's signatures in a text: OpenSSH public key
 * lines, or `allowed_signers` lines (ssh-keygen(1)) whose `namespaces` option, if any,
 * includes the repository's. Comments, certificate authorities and keys for other
 * namespaces (a team's git signing keys, say) are not trusted.
 */
export function parsePublicKeys(text: string): KeyObject[] {
  const keys: KeyObject[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:(\S+)\s+(?:(\S+)\s+)?)?ssh-ed25519\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(line);
    if (!match) continue;
    const options = match[1] === undefined ? '' : (match[2] ?? '');
    if (/(?:^|,)cert-authority(?:,|$)/i.test(options)) continue;
    const namespaces = /(?:^|,)namespaces="([^"]*)"/i.exec(options)?.[1];
    if (namespaces !== undefined && !namespaces.split(',').includes(SIGNATURE_NAMESPACE)) continue;
    const key = keyFromBlob(Buffer.from(match[3] as string, 'base64'));
    if (key) keys.push(key);
  }
  return keys;
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
