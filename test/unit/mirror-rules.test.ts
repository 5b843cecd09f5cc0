import { expect } from 'chai';
import { blobUrl, imageRefString, manifestReferences, manifestUrl, parseBearerChallenge, parseImageRef } from '../../server/domain/image-ref.js';
import { fileNameOf, parseDeclaration, retryDelayMs } from '../../server/services/mirror.js';
import { contentDisposition } from '../../server/api/mirror-download.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('domain/image-ref', () => {
  it('reads references by digest, with Docker Hub names filled in', () => {
    expect(parseImageRef(`registry.example.org/library/alpine@${D}`)).to.deep.equal({ registry: 'registry.example.org', name: 'library/alpine', digest: D });
    expect(parseImageRef(`alpine@${D}`)).to.deep.equal({ registry: 'registry-1.docker.io', name: 'library/alpine', digest: D });
    expect(parseImageRef(`docker.io/grafana/grafana@${D}`)).to.deep.equal({ registry: 'registry-1.docker.io', name: 'grafana/grafana', digest: D });
    expect(parseImageRef(`127.0.0.2:5000/demo/app:1.0@${D}`)).to.deep.equal({ registry: '127.0.0.2:5000', name: 'demo/app', digest: D });
    expect(parseImageRef(`localhost/app@${D}`)).to.deep.include({ registry: 'localhost', name: 'app' });
  });

  it('refuses tags, other digests and malformed names, saying which', () => {
    expect(parseImageRef('registry.example.org/alpine:3.19')).to.deep.equal({ error: 'image must be named by digest (name@sha256:…): a tag can move, a digest cannot' });
    expect(parseImageRef('alpine')).to.have.property('error').that.matches(/by digest/);
    expect(parseImageRef(`alpine@sha512:${'a'.repeat(128)}`)).to.have.property('error').that.matches(/sha256/);
    expect(parseImageRef(`alpine@sha256:${'A'.repeat(64)}`)).to.have.property('error').that.matches(/lower-case hex/);
    expect(parseImageRef(`registry.example.org/Alpine@${D}`)).to.have.property('error').that.matches(/lower-case/);
    expect(parseImageRef(`registry.example.org/../etc@${D}`)).to.have.property('error');
    expect(parseImageRef(`bad_host.example/app@${D}`)).to.have.property('error');
  });

  it('builds the API URLs and the listing name', () => {
    const ref = { registry: 'r.example:5000', name: 'demo/app', digest: D };
    expect(manifestUrl(ref, D)).to.equal(`https://r.example:5000/v2/demo/app/manifests/${D}`);
    expect(blobUrl(ref, D)).to.equal(`https://r.example:5000/v2/demo/app/blobs/${D}`);
    expect(imageRefString(ref)).to.equal(`r.example:5000/demo/app@${D}`);
  });

  it('reads Bearer challenges, quoted or not, and nothing else', () => {
    expect(parseBearerChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).to.deep.equal({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });
    expect(parseBearerChallenge('bearer realm=https://a.example/t, service=x')).to.deep.equal({ realm: 'https://a.example/t', service: 'x', scope: null });
    expect(parseBearerChallenge('Basic realm="registry"')).to.equal(null);
    expect(parseBearerChallenge('Bearer service="x"')).to.equal(null);
    expect(parseBearerChallenge(undefined)).to.equal(null);
  });

  it('finds what an index and a manifest refer to, and refuses what is neither', () => {
    const m = (n: number): { digest: string } => ({ digest: `sha256:${String(n).repeat(64)}` });
    expect(manifestReferences({ manifests: [m(1), m(2)] })).to.deep.equal({ manifests: [m(1).digest, m(2).digest], blobs: [] });
    expect(manifestReferences({ config: m(3), layers: [m(4), m(5)] })).to.deep.equal({ manifests: [], blobs: [m(3).digest, m(4).digest, m(5).digest] });
    expect(manifestReferences({ manifests: [{ digest: 'md5:x' }] })).to.have.property('error');
    expect(manifestReferences({ config: { digest: 'nope' }, layers: [] })).to.have.property('error');
    expect(manifestReferences({ schemaVersion: 1, fsLayers: [] })).to.have.property('error').that.matches(/schema 1/);
    expect(manifestReferences('text')).to.have.property('error');
  });
});

describe('server/services/mirror', () => {
  it('reads a file declaration: canonical URL, checksum lower-cased, note', () => {
    expect(parseDeclaration({ url: 'https://Example.org:443/a/b.tar.gz#frag', sha256: 'AB'.repeat(32), note: 'compiler' })).to.deep.equal({
      kind: 'file',
      url: 'https://example.org/a/b.tar.gz',
      sha256: 'ab'.repeat(32),
      note: 'compiler',
    });
    expect(parseDeclaration({ url: 'http://example.org/x' })).to.deep.equal({ kind: 'file', url: 'http://example.org/x', sha256: null, note: '' });
  });

  it('refuses bad declarations, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /JSON object/],
      [[], /JSON object/],
      [{}, /url must be/],
      [{ url: 'file:///etc/passwd' }, /url must be/],
      [{ url: 'https://u:p@example.org/x' }, /credentials/],
      [{ url: 'https://example.org/x', sha256: 'xyz' }, /sha256 must be 64 hex/],
      [{ url: 'https://example.org/x', sha256: 5 }, /sha256/],
      [{ url: 'https://example.org/x', note: 'n'.repeat(1001) }, /note/],
      [{ url: 'https://example.org/x', note: 3 }, /note/],
      [{ url: 'https://example.org/x', image: `a@${D}` }, /not both/],
      [{ image: 5 }, /image must be a string/],
      [{ image: `alpine@${D}`, sha256: 'a'.repeat(64) }, /sha256 is for files/],
      [{ image: 'alpine:latest' }, /by digest/],
    ];
    for (const [body, message] of cases) expect(parseDeclaration(body), JSON.stringify(body)).to.have.property('error').that.matches(message);
  });

  it('backs off from a minute, doubling, to at most six hours', () => {
    expect(retryDelayMs(1)).to.equal(60_000);
    expect(retryDelayMs(2)).to.equal(120_000);
    expect(retryDelayMs(5)).to.equal(16 * 60_000);
    expect(retryDelayMs(9)).to.equal(256 * 60_000);
    expect(retryDelayMs(10)).to.equal(6 * 3600_000);
    expect(retryDelayMs(1000)).to.equal(6 * 3600_000);
  });

  it('names a download as its URL does, never with a path in it', () => {
    expect(fileNameOf('https://example.org/dist/hello-1.0.tar.gz?x=1')).to.equal('hello-1.0.tar.gz');
    expect(fileNameOf('https://example.org/caf%C3%A9.txt')).to.equal('café.txt');
    expect(fileNameOf('https://example.org/')).to.equal('download');
    expect(fileNameOf('https://example.org/a%2F..%2Fb')).to.equal('download');
    expect(fileNameOf('https://example.org/%E0%A4%A')).to.equal('download');
  });

  it('says the name in Content-Disposition, with the UTF-8 form when it is not plain ASCII', () => {
    expect(contentDisposition('hello.txt')).to.equal('attachment; filename="hello.txt"');
    expect(contentDisposition('café.txt')).to.equal(`attachment; filename="caf_.txt"; filename*=UTF-8''caf%C3%A9.txt`);
    expect(contentDisposition('a"b.txt')).to.equal(`attachment; filename="a_b.txt"; filename*=UTF-8''a%22b.txt`);
  });
});
