// An OpenID issuer for the tests: discovery document and JWKS over HTTPS on 127.0.0.1,
// its certificate made by openssl (the repository trusts it with UPSTREAM_CA_FILE), its
// keys made by jose, the keys it publishes changeable (a rotation), its JWKS fetches counted.
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { run } from './tools.js';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** An OpenID issuer: discovery and JWKS over HTTPS on 127.0.0.1, the keys it publishes changeable. */
export class Issuer {
  published: SigningKey[] = [];
  jwksFetches = 0;
  private server: https.Server | null = null;
  url = '';

  constructor(
    private readonly cert: { key: Buffer; cert: Buffer },
    private readonly prefix = '',
  ) {}

  async start(port = 0): Promise<void> {
    this.server = https.createServer(this.cert, (req, res) => {
      if (req.url === `${this.prefix}/.well-known/openid-configuration`) {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
      } else if (req.url === `${this.prefix}/jwks`) {
        this.jwksFetches++;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', () => resolve()));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.prefix}`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    for (const server of [this.server, this.gone]) {
      if (!server) continue;
      const closed = new Promise((resolve) => server.close(resolve));
      if (server instanceof https.Server) server.closeAllConnections();
      await closed;
    }
    this.server = null;
    this.gone = null;
  }

  private gone: net.Server | null = null;

  /**
   * Down, as a crashed issuer is: every connection to its address is reset at once. The
   * address stays held (a stopped server's port could go to another test's server, which
   * might take the connection and say nothing); stop() lets it go.
   */
  async goAway(): Promise<void> {
    const port = this.port;
    await this.stop();
    this.gone = net.createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => this.gone?.listen(port, '127.0.0.1', () => resolve()));
  }
}


/** A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem), as UPSTREAM_CA_FILE takes it. */
export async function issuerCertificate(dir: string): Promise<{ key: Buffer; cert: Buffer; certFile: string }> {
  const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-subj', '/CN=test issuer', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2']);
  if (made.code !== 0) throw new Error(`openssl: ${made.stderr}`);
  return { key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')), certFile: path.join(dir, 'cert.pem') };
}

/** A signed ID token with the usual claims around `claims`. */
export async function idToken(key: SigningKey, issuer: string, audience: string, claims: JWTPayload, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + 300)
    .setNotBefore(nowSeconds - 5)
    .setJti(`jti-${Math.random().toString(36).slice(2)}`)
    .sign(key.privateKey);
}
