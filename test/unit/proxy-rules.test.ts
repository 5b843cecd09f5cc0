import { expect } from 'chai';
import { AUDIT_URL_CHARS, auditUrl, canonicalUrl, MAX_VARY_NAMES, pickRecording, recordedHeaders, requestKey, varyMatches, varyNames, varyValues } from '../../server/domain/matching.js';
import { notModified } from '../../server/proxy/bodies.js';
import { keyedHash } from '../../server/domain/keyed-hash.js';
import { createHash } from 'node:crypto';
import { isPrivateAddress, networkList, plainAddress, targetRefusal, unmapped } from '../../server/upstream/networks.js';
import { forwardedHeaders } from '../../server/upstream/upstream.js';
import { defaultBundlePath, noProxyProblem, proxyEnvLines } from '../../cli/proxy-env.js';
import { keepsRefusal, proxyStatus } from '../../server/proxy/refusals.js';
import { execFileSync } from 'node:child_process';

describe('server/upstream/networks', () => {
  const rules = (allow: string[] = []) => ({ allowed: networkList(allow), ownPorts: new Set([8080, 8081]), ownAddresses: new Set(['192.0.2.2']) });

  it('knows the private ranges, IPv4-mapped ones included', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1']) {
      expect(isPrivateAddress(a), a).to.equal(true);
    }
    for (const a of ['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).to.equal(false);
    expect(unmapped('::ffff:1.2.3.4')).to.equal('1.2.3.4');
  });

  it('judges an IPv4 address written inside IPv6 as that IPv4 address, in every form', () => {
    // Mapped (dotted and hex, as the URL parser writes it), compatible, translated, NAT64, 6to4.
    for (const a of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:7F00:0001', '0:0:0:0:0:ffff:7f00:1', '::7f00:1', '::127.0.0.1', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '2002:7f00:1::', '2002:7f00:0001:1234::5']) {
      expect(plainAddress(a), a).to.equal('127.0.0.1');
      expect(isPrivateAddress(a), a).to.equal(true);
    }
    expect(plainAddress('::ffff:808:808')).to.equal('8.8.8.8');
    expect(plainAddress('2002:0808:0808::1')).to.equal('8.8.8.8');
    expect(isPrivateAddress('64:ff9b::808:808')).to.equal(false);
    expect(isPrivateAddress('64:ff9b::a00:1')).to.equal(true);
    // :: and ::1 stay themselves; Teredo (2001::/32) hides its IPv4 address: private.
    expect(plainAddress('::')).to.equal('::');
    expect(plainAddress('0::1')).to.equal('::1');
    expect(isPrivateAddress('2001:0:4136:e378:8000:63bf:3fff:fdd2')).to.equal(true);
    expect(plainAddress('2606:4700:0::1111')).to.equal('2606:4700::1111');
    expect(plainAddress('not an address')).to.equal(null);
    expect(plainAddress('fe80::1%eth0')).to.equal('fe80::1');
  });

  it('refuses the repository\'s own ports however a loopback or own address is written', () => {
    const allowAll = rules(['127.0.0.0/8', '::/0', '192.0.2.0/24']);
    for (const a of ['127.0.0.1', '127.1.2.3', '::ffff:7f00:1', '::ffff:127.0.0.1', '::7f00:1', '::ffff:0:7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::', '::1', '0:0:0:0:0:0:0:1', '::', '0.0.0.0', '::ffff:c000:202', '2002:c000:202::']) {
      expect(targetRefusal(a, 8080, allowAll), a).to.match(/is this repository/);
      expect(targetRefusal(a, 8081, allowAll), a).to.match(/is this repository/);
    }
    expect(targetRefusal('::ffff:7f00:1', 9999, allowAll)).to.equal(null);
    expect(targetRefusal('::ffff:7f00:1', 9999, rules())).to.equal('target 127.0.0.1 is a private address');
    expect(targetRefusal('2002:a00:1::', 443, rules())).to.equal('target 10.0.0.1 is a private address');
  });

  it('refuses private targets unless allowed, names what it refused', () => {
    expect(targetRefusal('127.0.0.3', 443, rules(['127.0.0.2/32']))).to.equal('target 127.0.0.3 is a private address');
    expect(targetRefusal('127.0.0.2', 443, rules(['127.0.0.2/32']))).to.equal(null);
    expect(targetRefusal('::ffff:127.0.0.2', 443, rules(['127.0.0.2/32']))).to.equal(null);
    expect(targetRefusal('93.184.216.34', 443, rules())).to.equal(null);
  });

  it('never the repository itself: its own ports on a local address, allowed network or not', () => {
    expect(targetRefusal('127.0.0.1', 8080, rules(['127.0.0.0/8']))).to.match(/this repository/);
    expect(targetRefusal('192.0.2.2', 8081, rules(['192.0.2.0/24']))).to.match(/this repository/);
    expect(targetRefusal('127.0.0.1', 9999, rules(['127.0.0.0/8']))).to.equal(null);
  });
});

