// The repository's signing key in use: made at first start, kept by a SigningKeyStore
// (tokens volume, or the database), never served. Sealing asks it for the signed files a
// sealed build carries beside SHA256SUMS.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { dsseSignedLine, IN_TOTO_PAYLOAD_TYPE, keyFingerprint, openSshPublicKey, parsePublicKeys, sshSign } from '../domain/signing.js';
import { provenanceStatementBytes, type ProvenanceFacts } from '../domain/provenance.js';
import { yieldToLoop } from '../domain/gate.js';
import type { KeyedHash } from '../domain/keyed-hash.js';
import type { SigningKeyStore } from '../domain/stores.js';
import { PROVENANCE_FILE, SUMS_SIGNATURE_FILE } from '../domain/seal-files.js';

export interface PublicSigningKey {
  key: KeyObject;
  fingerprint: string;
  createdAt: string;
  retiredAt: string | null;
}

function newKey(now: () => number): { publicKey: string; privatePem: string; createdAt: string; retiredAt: null } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { publicKey: openSshPublicKey(publicKey, ''), privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), createdAt: new Date(now()).toISOString(), retiredAt: null };
}

export class Signer {
  private rotating: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: SigningKeyStore,
    private readonly now: () => number,
  ) {}

  /** Opens the store, making the first key if there is none. */
  static async open(store: SigningKeyStore, now: () => number = Date.now): Promise<Signer> {
    const signer = new Signer(store, now);
    if (!(await store.list()).some((k) => k.retiredAt === null)) await store.createIfAbsent(newKey(now));
    return signer;
  }

  /** Every public key, the current one first: read each time, so a rotation on any replica shows at once. */
  async publicKeys(): Promise<PublicSigningKey[]> {
    const out: PublicSigningKey[] = [];
    for (const record of await this.store.list()) {
      const [key] = parsePublicKeys(record.publicKey);
      if (key) out.push({ key, fingerprint: keyFingerprint(key), createdAt: record.createdAt, retiredAt: record.retiredAt });
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
      const key = newKey(this.now);
      await this.store.rotate(key);
      return { retired: retired.fingerprint, current: keyFingerprint(createPublicKey(createPrivateKey(key.privatePem))) };
    });
    this.rotating = run.catch(() => undefined);
    return run;
  }

  /** The files sealing writes beside SHA256SUMS: its SSH signature and the signed provenance. */
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
