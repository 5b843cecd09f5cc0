import { expect } from 'chai';
import { storagePathProblem } from '../../server/domain/path-limits.js';

// What a path costs where it is kept: in the tree and under `.meta` (three bytes more per
// segment), against PATH_MAX; with replicas, also as a database key.
describe('domain/path-limits storagePathProblem', () => {
  const embedded = { rootBytes: '/srv/artifacts'.length, databaseKeys: false };
  const replicated = { ...embedded, databaseKeys: true };
  // Segments of 250 bytes (the longest a tree name may be).
  const deep = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i % 10).repeat(250));

  it('takes ordinary paths', () => {
    expect(storagePathProblem(embedded, ['dpkg', 'hello', '42', 'hello_1.0_amd64.deb'])).to.equal(null);
  });

  it('refuses a path whose mirror under .meta would pass 4095 bytes, saying by how much', () => {
    // 15 segments of 250 bytes: 15 * 253 + 14 + 6 + 2 = 3817 bytes; 16: 4070; 17: 4323.
    expect(storagePathProblem(embedded, deep(16))).to.equal(null);
    expect(storagePathProblem(embedded, deep(17))).to.equal("path too long for this repository's storage (by 228 bytes)");
  });

  it('counts what lies below a collection being copied or moved', () => {
    expect(storagePathProblem(embedded, deep(15))).to.equal(null);
    expect(storagePathProblem(embedded, deep(15), 250 * 2 + 2, 2)).to.match(/^path too long for this repository's storage \(by \d+ bytes\)$/);
  });

  it('with replicas, refuses a path longer than a database key may be, which alone is fine', () => {
    // 11 segments of 250 bytes: 11 * 251 = 2761 bytes of key, past 2600.
    expect(storagePathProblem(embedded, deep(11))).to.equal(null);
    expect(storagePathProblem(replicated, deep(10))).to.equal(null);
    expect(storagePathProblem(replicated, deep(11))).to.equal("path too long for this repository's database (by 161 bytes)");
  });

  it('counts bytes, not characters', () => {
    const wide = Array.from({ length: 17 }, () => 'é'.repeat(125));
    expect(storagePathProblem(embedded, wide)).to.match(/storage \(by 228 bytes\)/);
  });
});