describe('server/domain/matching', () => {
  it('canonical URLs drop credentials, fragments and default ports, and refuse other schemes', () => {
    expect(canonicalUrl('https://user:pw@Example.ORG:443/a/b?x=1#frag')).to.equal('https://example.org/a/b?x=1');
    expect(canonicalUrl('http://example.org:8080/')).to.equal('http://example.org:8080/');
    expect(canonicalUrl('ftp://example.org/')).to.equal(null);
    expect(canonicalUrl('/relative')).to.equal(null);
  });

  it('keys a request by method, URL and body', () => {
    expect(requestKey('get', 'https://e/a', null)).to.equal('GET https://e/a');
    expect(requestKey('POST', 'https://e/a', 'ab')).to.equal('POST https://e/a body:ab');
  });

  const hash = keyedHash('a secret of the repository');

  it('matches by the request headers the response varies on; Vary: * never matches', () => {
    const json = { headers: [['vary', 'Accept'] as const], varyValues: varyValues('Accept', { accept: 'application/json' }, hash) };
    const text = { headers: [['vary', 'Accept'] as const], varyValues: varyValues('Accept', { accept: 'text/plain' }, hash) };
    expect(pickRecording([text, json], { accept: 'application/json' }, hash)).to.equal(json);
    expect(pickRecording([text, json], { accept: 'text/plain' }, hash)).to.equal(text);
    expect(pickRecording([text, json], { accept: 'image/png' }, hash)).to.equal(null);
    expect(varyMatches({ headers: [['vary', '*']], varyValues: {} }, {}, hash)).to.equal(false);
    expect(varyMatches({ headers: [], varyValues: {} }, { accept: 'x' }, hash)).to.equal(true);
    // Absent then, absent now: a match; present on one side only: none.
    const none = { headers: [['vary', 'Accept-Language'] as const], varyValues: varyValues('Accept-Language', {}, hash) };
    expect(varyMatches(none, {}, hash)).to.equal(true);
    expect(varyMatches(none, { 'accept-language': 'en' }, hash)).to.equal(false);
  });

  it('keeps no request value in clear, whatever the response varies on: a keyed hash that only the repository\'s secret reproduces', () => {
    const kept = varyValues('Authorization, Accept, X-Api-Key, Cookie', { authorization: 'Bearer s3cret', accept: 'a', 'x-api-key': 'k3y-v4lue', cookie: 'c=1' }, hash);
    const text = JSON.stringify(kept);
    for (const secret of ['s3cret', 'k3y-v4lue', 'c=1']) expect(text).to.not.include(secret);
    // Not a plain SHA-256 of the value (a dictionary of values would recover it).
    expect(text).to.not.include(createHash('sha256').update('Bearer s3cret').digest('hex'));
    expect(kept['x-api-key']).to.match(/^hmac-sha256:[0-9a-f]{64}$/);
    const candidate = { headers: [['vary', 'Authorization, Accept, X-Api-Key, Cookie'] as const], varyValues: kept };
    expect(varyMatches(candidate, { authorization: 'Bearer s3cret', accept: 'a', 'x-api-key': 'k3y-v4lue', cookie: 'c=1' }, hash)).to.equal(true);
    expect(varyMatches(candidate, { authorization: 'Bearer other', accept: 'a', 'x-api-key': 'k3y-v4lue', cookie: 'c=1' }, hash)).to.equal(false);
    // Another repository (another secret) cannot match it.
    expect(varyMatches(candidate, { authorization: 'Bearer s3cret', accept: 'a', 'x-api-key': 'k3y-v4lue', cookie: 'c=1' }, keyedHash('another secret'))).to.equal(false);
  });

  it('still matches what recordings made before keyed hashes kept: plain SHA-256 of credentials, other values as they were', () => {
    const legacy = { headers: [['vary', 'Authorization, Accept'] as const], varyValues: { authorization: `sha256:${createHash('sha256').update('Bearer old').digest('hex')}`, accept: 'text/plain' } };
    expect(varyMatches(legacy, { authorization: 'Bearer old', accept: 'text/plain' }, hash)).to.equal(true);
    expect(varyMatches(legacy, { authorization: 'Bearer new', accept: 'text/plain' }, hash)).to.equal(false);
  });

  it('a response that varies on more than MAX_VARY_NAMES headers never matches, and keeps no values', () => {
    const vary = [...Array(MAX_VARY_NAMES + 1).keys()].map((n) => `X-H${n}`).join(', ');
    expect(varyValues(vary, { 'x-h1': 'a' }, hash)).to.deep.equal({});
    expect(varyMatches({ headers: [['vary', vary]], varyValues: {} }, {}, hash)).to.equal(false);
    expect(varyNames('A, a, B')).to.deep.equal(['a', 'b']);
  });

  it('an audit URL has no query and at most AUDIT_URL_CHARS characters', () => {
    expect(auditUrl('https://e/a?token=x')).to.equal('https://e/a?…');
    expect(auditUrl(`https://e/${'p'.repeat(20_000)}?q`)).to.have.length(AUDIT_URL_CHARS + 3);
  });

  it('answers 304 for a matching validator, for GET and HEAD of a 200 only', () => {
    const recorded = { etag: '"v1"', 'last-modified': 'Tue, 01 Dec 2026 10:00:00 GMT' };
    expect(notModified('GET', 200, { 'if-none-match': '"v0", W/"v1"' }, recorded)).to.equal(true);
    expect(notModified('GET', 200, { 'if-none-match': '"v2"' }, recorded)).to.equal(false);
    expect(notModified('GET', 200, { 'if-modified-since': 'Tue, 01 Dec 2026 11:00:00 GMT' }, recorded)).to.equal(true);
    expect(notModified('GET', 200, { 'if-modified-since': 'Tue, 01 Dec 2026 09:00:00 GMT' }, recorded)).to.equal(false);
    expect(notModified('POST', 200, { 'if-none-match': '"v1"' }, recorded)).to.equal(false);
    expect(notModified('GET', 404, { 'if-none-match': '"v1"' }, recorded)).to.equal(false);
    // "*" matches any answer there is, with or without an ETag.
    expect(notModified('GET', 200, { 'if-none-match': '*' }, { 'content-type': 'text/plain' })).to.equal(true);
    expect(notModified('GET', 200, { 'if-none-match': '"v1"' }, { 'content-type': 'text/plain' })).to.equal(false);
  });

  it('records the headers that describe a body, never Set-Cookie', () => {
    expect(recordedHeaders(['Content-Type', 'text/plain', 'Set-Cookie', 'a=b', 'ETag', '"x"', 'Server', 'nginx'])).to.deep.equal([['content-type', 'text/plain'], ['etag', '"x"']]);
  });
});

