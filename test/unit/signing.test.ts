// The signature formats and the provenance statement, as pure functions (stock tools check
// the real files in test/integration/signing.test.ts).
import { expect } from 'chai';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { allowedSignersLine, allowedSignersTime, dsseSign, dsseSignedLine, dsseVerify, keyFingerprint, matchesPatternList, openSshPublicKey, parseAllowedSigners, parsePublicKeys, preAuthEncoding, signerTimeProblem, sshSign, sshVerify } from '../../server/domain/signing.js';
import { sha256sumLine } from '../../server/domain/checksum.js';
import { keyedHash } from '../../server/domain/keyed-hash.js';
import { compareProvenance, parseSums, provenanceStatement, provenanceStatementBytes, publicUri, type ProvenanceFacts } from '../../server/domain/provenance.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const hash = keyedHash('the repository secret');
const other = generateKeyPairSync('ed25519');

describe('signing formats', () => {
  it('DSSE pre-authentication encoding is the one of the specification', () => {
    // The example of the DSSE protocol document.
    expect(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).to.equal('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    // Lengths are in bytes, not characters.
    expect(preAuthEncoding('t', Buffer.from('ü')).toString()).to.equal('DSSEv1 1 t 2 ü');
  });

  it('an SSH signature verifies with its key, over its bytes and namespace only', () => {
    const message = Buffer.from('abc  file\n');
    const armored = sshSign(message, privateKey);
    expect(armored).to.match(/^-----BEGIN SSH SIGNATURE-----\n(?:[A-Za-z0-9+/=]{1,70}\n)+-----END SSH SIGNATURE-----\n$/);
    const ok = sshVerify(message, armored, [publicKey]);
    expect(ok.ok).to.equal(true);
    expect(sshVerify(Buffer.from('abd  file\n'), armored, [publicKey])).to.deep.equal({ ok: false, reason: 'the signature does not match the signed bytes' });
    expect(sshVerify(message, armored, [publicKey], 'file')).to.deep.include({ ok: false });
    const unpinned = sshVerify(message, armored, [other.publicKey]);
    expect(unpinned.ok).to.equal(false);
    expect((unpinned as { reason: string }).reason).to.equal(`signed by a key that is not pinned (${keyFingerprint(publicKey)})`);
    expect(sshVerify(message, 'garbage', [publicKey])).to.deep.equal({ ok: false, reason: 'not an SSH signature' });
    expect(sshVerify(message, '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----', [publicKey]).ok).to.equal(false);
  });

  it('reads public keys from a key line, an allowed_signers file or the key list, and ignores the rest', () => {
    const text = `# a comment\n${allowedSignersLine(publicKey)}\n${openSshPublicKey(other.publicKey, 'someone@host')}\nssh-rsa AAAAB3NzaC1yc2E= rsa\nssh-ed25519 !!notbase64\n`;
    const keys = parsePublicKeys(text);
    expect(keys.map(keyFingerprint)).to.deep.equal([keyFingerprint(publicKey), keyFingerprint(other.publicKey)]);
    // Not trusted: a commented-out key, a key for other namespaces (git signing), a certificate authority.
    const third = openSshPublicKey(generateKeyPairSync('ed25519').publicKey, '');
    for (const untrusted of [`# ${third}`, `dev@example.org namespaces="git" ${third}`, `*@example.org cert-authority ${third}`]) expect(parsePublicKeys(untrusted), untrusted).to.deep.equal([]);
    expect(parsePublicKeys(`ci@example.org namespaces="git,artifact-repo" ${third}`)).to.have.length(1);
    expect(keyFingerprint(publicKey)).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('honours valid-after and valid-before as ssh-keygen does, and distrusts a line it cannot read whole', () => {
    const key = openSshPublicKey(publicKey, '');
    const at = (iso: string): number => Date.parse(iso);
    const trusted = (line: string, when: string): number => parsePublicKeys(line, at(when)).length;
    expect(trusted(`x valid-before="20200101Z" ${key}`, '2026-12-06T00:00:00Z')).to.equal(0);
    expect(trusted(`x valid-before="20200101Z" ${key}`, '2019-12-31T23:59:59Z')).to.equal(1);
    // The instant itself still passes (ssh-keygen: "verify time > valid-before" fails).
    expect(trusted(`x valid-before="202001010000Z" ${key}`, '2020-01-01T00:00:00Z')).to.equal(1);
    expect(trusted(`x valid-after="202001010000Z" ${key}`, '2019-12-31T23:59:59Z')).to.equal(0);
    expect(trusted(`x valid-after="20200101000000Z" ${key}`, '2020-01-01T00:00:00Z')).to.equal(1);
    expect(trusted(`x VALID-AFTER="20000101Z",Namespaces="git,artifact-*" ${key}`, '2026-01-01T00:00:00Z')).to.equal(1);
    expect(trusted(`x namespaces="*,!artifact-repo" ${key}`, '2026-01-01T00:00:00Z')).to.equal(0);
    expect(trusted(`"ci bot",x valid-before="20300101Z" ${key} a comment`, '2026-01-01T00:00:00Z')).to.equal(1);
    const { signers, skipped } = parseAllowedSigners(
      [`x bogus-option ${key}`, `x valid-before=20300101 ${key}`, `x valid-before="2020010100" ${key}`, `x valid-before="20230231Z" ${key}`, `x valid-after="20000101Z",valid-after="20000101Z" ${key}`, `x valid-after="20000101Z", ${key}`, `x cert-authority ${key}`].join('\n'),
    );
    expect(signers).to.deep.equal([]);
    expect(skipped).to.have.length(7);
    expect(skipped[0]).to.match(/^line 1: unknown option/);
    expect(skipped[4]).to.equal('line 5: multiple "valid-after" clauses');
    // Times without Z are local, as ssh-keygen reads them.
    expect(allowedSignersTime('20200101')).to.equal(new Date(2020, 0, 1).getTime());
    expect(allowedSignersTime('202001011230')).to.equal(new Date(2020, 0, 1, 12, 30).getTime());
    expect(allowedSignersTime('20200101123045Z')).to.equal(Date.UTC(2020, 0, 1, 12, 30, 45));
    for (const bad of ['2020', '202001011', '20201301', '20200101246000Z', 'z20200101']) expect(allowedSignersTime(bad), bad).to.equal(null);
    expect(signerTimeProblem({ key: publicKey, validAfter: null, validBefore: Date.UTC(2020, 0, 1), line: 1 }, Date.UTC(2021, 0, 1))).to.match(/^key has expired: verify time 2021-01-01T00:00:00.000Z > valid-before 2020-01-01T00:00:00.000Z$/);
  });

  it('matches namespace patterns as OpenSSH does', () => {
    expect(matchesPatternList('artifact-repo', 'artifact-repo')).to.equal(true);
    expect(matchesPatternList('artifact-repo', 'git,artifact-*')).to.equal(true);
    expect(matchesPatternList('artifact-repo', 'artifact-rep?')).to.equal(true);
    expect(matchesPatternList('artifact-repo', '*,!artifact-repo')).to.equal(false);
    expect(matchesPatternList('artifact-repo', 'artifact.repo')).to.equal(false);
    expect(matchesPatternList('artifact-repo', '')).to.equal(false);
  });

  it('a DSSE envelope verifies with its key and fails when its type, payload or key differ', () => {
    const envelope = dsseSign('application/vnd.in-toto+json', Buffer.from('{"a":1}'), privateKey);
    expect(envelope.signatures[0]?.keyid).to.equal(keyFingerprint(publicKey));
    const ok = dsseVerify(envelope, [publicKey]);
    expect(ok.ok && ok.payload.toString()).to.equal('{"a":1}');
    expect(dsseVerify({ ...envelope, payloadType: 'application/json' }, [publicKey]).ok).to.equal(false);
    expect(dsseVerify({ ...envelope, payload: Buffer.from('{"a":2}').toString('base64') }, [publicKey]).ok).to.equal(false);
    expect(dsseVerify(envelope, [other.publicKey]).ok).to.equal(false);
    expect(dsseVerify(null, [publicKey])).to.deep.equal({ ok: false, reason: 'not a DSSE envelope' });
  });
});

describe('provenance statement', () => {
  const facts: ProvenanceFacts = {
    publicUrl: 'https://artifacts.example.org/',
    build: '/dpkg/hello/42/',
    mintedBy: ['ci', 'ci', 'release'],
    replayOf: [],
    outputs: [{ path: 'a.deb', sha256: 'a'.repeat(64) }],
    inputs: [
      { url: 'https://user:secret@example.org/z.tar.gz', sha256: 'b'.repeat(64), source: 'upstream' },
      { url: 'https://example.org/a.tar.gz', sha256: 'c'.repeat(64), source: 'mirror' },
      { url: 'https://example.org/z.tar.gz', sha256: 'b'.repeat(64), source: 'upstream' },
    ],
    startedOn: '2026-12-02T00:00:00.000Z',
    finishedOn: '2026-12-02T00:05:00.000Z',
  };

  it('names the outputs, the masters once each, and every distinct input without credentials, in order', () => {
    const statement = provenanceStatement(facts, hash) as { subject: unknown; predicate: { buildDefinition: { externalParameters: unknown; resolvedDependencies: Array<{ uri: string; annotations: unknown }> }; runDetails: unknown } };
    expect(statement.subject).to.deep.equal([{ name: 'a.deb', digest: { sha256: 'a'.repeat(64) } }]);
    expect(statement.predicate.buildDefinition.externalParameters).to.deep.equal({ build: 'https://artifacts.example.org/dpkg/hello/42/', mintedBy: ['ci', 'release'] });
    const deps = statement.predicate.buildDefinition.resolvedDependencies;
    expect(deps.map((d) => d.uri)).to.deep.equal(['https://example.org/a.tar.gz', 'https://example.org/z.tar.gz']);
    expect(deps[0]?.annotations).to.deep.equal({ source: 'mirror' });
    expect(JSON.stringify(statement)).to.not.include('secret');
    expect(statement.predicate.runDetails).to.deep.equal({ builder: { id: 'https://artifacts.example.org/' }, metadata: { startedOn: facts.startedOn, finishedOn: facts.finishedOn } });
  });

  it('names a URL without userinfo, fragment or query; a query only as its keyed hash', () => {
    expect(publicUri('https://u:p@h.example/x?X-Amz-Signature=abc#f', hash)).to.deep.equal({ uri: 'https://h.example/x', queryHash: hash('?X-Amz-Signature=abc') });
    expect(publicUri('https://h.example/x', hash)).to.deep.equal({ uri: 'https://h.example/x', queryHash: null });
    expect(publicUri('not a url', hash).uri).to.equal('urn:artifact-repo:unparsable-url');
    const statement = JSON.stringify(provenanceStatement({ ...facts, inputs: [{ url: 'https://s3.example/b?token=SECRET', sha256: 'e'.repeat(64), source: 'upstream' }] }, hash));
    expect(statement).to.not.include('SECRET');
    // Not the plain SHA-256 of the query: guessing queries and hashing them recovers nothing.
    expect(statement).to.not.include(createHash('sha256').update('?token=SECRET').digest('hex'));
    expect(statement).to.include('"uri":"https://s3.example/b"').and.include(`"queryHash":"${hash('?token=SECRET')}"`);
  });

  it('parses SHA256SUMS and refuses a line that is not one', () => {
    expect(parseSums(`${'a'.repeat(64)}  dir/file name\n${'b'.repeat(64)} *bin\n`)).to.deep.equal([
      { sha256: 'a'.repeat(64), path: 'dir/file name' },
      { sha256: 'b'.repeat(64), path: 'bin' },
    ]);
    expect(() => parseSums('nonsense\n')).to.throw('not a SHA256SUMS line');
    // Names with a newline or a backslash, escaped as sha256sum escapes them.
    const escaped = sha256sumLine('c'.repeat(64), 'a\nb\\c');
    expect(escaped.startsWith('\\')).to.equal(true);
    expect(parseSums(escaped)).to.deep.equal([{ sha256: 'c'.repeat(64), path: 'a\nb\\c' }]);
  });

  it('compares two statements by outputs and inputs, whatever their order', () => {
    const a = provenanceStatement(facts, hash);
    const reordered = provenanceStatement({ ...facts, inputs: [...facts.inputs].reverse(), finishedOn: '2026-12-03T00:00:00.000Z' }, hash);
    expect(compareProvenance(a, reordered)).to.deep.equal({ inputs: true, outputs: true });
    expect(compareProvenance(a, provenanceStatement({ ...facts, inputs: facts.inputs.slice(0, 1) }, hash))).to.deep.equal({ inputs: false, outputs: true });
    expect(compareProvenance(a, provenanceStatement({ ...facts, outputs: [{ path: 'a.deb', sha256: 'd'.repeat(64) }] }, hash))).to.deep.equal({ inputs: true, outputs: false });
    // Two queries differ, by their keyed hash.
    const query = (q: string): Record<string, unknown> => provenanceStatement({ ...facts, inputs: [{ url: `https://example.org/z.tar.gz?${q}`, sha256: 'b'.repeat(64), source: 'upstream' }] }, hash);
    expect(compareProvenance(query('v=1'), query('v=2')).inputs).to.equal(false);
    expect(compareProvenance(query('v=1'), query('v=1')).inputs).to.equal(true);
  });
});

describe('provenance at scale', () => {
  const hash = keyedHash('the repository secret');
  const { privateKey: key } = generateKeyPairSync('ed25519');

  it('the statement written a slice at a time is the very statement, byte for byte, whatever its strings hold', async () => {
    const facts: ProvenanceFacts = {
      publicUrl: 'https://artifacts.example.org/',
      build: '/dpkg/"subject":[]/$&/',
      mintedBy: ['m'],
      replayOf: ['/dpkg/x/1/'],
      outputs: Array.from({ length: 2500 }, (_, i) => ({ path: i === 7 ? 'a "subject":[] $& $1.txt' : `out/${i}.bin`, sha256: createHash('sha256').update(String(i)).digest('hex') })),
      inputs: Array.from({ length: 3100 }, (_, i) => ({ url: `https://e.example/${i % 2000}/"resolvedDependencies":[]$&?q=${i % 3}`, sha256: createHash('sha256').update(String(i % 2500)).digest('hex'), source: 'upstream' as const })),
      meta: { source: { uri: 'https://git.example.org/"resolvedDependencies":[].git', revision: 'a'.repeat(40), branch: '"subject":[]' }, builder: { url: 'https://ci.example.org/1' } },
      startedOn: null,
      finishedOn: '2026-12-06T00:00:00.000Z',
    };
    let pauses = 0;
    const sliced = await provenanceStatementBytes(facts, hash, async () => void pauses++);
    expect(sliced.toString()).to.equal(JSON.stringify(provenanceStatement(facts, hash)));
    expect(pauses).to.be.greaterThan(5);
  });

  it('carries what the build was built from and by: the source, its commit as a dependency, the CI job', () => {
    const base: ProvenanceFacts = { publicUrl: 'https://artifacts.example.org/', build: '/dpkg/hello/42/', mintedBy: ['ci'], replayOf: [], outputs: [], inputs: [], startedOn: null, finishedOn: '2026-12-06T00:00:00.000Z' };
    const meta = { source: { uri: 'https://git.example.org/hello.git', revision: '9FCEB02D0AE598E95DC970B74767F19372D61AF8', branch: 'main' }, builder: { id: 'https://ci.example.org/#/builders/3', url: 'https://ci.example.org/#/builders/3/builds/42' }, properties: { worker: 'w1' } };
    const p = provenanceStatement({ ...base, meta }, hash).predicate as { buildDefinition: { externalParameters: Record<string, unknown>; resolvedDependencies: Array<Record<string, unknown>> }; runDetails: { builder: { id: string }; metadata: Record<string, unknown> } };
    expect(p.buildDefinition.externalParameters.source).to.deep.equal(meta.source);
    expect(p.buildDefinition.resolvedDependencies[0]).to.deep.equal({ uri: 'git+https://git.example.org/hello.git@main', digest: { gitCommit: '9fceb02d0ae598e95dc970b74767f19372d61af8' }, annotations: { source: 'source' } });
    expect(p.runDetails.builder.id).to.equal('https://ci.example.org/#/builders/3');
    expect(p.runDetails.metadata.invocationId).to.equal('https://ci.example.org/#/builders/3/builds/42');
    // A revision that is not a commit is said, not passed off as a digest; no builder: the repository.
    const tag = provenanceStatement({ ...base, meta: { source: { uri: 'git@git.example.org:hello.git', revision: 'v1.2' } } }, hash).predicate as typeof p;
    expect(tag.buildDefinition.resolvedDependencies[0]).to.deep.equal({ uri: 'git+git@git.example.org:hello.git', annotations: { source: 'source', revision: 'v1.2' } });
    expect(tag.runDetails.builder.id).to.equal('https://artifacts.example.org/');
    expect(tag.runDetails.metadata).to.not.have.property('invocationId');
    const none = provenanceStatement(base, hash).predicate as typeof p;
    expect(none.buildDefinition.resolvedDependencies).to.deep.equal([]);
    expect(none.buildDefinition.externalParameters).to.not.have.property('source');
  });

  it('the signed line made in the thread pool is the envelope dsseSign makes', async () => {
    // Longer than one slice of base64 (3 MiB), and not a multiple of 3 bytes.
    for (const payload of [Buffer.from('{"a":"ünïcode"}'), Buffer.alloc(7 * 1024 * 1024 + 1, 'x')]) {
      expect((await dsseSignedLine('application/vnd.in-toto+json', payload, key)).toString()).to.equal(JSON.stringify(dsseSign('application/vnd.in-toto+json', payload, key)));
    }
  });
});
