import { expect } from 'chai';
import { auditPath, treeEvent, type WriteOutcome } from '../../server/webdav/tree-events.js';

const base: WriteOutcome = {
  method: 'PUT',
  status: 201,
  target: ['dpkg', 'hello', '42', 'a b.deb'],
  targetIsCollection: false,
  destination: null,
  token: 'tok',
  build: '/dpkg/hello/42/',
  stored: { size: 3, sha256: 'f'.repeat(64) },
};

describe('treeEvent: what a write tells the audit trail', () => {
  it('a stored PUT is file.written with its decoded path, size and checksum', () => {
    expect(treeEvent(base)).to.deep.equal({ event: 'file.written', build: '/dpkg/hello/42/', path: '/dpkg/hello/42/a b.deb', size: 3, sha256: 'f'.repeat(64), token: 'tok' });
    expect(treeEvent({ ...base, status: 204 })?.event).to.equal('file.written');
  });
  it('a refused or failed request is nothing', () => {
    for (const status of [400, 401, 403, 409, 412, 507, 500, 304]) expect(treeEvent({ ...base, status }), String(status)).to.equal(null);
  });
  it('a PUT that stored nothing is nothing', () => {
    expect(treeEvent({ ...base, stored: undefined })).to.equal(null);
  });
  it('DELETE, MKCOL and PROPPATCH name their target', () => {
    expect(treeEvent({ ...base, method: 'DELETE', status: 204 })).to.include({ event: 'resource.deleted', path: '/dpkg/hello/42/a b.deb' });
    expect(treeEvent({ ...base, method: 'MKCOL', target: ['dpkg', 'hello', '42', 'docs'], targetIsCollection: true })).to.include({ event: 'collection.created', path: '/dpkg/hello/42/docs/' });
    expect(treeEvent({ ...base, method: 'PROPPATCH', status: 207 })).to.include({ event: 'properties.changed' });
  });
  it('COPY and MOVE name both ends', () => {
    const copy = treeEvent({ ...base, method: 'COPY', destination: ['dpkg', 'hello', '42', 'c.deb'] });
    expect(copy).to.include({ event: 'resource.copied', from: '/dpkg/hello/42/a b.deb', path: '/dpkg/hello/42/c.deb' });
    expect(treeEvent({ ...base, method: 'MOVE', status: 204, destination: ['dpkg', 'hello', '42', 'c.deb'] })).to.include({ event: 'resource.moved' });
    expect(treeEvent({ ...base, method: 'COPY', destination: null })).to.equal(null);
  });
  it('only a LOCK that created its file is a write; UNLOCK never is', () => {
    expect(treeEvent({ ...base, method: 'LOCK', status: 201, stored: undefined })).to.include({ event: 'file.written', size: 0 });
    expect(treeEvent({ ...base, method: 'LOCK', status: 200 })).to.equal(null);
    expect(treeEvent({ ...base, method: 'UNLOCK', status: 204 })).to.equal(null);
  });
  it('auditPath: decoded, collections with their slash, the root as /', () => {
    expect(auditPath([], true)).to.equal('/');
    expect(auditPath(['a', 'b c'], true)).to.equal('/a/b c/');
    expect(auditPath(['a', '%2F'], false)).to.equal('/a/%2F');
  });
});
