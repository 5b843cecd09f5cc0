// The repository's signing key in use: made at first start, kept by a SigningKeyStore
// (tokens volume, or the database), never served. Sealing asks it for the signed files a
// sealed build carries beside SHA256SUMS.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { dsseSignedLine, IN_TOTO_PAYLOAD_TYPE, keyFingerprint, openSshPublicKey, parsePublicKeys, sshSign } from '../domain/signing.js';
import { provenanceStatementBytes, type ProvenanceFacts } from '../domain/provenance.js';
import { yieldToLoop } from '../domain/gate.js';
import type { KeyedHash } from '../domain/keyed-hash.js';
import type { SigningKeyRecord, SigningKeyStore } from '../domain/stores.js';
import { PROVENANCE_FILE, SUMS_SIGNATURE_FILE } from '../domain/seal-files.js';
import { newPgpKey, pgpFingerprint, readSigningKey, signRelease } from '../domain/openpgp.js';
import type { PrivateKey } from 'openpgp';

export interface PublicSigningKey {
  key: KeyObject;
  fingerprint: string;
  createdAt: string;
  retiredAt: string | null;
  /** Its OpenPGP twin, armoured (null: a key retired before the repository signed apt indexes). */
  pgpPublic: string | null;
}

/** A new key: the SSH one and its OpenPGP twin, dated alike. */
async function newKey(now: () => number): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const createdAt = new Date(now());
  const pgp = await newPgpKey(createdAt);
  return {
    publicKey: openSshPublicKey(publicKey, ''),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    createdAt: createdAt.toISOString(),
    retiredAt: null,
    pgpPublic: pgp.publicArmored,
    pgpPrivate: pgp.privateArmored,
  };
}

export class Signer {
  private rotating: Promise<unknown> = Promise.resolve();
  // The OpenPGP private key, parsed once per key (a rotation brings another armour).
  private pgpKey: { armored: string; key: Promise<PrivateKey> } | null = null;

  private constructor(
    private readonly store: SigningKeyStore,
    private readonly now: () => number,
  ) {}

  /** Opens the store, making the first key if there is none. */
  static async open(store: SigningKeyStore, now: () => number = Date.now): Promise<Signer> {
    const signer = new Signer(store, now);
    let current = (await store.list()).find((k) => k.retiredAt === null);
    if (!current) current = await store.createIfAbsent(await newKey(now));
    // A key made before the repository signed apt indexes gets its OpenPGP twin now.
    if (!current.pgpPublic) {
      const pgp = await newPgpKey(new Date(now()));
      await store.attachPgp(current.publicKey, pgp.publicArmored, pgp.privateArmored);
    }
    return signer;
  }

  /** Every public key, the current one first: read each time, so a rotation on any replica shows at once. */
  async publicKeys(): Promise<PublicSigningKey[]> {
    const out: PublicSigningKey[] = [];
    for (const record of await this.store.list()) {
      const [key] = parsePublicKeys(record.publicKey);
      if (key) out.push({ key, fingerprint: keyFingerprint(key), createdAt: record.createdAt, retiredAt: record.retiredAt, pgpPublic: record.pgpPublic ?? null });
    }
    return out;
  }

  async current(): Promise<PublicSigningKey> {
    const [current] = await this.publicKeys();
    if (!current || current.retiredAt !== null) throw new Error('no current signing key');
    return current;
  }

  private async privateKey(): Promise<KeyObject> {
    const record = (await this.store.list()).find((k) => k.retiredAt === null && k.privatePem);
    if (!record?.privatePem) throw new Error('no current signing key');
    return createPrivateKey(record.privatePem);
  }

  /**
   * A new current key; the old one is kept (public half only) so that what it signed still
   * verifies. One rotation at a time in this process (the key file is read, changed and
   * written whole); across replicas the database keeps one current key.
   */
  rotate(): Promise<{ retired: string; current: string }> {
    const run = this.rotating.then(async () => {
      const retired = await this.current();
      const key = await newKey(this.now);
      await this.store.rotate(key);
      const [current] = parsePublicKeys(key.publicKey);
      return { retired: retired.fingerprint, current: current ? keyFingerprint(current) : '' };
    });
    this.rotating = run.catch(() => undefined);
    return run;
  }

  /** The current OpenPGP public key, armoured, and its fingerprint. */
  async currentPgp(): Promise<{ armored: string; fingerprint: string }> {
    const current = await this.current();
    if (!current.pgpPublic) throw new Error('no current OpenPGP signing key');
    return { armored: current.pgpPublic, fingerprint: await pgpFingerprint(current.pgpPublic) };
  }

  /** A Release file's signatures (apt), with the current OpenPGP key. */
  async signRelease(release: string): Promise<{ inRelease: string; releaseGpg: Buffer }> {
    const record = (await this.store.list()).find((k) => k.retiredAt === null && k.pgpPrivate);
    if (!record?.pgpPrivate) throw new Error('no current OpenPGP signing key');
    if (this.pgpKey?.armored !== record.pgpPrivate) this.pgpKey = { armored: record.pgpPrivate, key: readSigningKey(record.pgpPrivate) };
    return signRelease(await this.pgpKey.key, release, new Date(this.now()));
  }

  /**
   * The files sealing writes beside SHA256SUMS: its SSH signature and the signed provenance.
   * A build's statement may run to tens of megabytes (as many inputs as its recording may
   * hold): it is written a slice at a time and signed in the thread pool, so that the
   * event loop is never held for long.
   */
  async sealFiles(sums: string, facts: ProvenanceFacts, queryHash: KeyedHash): Promise<{ files: Array<{ name: string; body: string | Buffer }>; signedBy: string }> {
    const key = await this.privateKey();
    const statement = await provenanceStatementBytes(facts, queryHash, yieldToLoop);
    const envelope = await dsseSignedLine(IN_TOTO_PAYLOAD_TYPE, statement, key, yieldToLoop);
    return {
      files: [
        { name: SUMS_SIGNATURE_FILE, body: sshSign(Buffer.from(sums), key) },
        { name: PROVENANCE_FILE, body: Buffer.concat([envelope, Buffer.from('\n')]) },
      ],
      signedBy: keyFingerprint(key),
    };
  }
}
