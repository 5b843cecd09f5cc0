import { expect } from 'chai';
import { findUser } from '../../server/privileges.js';

const PASSWD = ['root:x:0:0:root:/root:/bin/bash', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin', 'broken:x:abc:1::/:', 'node:x:1000:1000::/home/node:/bin/bash', ''].join('\n');

describe('server/privileges findUser', () => {
  it('finds a user by name, with its uid and primary group', () => {
    expect(findUser(PASSWD, 'node')).to.deep.equal({ name: 'node', uid: 1000, gid: 1000 });
  });

  it('finds a user by numeric uid', () => {
    expect(findUser(PASSWD, '65534')).to.deep.equal({ name: 'nobody', uid: 65534, gid: 65534 });
  });

  it('knows nothing of a missing name, a missing uid, or a malformed line', () => {
    expect(findUser(PASSWD, 'ghost')).to.equal(null);
    expect(findUser(PASSWD, '4242')).to.equal(null);
    expect(findUser(PASSWD, 'broken')).to.equal(null);
  });

  it('matches whole names only', () => {
    expect(findUser(PASSWD, 'nod')).to.equal(null);
    expect(findUser(PASSWD, 'root:x')).to.equal(null);
  });
});
