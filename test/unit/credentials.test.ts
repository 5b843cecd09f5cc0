import { expect } from 'chai';
import { parseBasicAuth } from '../../token-service/credentials.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('token-service/credentials parseBasicAuth', () => {
  it('reads user and password from a valid Basic header', () => {
    expect(parseBasicAuth(`Basic ${b64('tok_abc:s3cret')}`)).to.deep.equal({ username: 'tok_abc', password: 's3cret' });
  });

  it('accepts the scheme name in any case', () => {
    const expected = { username: 'u', password: 'p' };
    expect(parseBasicAuth(`basic ${b64('u:p')}`)).to.deep.equal(expected);
    expect(parseBasicAuth(`BASIC ${b64('u:p')}`)).to.deep.equal(expected);
    expect(parseBasicAuth(`bAsIc ${b64('u:p')}`)).to.deep.equal(expected);
  });

  it('tolerates several spaces or a tab after the scheme and trailing whitespace', () => {
    expect(parseBasicAuth(`Basic   ${b64('u:p')}`)).to.deep.equal({ username: 'u', password: 'p' });
    expect(parseBasicAuth(`Basic\t${b64('u:p')} `)).to.deep.equal({ username: 'u', password: 'p' });
  });

  it('splits at the first colon: the password may contain colons', () => {
    expect(parseBasicAuth(`Basic ${b64('user:pa:ss:word:')}`)).to.deep.equal({ username: 'user', password: 'pa:ss:word:' });
  });

  it('decodes UTF-8 user names and passwords', () => {
    expect(parseBasicAuth(`Basic ${b64('jösé:pässwörd✓')}`)).to.deep.equal({ username: 'jösé', password: 'pässwörd✓' });
  });

  it('accepts base64 with one or two padding characters', () => {
    expect(parseBasicAuth(`Basic ${b64('ab:c')}`)).to.deep.equal({ username: 'ab', password: 'c' }); // "YWI6Yw=="
    expect(parseBasicAuth(`Basic ${b64('ab:cd')}`)).to.deep.equal({ username: 'ab', password: 'cd' }); // "YWI6Y2Q="
    expect(b64('ab:c').endsWith('==')).to.equal(true);
    expect(b64('ab:cd').endsWith('=')).to.equal(true);
  });

  it('refuses credentials without a colon', () => {
    expect(parseBasicAuth(`Basic ${b64('justauser')}`)).to.equal(null);
  });

  it('refuses an empty user name', () => {
    expect(parseBasicAuth(`Basic ${b64(':password')}`)).to.equal(null);
    expect(parseBasicAuth(`Basic ${b64(':')}`)).to.equal(null);
  });

  it('refuses garbage that is not base64', () => {
    expect(parseBasicAuth('Basic !!!not-base64!!!')).to.equal(null);
    expect(parseBasicAuth('Basic dXNlcjpw YXNz')).to.equal(null); // space inside
    expect(parseBasicAuth('Basic =dXNlcjpwYXNz')).to.equal(null); // padding first
    expect(parseBasicAuth('Basic dXNlcjpwYXNz===')).to.equal(null); // three padding characters
    expect(parseBasicAuth('Basic dXNl-cjpw_YXNz')).to.equal(null); // base64url alphabet
  });

  it('refuses a missing header, an empty header and a scheme without credentials', () => {
    expect(parseBasicAuth(undefined)).to.equal(null);
    expect(parseBasicAuth('')).to.equal(null);
    expect(parseBasicAuth('Basic')).to.equal(null);
    expect(parseBasicAuth('Basic ')).to.equal(null);
  });

  it('refuses the scheme run together with the credentials', () => {
    expect(parseBasicAuth(`Basic${b64('u:p')}`)).to.equal(null);
  });

  it('refuses other schemes, even with base64 "user:password" after them', () => {
    const creds = b64('u:p');
    expect(parseBasicAuth(`Bearer ${creds}`)).to.equal(null);
    expect(parseBasicAuth(`Digest ${creds}`)).to.equal(null);
    expect(parseBasicAuth(`Negotiate ${creds}`)).to.equal(null);
    expect(parseBasicAuth(`XBasic ${creds}`)).to.equal(null);
    expect(parseBasicAuth(`Basic2 ${creds}`)).to.equal(null);
    expect(parseBasicAuth(`Basic ${creds}, Bearer abc`)).to.equal(null);
  });

  it('accepts a long but reasonable password', () => {
    const password = 'x'.repeat(1000);
    expect(parseBasicAuth(`Basic ${b64(`u:${password}`)}`)).to.deep.equal({ username: 'u', password });
  });

  it('refuses oversized credentials', () => {
    const huge = b64(`u:${'x'.repeat(8000)}`);
    expect(huge.length).to.be.greaterThan(4096);
    expect(parseBasicAuth(`Basic ${huge}`)).to.equal(null);
  });
});