describe('server/upstream/upstream forwardedHeaders', () => {
  it('drops hop-by-hop headers, those Connection names, Host and the proxy credentials', () => {
    const out = forwardedHeaders(['Host', 'x', 'Proxy-Authorization', 'Basic abc', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Accept', 'a', 'Authorization', 'Bearer t', 'TE', 'trailers']);
    expect(out).to.deep.equal({ accept: 'a', authorization: 'Bearer t' });
  });
});

describe('cli/proxy-env lines', () => {
  it('name the token variables, never their values, and point every tool at the bundle', () => {
    const lines = proxyEnvLines(new URL('http://artifacts.example.org:8081'), '/tmp/ca bundle.pem', new URL('https://artifacts.example.org/')).join('\n');
    expect(lines).to.include('export HTTP_PROXY="http://${ARTIFACT_USER}:${ARTIFACT_PASSWORD}@artifacts.example.org:8081"');
    for (const name of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'GIT_SSL_CAINFO', 'NODE_EXTRA_CA_CERTS', 'npm_config_cafile']) expect(lines).to.include(`${name}='/tmp/ca bundle.pem'`);
  });

  it('append the repository to NO_PROXY and no_proxy once, keeping what the build already bypasses (evaluated by sh)', () => {
    const repo = new URL('https://artifacts.example.org/');
    const evaluate = (env: Record<string, string>): string => {
      const lines = proxyEnvLines(new URL('http://artifacts.example.org:8081'), '/tmp/b.pem', repo, env).join('\n');
      return execFileSync('sh', ['-c', `${lines}\nprintf '%s|%s' "$NO_PROXY" "$no_proxy"`], { env: { PATH: process.env.PATH, ...env } }).toString();
    };
    expect(evaluate({ NO_PROXY: 'internal.example, .corp', no_proxy: 'internal.example' })).to.equal('internal.example,.corp,artifacts.example.org|internal.example,artifacts.example.org');
    expect(evaluate({})).to.equal('artifacts.example.org|artifacts.example.org');
    // Evaluated twice (a second token, say), the entry is not added again.
    expect(evaluate({ NO_PROXY: 'artifacts.example.org', no_proxy: 'x,artifacts.example.org' })).to.equal('artifacts.example.org|x,artifacts.example.org');
    // What the build already bypasses is said; everything ("*") is refused.
    expect(noProxyProblem({ NO_PROXY: 'artifacts.example.org' }, repo)).to.deep.equal({ refuse: false, message: null });
    expect(noProxyProblem({ no_proxy: 'internal.example' }, repo).message).to.include('internal.example: requests to those hosts bypass the build proxy');
    expect(noProxyProblem({ NO_PROXY: 'a,*' }, repo).refuse).to.equal(true);
  });

  it('keep the CA bundle in the user\'s cache, one per repository, never in the working directory', () => {
    const repo = new URL('http://127.0.0.1:8080/');
    expect(defaultBundlePath(repo, { HOME: '/home/ci' })).to.equal('/home/ci/.cache/artifact-repo/ca-bundle-127.0.0.1_8080.pem');
    expect(defaultBundlePath(repo, { HOME: '/home/ci', XDG_CACHE_HOME: '/var/cache/ci' })).to.equal('/var/cache/ci/artifact-repo/ca-bundle-127.0.0.1_8080.pem');
    // A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    expect(defaultBundlePath(repo, { HOME: '/home/ci', XDG_CACHE_HOME: 'cache' })).to.equal('/home/ci/.cache/artifact-repo/ca-bundle-127.0.0.1_8080.pem');
  });
});

describe('proxy/refusals keepsRefusal', () => {
  it('keeps what the proxy decided about the request, never load, the build\'s state, an upstream failing or an answer already begun', () => {
    expect(keepsRefusal(403, false)).to.equal(true);
    expect(keepsRefusal(414, false)).to.equal(true);
    expect(keepsRefusal(400, false)).to.equal(true);
    for (const status of [407, 409, 429, 502, 503, 504, 507]) expect(keepsRefusal(status, false), String(status)).to.equal(false);
    expect(keepsRefusal(403, true)).to.equal(false);
  });

  it('says why in a Proxy-Status value a header can carry: printable ASCII, quotes and backslashes escaped', () => {
    expect(proxyStatus(new Error('x'), 403, 'a "quoted" \\ reason\r\nX-Injected: 1 ü')).to.equal('artifact-repo; error=http_request_denied; details="a \\"quoted\\" \\\\ reason??X-Injected: 1 ?"');
    expect(proxyStatus(new Error('x'), 502, 'upstream')).to.include('error=proxy_internal_error');
  });
});
