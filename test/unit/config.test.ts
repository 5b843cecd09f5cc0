import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bucketLocation, ConfigError, loadConfig } from '../../server/config/config.js';

const CWD = path.resolve('/srv/artifact-repo');
const GOOD_PASSWORD = 'correct-horse-battery-staple';

type Env = Record<string, string | undefined>;

/** The ConfigError that loadConfig throws for `env`; fails the test if it loads. */
function configError(env: Env): ConfigError {
  let caught: unknown = null;
  try {
    loadConfig(env, CWD);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${JSON.stringify(env)} to be refused`).to.be.instanceOf(ConfigError);
  return caught as ConfigError;
}

function expectRefusalNaming(env: Env, variable: string): void {
  expect(configError(env).message).to.include(variable);
}

describe('server/config loadConfig', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'config-test-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const passwordFile = (contents: string): string => {
    const file = path.join(dir, 'master-password');
    writeFileSync(file, contents);
    return file;
  };

  describe('defaults (docs/operations.md)', () => {
    it('listens on 127.0.0.1:8080', () => {
      const config = loadConfig({}, CWD);
      expect(config.port).to.equal(8080);
      expect(config.host).to.equal('127.0.0.1');
    });

    it('keeps artifacts and tokens under ./data, resolved against the working directory', () => {
      const config = loadConfig({}, CWD);
      expect(config.artifactsDir).to.equal(path.join(CWD, 'data', 'artifacts'));
      expect(config.tokensDir).to.equal(path.join(CWD, 'data', 'tokens'));
    });

    it('places artifacts and tokens under DATA_DIR when it is set', () => {
      const relative = loadConfig({ DATA_DIR: 'var/repo' }, CWD);
      expect(relative.artifactsDir).to.equal(path.join(CWD, 'var', 'repo', 'artifacts'));
      expect(relative.tokensDir).to.equal(path.join(CWD, 'var', 'repo', 'tokens'));
      const absolute = loadConfig({ DATA_DIR: '/data/repo' }, CWD);
      expect(absolute.artifactsDir).to.equal(path.resolve('/data/repo/artifacts'));
      expect(absolute.tokensDir).to.equal(path.resolve('/data/repo/tokens'));
    });

    it('treats empty variables as unset', () => {
      const config = loadConfig({ PORT: '', HOST: '', DATA_DIR: '', MASTER_PASSWORD: '' }, CWD);
      expect(config.port).to.equal(8080);
      expect(config.host).to.equal('127.0.0.1');
      expect(config.artifactsDir).to.equal(path.join(CWD, 'data', 'artifacts'));
      expect(config.masterPassword).to.equal(null);
    });

    it('has no master password, public URL or trusted proxies unless configured', () => {
      const config = loadConfig({}, CWD);
      expect(config.masterPassword).to.equal(null);
      expect(config.publicUrl).to.equal(null);
      expect(config.trustedProxies).to.deep.equal([]);
    });

    it('does not read process.env when an env is given', () => {
      const saved = process.env.PORT;
      process.env.PORT = '9999';
      try {
        expect(loadConfig({}, CWD).port).to.equal(8080);
      } finally {
        if (saved === undefined) delete process.env.PORT;
        else process.env.PORT = saved;
      }
    });
  });

  describe('accepted values', () => {
    it('takes PORT, HOST, TOKEN_TTL_MAX, MASTER_USER and MASTER_PASSWORD', () => {
      const config = loadConfig(
        { PORT: '9000', HOST: '::1', TOKEN_TTL_MAX: '7200', MASTER_USER: 'ci_bot-2', MASTER_PASSWORD: GOOD_PASSWORD },
        CWD,
      );
      expect(config.port).to.equal(9000);
      expect(config.host).to.equal('::1');
      expect(config.tokenTtlMaxSeconds).to.equal(7200);
      expect(config.tokenTtlDefaultSeconds).to.be.at.most(7200);
      expect(config.masterUser).to.equal('ci_bot-2');
      expect(config.masterPassword).to.equal(GOOD_PASSWORD);
    });

    it('accepts PORT at its bounds, 0 and 65535', () => {
      expect(loadConfig({ PORT: '0' }, CWD).port).to.equal(0);
      expect(loadConfig({ PORT: '65535' }, CWD).port).to.equal(65535);
    });

    it('ends PUBLIC_URL with a slash', () => {
      expect(loadConfig({ PUBLIC_URL: 'https://repo.example.com/artifacts' }, CWD).publicUrl?.href).to.equal('https://repo.example.com/artifacts/');
    });

    it('reads a comma-separated list of TRUSTED_PROXIES', () => {
      expect(loadConfig({ TRUSTED_PROXIES: '127.0.0.1, ::1 ,10.0.0.5' }, CWD).trustedProxies).to.deep.equal(['127.0.0.1', '::1', '10.0.0.5']);
    });

    it("expands express's names in TRUSTED_PROXIES: loopback, linklocal, uniquelocal", () => {
      expect(loadConfig({ TRUSTED_PROXIES: 'uniquelocal' }, CWD).trustedProxies).to.deep.equal(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
      expect(loadConfig({ TRUSTED_PROXIES: '10.1.2.3,Loopback' }, CWD).trustedProxies).to.deep.equal(['10.1.2.3', '127.0.0.0/8', '::1/128']);
      expect(loadConfig({ TRUSTED_PROXIES: 'linklocal' }, CWD).trustedProxies).to.deep.equal(['169.254.0.0/16', 'fe80::/10']);
    });

    it('resolves LISTEN_SOCKET against the working directory; none by default', () => {
      expect(loadConfig({}, CWD).listenSocket).to.equal(null);
      expect(loadConfig({ LISTEN_SOCKET: 'run/app.sock' }, CWD).listenSocket).to.equal(path.join(CWD, 'run', 'app.sock'));
    });

    it('takes RUN_AS_USER as a name or a uid; none by default', () => {
      expect(loadConfig({}, CWD).runAsUser).to.equal(null);
      expect(loadConfig({ RUN_AS_USER: 'node' }, CWD).runAsUser).to.equal('node');
      expect(loadConfig({ RUN_AS_USER: '1000' }, CWD).runAsUser).to.equal('1000');
    });

    it('accepts TOKENS_DIR beside ARTIFACTS_DIR even when its name starts the same', () => {
      const config = loadConfig({ ARTIFACTS_DIR: '/srv/art', TOKENS_DIR: '/srv/art-tokens' }, CWD);
      expect(config.tokensDir).to.equal(path.resolve('/srv/art-tokens'));
    });
  });

  describe('refused values name the variable', () => {
    it('DATABASE_URL that is not postgres://, and never echoes its password', () => {
      for (const value of ['mysql://u:s3cret-pw@db/x', 'not a url s3cret-pw', 'postgres:///nohost?password=s3cret-pw']) {
        const message = configError({ DATABASE_URL: value }).message;
        expect(message, value).to.include('DATABASE_URL');
        expect(message, value).to.not.include('s3cret-pw');
      }
      expect(loadConfig({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/artifacts' }, CWD).databaseUrl).to.equal('postgres://u:p@127.0.0.1:5432/artifacts');
      expect(loadConfig({}, CWD).databaseUrl).to.equal(null);
    });
    it('DATABASE_URL_FILE: read from the file (one trailing newline dropped), refused beside DATABASE_URL, named when unreadable', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'config-db-'));
      try {
        const file = path.join(dir, 'database_url');
        writeFileSync(file, 'postgres://u:s3cret-pw@db:5432/artifacts\n');
        expect(loadConfig({ DATABASE_URL_FILE: file }, CWD).databaseUrl).to.equal('postgres://u:s3cret-pw@db:5432/artifacts');
        expect(configError({ DATABASE_URL_FILE: file, DATABASE_URL: 'postgres://x@y/z' }).message).to.equal('set DATABASE_URL or DATABASE_URL_FILE, not both');
        writeFileSync(file, 'mysql://u:s3cret-pw@db/x\n');
        const message = configError({ DATABASE_URL_FILE: file }).message;
        expect(message).to.include('DATABASE_URL_FILE').and.not.include('s3cret-pw');
        expect(configError({ DATABASE_URL_FILE: path.join(dir, 'missing') }).message).to.match(/^DATABASE_URL_FILE cannot be read \(ENOENT\)/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('what builds can make it keep: limits with defaults, sizes with binary units, and a clear refusal', () => {
      const defaults = loadConfig({}, CWD);
      expect(defaults.inputs).to.deep.equal({ maxLines: 50_000, maxBytes: 32 * 1024 ** 2, maxUrlLength: 8192 });
      expect(defaults.proxyMaxTunnels).to.equal(128);
      expect(defaults.mirrorMaxEntryBytes).to.equal(32 * 1024 ** 3);
      const set = loadConfig({ INPUTS_MAX_LINES: '100', INPUTS_MAX_RECORD_SIZE: '64k', INPUTS_MAX_URL: '2048', PROXY_MAX_TUNNELS: '4', MIRROR_MAX_ENTRY_SIZE: '2G' }, CWD);
      expect(set.inputs).to.deep.equal({ maxLines: 100, maxBytes: 65536, maxUrlLength: 2048 });
      expect(set.proxyMaxTunnels).to.equal(4);
      expect(set.mirrorMaxEntryBytes).to.equal(2 * 1024 ** 3);
      expect(loadConfig({ MIRROR_MAX_ENTRY_SIZE: '1t' }, CWD).mirrorMaxEntryBytes).to.equal(1024 ** 4);
      expect(loadConfig({ INPUTS_MAX_RECORD_SIZE: '1048576' }, CWD).inputs.maxBytes).to.equal(1048576);
      expect(configError({ INPUTS_MAX_RECORD_SIZE: '12 MB' }).message).to.equal('INPUTS_MAX_RECORD_SIZE must be a size in bytes, optionally with k, M, G or T (as 512, 64k, 32M, 20G), got "12 MB"');
      // Below one line of the longest kind, a recording could hold nothing.
      expect(configError({ INPUTS_MAX_RECORD_SIZE: '1k' }).message).to.equal('INPUTS_MAX_RECORD_SIZE must be between 65536 and 4294967296 bytes, got 1024');
      expectRefusalNaming({ INPUTS_MAX_LINES: '0' }, 'INPUTS_MAX_LINES');
      expectRefusalNaming({ INPUTS_MAX_URL: '100000' }, 'INPUTS_MAX_URL');
      expectRefusalNaming({ PROXY_MAX_TUNNELS: '-1' }, 'PROXY_MAX_TUNNELS');
      expectRefusalNaming({ MIRROR_MAX_ENTRY_SIZE: '5x' }, 'MIRROR_MAX_ENTRY_SIZE');
    });
    it('PORT=abc', () => expectRefusalNaming({ PORT: 'abc' }, 'PORT'));
    it('PORT=70000', () => expectRefusalNaming({ PORT: '70000' }, 'PORT'));
    it('PORT=-1, PORT=80.5 and PORT=" 80"', () => {
      expectRefusalNaming({ PORT: '-1' }, 'PORT');
      expectRefusalNaming({ PORT: '80.5' }, 'PORT');
      expectRefusalNaming({ PORT: ' 80' }, 'PORT');
    });
    it('HOST=not-an-ip', () => expectRefusalNaming({ HOST: 'not-an-ip' }, 'HOST'));
    it('TOKEN_TTL_MAX=0', () => expectRefusalNaming({ TOKEN_TTL_MAX: '0' }, 'TOKEN_TTL_MAX'));
    it('TOKEN_TTL_DEFAULT above TOKEN_TTL_MAX', () => expectRefusalNaming({ TOKEN_TTL_MAX: '3600', TOKEN_TTL_DEFAULT: '7200' }, 'TOKEN_TTL_DEFAULT'));
    it('MASTER_USER with a space', () => expectRefusalNaming({ MASTER_USER: 'build bot' }, 'MASTER_USER'));

    it('both MASTER_PASSWORD and MASTER_PASSWORD_FILE', () => {
      const message = configError({ MASTER_PASSWORD: GOOD_PASSWORD, MASTER_PASSWORD_FILE: passwordFile(GOOD_PASSWORD) }).message;
      expect(message).to.include('MASTER_PASSWORD_FILE');
      expect(message.replace(/MASTER_PASSWORD_FILE/g, '')).to.include('MASTER_PASSWORD');
    });

    it('MASTER_PASSWORD_FILE naming a missing file', () => {
      expectRefusalNaming({ MASTER_PASSWORD_FILE: path.join(dir, 'does-not-exist') }, 'MASTER_PASSWORD_FILE');
    });

    it('MASTER_PASSWORD_FILE naming an empty file', () => {
      expectRefusalNaming({ MASTER_PASSWORD_FILE: passwordFile('\n') }, 'MASTER_PASSWORD_FILE');
    });

    it('a MASTER_PASSWORD shorter than 12 characters', () => {
      expectRefusalNaming({ MASTER_PASSWORD: 'short-pw' }, 'MASTER_PASSWORD');
      expectRefusalNaming({ MASTER_PASSWORD: 'elevenchars' }, 'MASTER_PASSWORD');
    });

    it('a short password read from MASTER_PASSWORD_FILE', () => {
      expectRefusalNaming({ MASTER_PASSWORD_FILE: passwordFile('short-pw\n') }, 'MASTER_PASSWORD_FILE');
    });

    it('TOKENS_DIR inside ARTIFACTS_DIR', () => {
      const message = configError({ ARTIFACTS_DIR: '/srv/artifacts', TOKENS_DIR: '/srv/artifacts/tokens' }).message;
      expect(message).to.include('TOKENS_DIR');
    });

    it('TOKENS_DIR equal to ARTIFACTS_DIR, also when written differently', () => {
      expectRefusalNaming({ ARTIFACTS_DIR: '/srv/artifacts', TOKENS_DIR: '/srv/artifacts' }, 'TOKENS_DIR');
      expectRefusalNaming({ ARTIFACTS_DIR: '/srv/artifacts', TOKENS_DIR: '/srv/x/../artifacts/' }, 'TOKENS_DIR');
      expectRefusalNaming({ ARTIFACTS_DIR: 'store', TOKENS_DIR: path.join(CWD, 'store', 'deep', 'tokens') }, 'TOKENS_DIR');
    });

    it('TOKENS_DIR inside an ARTIFACTS_DIR of "/"', () => {
      expectRefusalNaming({ ARTIFACTS_DIR: '/', TOKENS_DIR: '/var/lib/tokens' }, 'TOKENS_DIR');
    });

    it('PUBLIC_URL that is not a URL', () => expectRefusalNaming({ PUBLIC_URL: 'repo.example.com' }, 'PUBLIC_URL'));
    it('PUBLIC_URL with a query', () => expectRefusalNaming({ PUBLIC_URL: 'https://repo.example.com/?x=1' }, 'PUBLIC_URL'));
    it('PUBLIC_URL with a fragment or credentials, or not http(s)', () => {
      expectRefusalNaming({ PUBLIC_URL: 'https://repo.example.com/#top' }, 'PUBLIC_URL');
      expectRefusalNaming({ PUBLIC_URL: 'https://user:pw@repo.example.com/' }, 'PUBLIC_URL');
      expectRefusalNaming({ PUBLIC_URL: 'ftp://repo.example.com/' }, 'PUBLIC_URL');
    });
    it('TRUSTED_PROXIES with a hostname', () => expectRefusalNaming({ TRUSTED_PROXIES: '127.0.0.1,nginx.local' }, 'TRUSTED_PROXIES'));
    it('LISTEN_SOCKET longer than a Unix socket path may be', () => expectRefusalNaming({ LISTEN_SOCKET: `/run/${'s'.repeat(100)}.sock` }, 'LISTEN_SOCKET'));
    it('RUN_AS_USER that is neither a name nor a uid', () => {
      expectRefusalNaming({ RUN_AS_USER: 'node;id' }, 'RUN_AS_USER');
      expectRefusalNaming({ RUN_AS_USER: '../root' }, 'RUN_AS_USER');
    });
  });

  describe('MASTER_PASSWORD_FILE', () => {
    it('strips one trailing newline', () => {
      expect(loadConfig({ MASTER_PASSWORD_FILE: passwordFile(`${GOOD_PASSWORD}\n`) }, CWD).masterPassword).to.equal(GOOD_PASSWORD);
    });

    it('strips one trailing CRLF', () => {
      expect(loadConfig({ MASTER_PASSWORD_FILE: passwordFile(`${GOOD_PASSWORD}\r\n`) }, CWD).masterPassword).to.equal(GOOD_PASSWORD);
    });

    it('strips only one of two trailing newlines', () => {
      expect(loadConfig({ MASTER_PASSWORD_FILE: passwordFile(`${GOOD_PASSWORD}\n\n`) }, CWD).masterPassword).to.equal(`${GOOD_PASSWORD}\n`);
    });

    it('keeps a password without a newline, and its inner and trailing spaces, unchanged', () => {
      expect(loadConfig({ MASTER_PASSWORD_FILE: passwordFile(GOOD_PASSWORD) }, CWD).masterPassword).to.equal(GOOD_PASSWORD);
      expect(loadConfig({ MASTER_PASSWORD_FILE: passwordFile(' a long pass phrase \n') }, CWD).masterPassword).to.equal(' a long pass phrase ');
    });
  });
});

describe('server/config bucketLocation (BLOB_STORE)', () => {
  const db = 'postgres://repo@127.0.0.1/repo';

  it('is null without BLOB_STORE: the bytes stay in ARTIFACTS_DIR', () => {
    expect(bucketLocation({}, db)).to.equal(null);
  });

  it('reads the bucket, the prefix, the endpoint, the region and path style', () => {
    expect(bucketLocation({ BLOB_STORE: 's3://artifacts/repo/main/', S3_ENDPOINT: 'http://127.0.0.1:8080/', S3_REGION: 'eu-west-1', S3_FORCE_PATH_STYLE: 'true' }, db)).to.deep.equal({
      bucket: 'artifacts',
      prefix: 'repo/main/',
      endpoint: 'http://127.0.0.1:8080',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(bucketLocation({ BLOB_STORE: 's3://artifacts', AWS_REGION: 'ap-south-1' }, db)).to.deep.equal({ bucket: 'artifacts', prefix: '', endpoint: null, region: 'ap-south-1', forcePathStyle: false });
  });

  it('needs DATABASE_URL: the tree lives in PostgreSQL', () => {
    expect(() => bucketLocation({ BLOB_STORE: 's3://artifacts' }, null)).to.throw(ConfigError, /needs DATABASE_URL/);
  });

  it('refuses what is not a bucket, a dotted prefix, and credentials in the endpoint', () => {
    expect(() => bucketLocation({ BLOB_STORE: 'artifacts' }, db)).to.throw(ConfigError, /s3:\/\/bucket/);
    expect(() => bucketLocation({ BLOB_STORE: 's3://Bad_Bucket' }, db)).to.throw(ConfigError, /not a valid bucket name/);
    expect(() => bucketLocation({ BLOB_STORE: 's3://artifacts/../other' }, db)).to.throw(ConfigError, /dot/);
    expect(() => bucketLocation({ BLOB_STORE: 's3://artifacts/a//b' }, db)).to.throw(ConfigError, /empty segment/);
    const err = (() => {
      try {
        bucketLocation({ BLOB_STORE: 's3://artifacts', S3_ENDPOINT: 'https://key:secret@s3.example.org' }, db);
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).to.match(/holds credentials/).and.not.include('secret');
  });

  it('refuses S3_ settings without BLOB_STORE (a half-made setup would write to the volume)', () => {
    expect(() => bucketLocation({ S3_ENDPOINT: 'http://127.0.0.1:9000' }, db)).to.throw(ConfigError, /S3_ENDPOINT is set but BLOB_STORE is not/);
  });
});
