// The repository's OpenPGP key, for what apt checks: a Release file's clear-signed
// (InRelease) and detached (Release.gpg) signatures. Made with OpenPGP.js, as a v4 key
// with a legacy EdDSA (Ed25519) primary key that signs and no subkey: what gpgv 2.2 (apt
// today) reads, and what sqv (apt's next verifier, which refuses SHA-1 and signing subkeys
// without a back signature) accepts. It is a second key beside the SSH one, made and
// rotated with it: OpenPGP.js cannot wrap existing key material.
import { createCleartextMessage, createMessage, generateKey, readKey, readPrivateKey, sign, type PrivateKey } from 'openpgp';

export interface PgpKeyPair {
  publicArmored: string;
  privateArmored: string;
}

const USER_ID = { name: 'artifact-repo', comment: 'signs apt indexes' };

/** A new signing key, dated `createdAt` (the SSH key's date: the two are one key in the docs). */
export async function newPgpKey(createdAt: Date): Promise<PgpKeyPair> {
  const { publicKey, privateKey } = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [USER_ID], subkeys: [], date: createdAt, format: 'armored' });
  return { publicArmored: publicKey, privateArmored: privateKey };
}

/** The upper-case hex fingerprint gpg prints for the key. */
export async function pgpFingerprint(publicArmored: string): Promise<string> {
  return (await readKey({ armoredKey: publicArmored })).getFingerprint().toUpperCase();
}

export function readSigningKey(privateArmored: string): Promise<PrivateKey> {
  return readPrivateKey({ armoredKey: privateArmored });
}

/** A Release file's two signatures: InRelease (clear-signed, armoured) and Release.gpg (detached, binary). */
export async function signRelease(key: PrivateKey, release: string, date: Date): Promise<{ inRelease: string; releaseGpg: Buffer }> {
  const inRelease = await sign({ message: await createCleartextMessage({ text: release }), signingKeys: key, date, format: 'armored' });
  const detached = await sign({ message: await createMessage({ binary: Buffer.from(release) }), signingKeys: key, detached: true, date, format: 'binary' });
  return { inRelease, releaseGpg: Buffer.from(detached) };
}
