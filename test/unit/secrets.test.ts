import { expect } from 'chai';
import { newTokenId, newTokenPassword } from '../../token-service/secrets.js';

describe('token-service/secrets', () => {
  it('token passwords: 32 characters of A-Za-z0-9_-, never starting with "-" (taken for an option by CLI clients)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const password = newTokenPassword();
      expect(password).to.match(/^[A-Za-z0-9][A-Za-z0-9_-]{31}$/);
      seen.add(password);
    }
    expect(seen.size).to.equal(5000);
    // Both kinds of character occur after the first: the alphabet is nanoid's whole one.
    const all = [...seen].map((p) => p.slice(1)).join('');
    expect(all).to.include('-').and.include('_');
  });

  it('token ids: 20 alphanumerics', () => {
    expect(newTokenId()).to.match(/^[A-Za-z0-9]{20}$/);
  });
});
