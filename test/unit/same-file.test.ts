import { expect } from 'chai';
import { sameFile } from '../../server/storage/file-system.js';

describe('sameFile: whether kept bytes still are the file on disk', () => {
  const read = { ino: 42, size: 5, mtimeMs: 1_700_000_000_123.25, ctimeMs: 1_700_000_000_123.25 };

  it('is the same file while nothing about it changed', () => {
    expect(sameFile({ ...read }, read)).to.equal(true);
  });

  it('is not once any of inode, size, mtime or ctime differs', () => {
    expect(sameFile({ ...read, ino: 43 }, read), 'another inode (an upload renamed in, a copy)').to.equal(false);
    expect(sameFile({ ...read, size: 6 }, read), 'another size').to.equal(false);
    expect(sameFile({ ...read, mtimeMs: read.mtimeMs + 0.001 }, read), 'a microsecond later').to.equal(false);
    expect(sameFile({ ...read, ctimeMs: read.ctimeMs + 1000 }, read), 'written in place, mtime put back').to.equal(false);
  });
});
