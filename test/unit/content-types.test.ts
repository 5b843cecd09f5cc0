import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/harness.js';
import { contentTypeOf, nginxTypesConfig } from '../../server/http/content-types.js';

describe('http/content-types', () => {
  it('names the type of a file by its extension; checksum lists are text; unknown is octet-stream', () => {
    expect(contentTypeOf('hello_1.0_amd64.deb')).to.equal('application/x-debian-package');
    expect(contentTypeOf('build.log.txt')).to.equal('text/plain; charset=utf-8');
    expect(contentTypeOf('data.json')).to.equal('application/json; charset=utf-8');
    expect(contentTypeOf('SHA256SUMS')).to.equal('text/plain; charset=utf-8');
    expect(contentTypeOf('SHA256SUMS.sig')).to.equal('text/plain; charset=utf-8');
    expect(contentTypeOf('hello.sig')).to.equal('application/pgp-signature');
    expect(contentTypeOf('README')).to.equal('application/octet-stream');
  });

  it('nginx/mime.types is what `npm run nginx-types` generates from the same table (run it after a mime-db update)', async () => {
    expect(await readFile(path.join(REPO_ROOT, 'nginx/mime.types'), 'utf8')).to.equal(nginxTypesConfig());
  });

  it('the nginx table gives each extension the type the app gives it, and text types their charset', () => {
    const config = nginxTypesConfig();
    const typeOf = new Map<string, string>();
    for (const line of config.split('\n')) {
      const m = /^ {4}(\S+) (.+);$/.exec(line);
      if (m) for (const ext of (m[2] as string).split(' ')) typeOf.set(ext, m[1] as string);
    }
    expect(typeOf.size).to.be.greaterThan(1000);
    const charsetTypes = new Set((/^charset_types (.+);$/m.exec(config)?.[1] ?? '').split(' '));
    for (const [ext, type] of typeOf) {
      const app = contentTypeOf(`file.${ext}`);
      expect(charsetTypes.has(type) ? `${type}; charset=utf-8` : type, ext).to.equal(app);
    }
  });
});
