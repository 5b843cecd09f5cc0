// The build proxy's certificate authority: made at first start (ECDSA P-256, ten years),
// its key kept 0600 beside the token store and never served, the same after a restart.
// Inside a CONNECT tunnel the proxy presents a certificate for the requested host, signed
// by it: short-lived (a week), cached per host, with the host as a DNS or IP subject
// alternative name. Certificates are made with @peculiar/x509 over node:crypto's WebCrypto
// (native signing: a few milliseconds per host).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { AuthorityKeeper } from '../domain/stores.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_YEARS = 10;
const LEAF_DAYS = 7;
// A cached certificate is made again once it has less than this left.
const RENEW_BEFORE_MS = 24 * 3600 * 1000;
const LEAF_CACHE = 1000;
function serial(): string {
  // Positive, 128 random bits.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

function pemOfKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

interface Leaf {
  context: tls.SecureContext;
  renewAt: number;
}

export class CertificateAuthority {
  private readonly leaves = new Map<string, Leaf>();
  private readonly making = new Map<string, Promise<Leaf>>();
  private leafKeys: Promise<{ keys: CryptoKeyPair; keyPem: string }> | null = null;

  private constructor(
    readonly certPem: string,
    private readonly cert: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    private readonly now: () => number,
  ) {}

  /** Loads the authority, or makes and keeps one at first start. */
  static async open(keeper: AuthorityKeeper, now: () => number = Date.now): Promise<CertificateAuthority> {
    let kept = await keeper.load();
    if (!kept) {
      const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: 'CN=artifact-repo build proxy CA, O=artifact-repo',
        notBefore: new Date(now() - 3600_000),
        notAfter: new Date(now() + CA_YEARS * 365 * 24 * 3600_000),
        keys,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      kept = await keeper.saveIfAbsent(pemOfKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), cert.toString('pem') + '\n');
    }
    const cert = new x509.X509Certificate(kept.certPem);
    const keyObject: KeyObject = createPrivateKey(kept.keyPem);
    const signingKey = (await webcrypto.subtle.importKey('pkcs8', keyObject.export({ type: 'pkcs8', format: 'der' }), ALGORITHM, false, ['sign'])) as CryptoKey;
    return new CertificateAuthority(kept.certPem, cert, signingKey, now);
  }

  /** One key for every leaf of this process: its certificates are what differ per host. */
  private leafKey(): Promise<{ keys: CryptoKeyPair; keyPem: string }> {
    this.leafKeys ??= (async () => {
      const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
      return { keys, keyPem: pemOfKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
    })();
    return this.leafKeys;
  }

  /** Whether a certificate for `host` is at hand (contextFor costs no signature). */
  hasContextFor(host: string): boolean {
    const cached = this.leaves.get(host);
    return cached !== undefined && cached.renewAt > this.now();
  }

  /** A TLS context presenting a certificate for `host` (a name or an IP address). */
  async contextFor(host: string): Promise<tls.SecureContext> {
    const cached = this.leaves.get(host);
    if (cached && cached.renewAt > this.now()) {
      // Most recently used last: the oldest is the first to go.
      this.leaves.delete(host);
      this.leaves.set(host, cached);
      return cached.context;
    }
    let making = this.making.get(host);
    if (!making) {
      making = this.makeLeaf(host).finally(() => this.making.delete(host));
      this.making.set(host, making);
    }
    const leaf = await making;
    if (this.leaves.size >= LEAF_CACHE) this.leaves.delete(this.leaves.keys().next().value as string);
    this.leaves.set(host, leaf);
    return leaf.context;
  }

  private async makeLeaf(host: string): Promise<Leaf> {
    const { keys, keyPem } = await this.leafKey();
    const notAfter = this.now() + LEAF_DAYS * 24 * 3600_000;
    const name = isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host };
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${host.replace(/[,=+<>#;"\\]/g, '')}`,
      issuer: this.cert.subject,
      notBefore: new Date(this.now() - 3600_000),
      notAfter: new Date(notAfter),
      signingKey: this.signingKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.SubjectAlternativeNameExtension([name]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    return { context: tls.createSecureContext({ key: keyPem, cert: cert.toString('pem') }), renewAt: notAfter - RENEW_BEFORE_MS };
  }
}
