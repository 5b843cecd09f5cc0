import { expect } from 'chai';
import { SealedIndex } from '../../server/storage/sealed-index.js';
import type { SealedBuildEntry } from '../../server/domain/stores.js';

const entry = (scope: string, second: number, revision: string | null = null, branch: string | null = null): SealedBuildEntry => ({
  build: scope.split('/'),
  sealedAt: `2026-12-01T00:00:${String(second).padStart(2, '0')}.000Z`,
  files: 1,
  bytes: 1,
  signed: true,
  branch,
  revision,
});
const names = (list: SealedBuildEntry[]): string[] => list.map((e) => e.build.join('/'));

describe('storage/sealed-index', () => {
  it('answers per project, by revision (exact or prefix) and by cursor, newest first, and follows changes', () => {
    const index = new SealedIndex([entry('t/a/1', 1, 'abcdef01', 'main'), entry('t/b/1', 2), entry('t/a/2', 3, 'abcdef02', 'dev'), entry('t/a/3', 3, 'ffffffff', 'main')]);
    expect(names(index.query({ limit: 10 }))).to.deep.equal(['t/a/3', 't/a/2', 't/b/1', 't/a/1']);
    expect(names(index.query({ type: 't', project: 'a', limit: 10 }))).to.deep.equal(['t/a/3', 't/a/2', 't/a/1']);
    expect(names(index.query({ type: 't', project: 'a', branch: 'main', limit: 1 }))).to.deep.equal(['t/a/3']);
    expect(names(index.query({ revision: 'abcdef0', limit: 10 }))).to.deep.equal(['t/a/2', 't/a/1']);
    expect(names(index.query({ revision: 'abcdef', limit: 10 }))).to.deep.equal([]);
    expect(names(index.query({ revision: 'abcdef01', limit: 10 }))).to.deep.equal(['t/a/1']);
    expect(names(index.query({ type: 't', project: 'a', limit: 10, before: { sealedAt: '2026-12-01T00:00:03.000Z', scope: 't/a/2' } }))).to.deep.equal(['t/a/1']);
    index.set(['t', 'a', '3'], null);
    index.set(['t', 'a', '1'], entry('t/a/1', 9, 'abcdef01'));
    expect(names(index.query({ limit: 10 }))).to.deep.equal(['t/a/1', 't/a/2', 't/b/1']);
    expect(names(index.query({ revision: 'ffffffff', limit: 10 }))).to.deep.equal([]);
    expect(names(index.query({ revision: 'abcdef0', limit: 10 }))).to.deep.equal(['t/a/1', 't/a/2']);
    expect(index.size).to.equal(3);
  });
});
