import { expect } from 'chai';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RepoEvent } from '../../server/domain/events.js';
import { Metrics, requestKind, type MetricsSources, type RequestSample } from '../../server/http/metrics.js';
import { metricValue } from '../helpers/metrics-text.js';


const P = 'artifact_repo_';

function sources(overrides: Partial<MetricsSources> = {}): MetricsSources {
  return { liveTokens: async () => 0, mirrorEntries: () => ({ pending: 0, ok: 0, failed: 0 }), leader: () => true, volumes: [], ...overrides };
}

function sample(overrides: Partial<RequestSample>): RequestSample {
  return { method: 'GET', path: '/dpkg/hello/42/a.deb', status: 200, bytesIn: 0, bytesOut: 0, seconds: 0.02, ...overrides };
}

const token = { token: 'tok1', build: '/dpkg/hello/42/' };
const usage = { first_used_at: null, last_used_at: null, uses: 0 };

describe('http/metrics', () => {
  describe('requestKind', () => {
    const cases: [string, string, number, 'upload' | 'download' | 'other'][] = [
      ['PUT', '/dpkg/hello/42/a.deb', 201, 'upload'],
      ['PUT', '/dpkg/hello/42/a.deb', 204, 'upload'],
      ['PUT', '/dpkg/hello/42/a.deb', 401, 'other'],
      ['PUT', '/dpkg/hello/42/a.deb', 507, 'other'],
      ['GET', '/dpkg/hello/42/a.deb', 200, 'download'],
      ['GET', '/dpkg/hello/42/a.deb', 206, 'download'],
      ['GET', '/dpkg/hello/42/a.deb', 304, 'download'],
      ['HEAD', '/dpkg/hello/42/a.deb', 200, 'download'],
      ['GET', '/dpkg/hello/42/a.deb?x=1', 200, 'download'],
      ['GET', '/dpkg/hello/42/a.deb', 404, 'other'],
      ['GET', '/dpkg/hello/42/a.deb', 416, 'other'],
      ['GET', '/dpkg/hello/42/', 200, 'other'],
      ['GET', '/dpkg/hello/42/?sort=name', 200, 'other'],
      ['GET', '/', 200, 'other'],
      ['GET', '/-/metrics', 200, 'other'],
      ['GET', '/-/describe/dpkg/hello/42/a.deb', 200, 'other'],
      ['GET', '/-', 200, 'other'],
      ['POST', '/-/tokens', 201, 'other'],
      ['DELETE', '/dpkg/hello/42/a.deb', 204, 'other'],
      ['PROPFIND', '/dpkg/hello/42/a.deb', 207, 'other'],
      ['MKCOL', '/dpkg/hello/42/sub/', 201, 'other'],
    ];
    for (const [method, p, status, kind] of cases) {
      it(`${method} ${p} ${status} is ${kind}`, () => {
        expect(requestKind(method, p, status)).to.equal(kind);
      });
    }
  });

  describe('requests', () => {
    it('an upload moves the request, byte and upload series only', async () => {
      const m = new Metrics(sources());
      m.observeRequest(sample({ method: 'PUT', status: 201, bytesIn: 1000, bytesOut: 120, seconds: 0.3 }));
      const text = await m.render();
      expect(metricValue(text, `${P}http_requests_total`, { method: 'PUT', status: '201' })).to.equal(1);
      expect(metricValue(text, `${P}http_requests_total`)).to.equal(1);
      expect(metricValue(text, `${P}http_received_bytes_total`)).to.equal(1000);
      expect(metricValue(text, `${P}http_sent_bytes_total`)).to.equal(120);
      expect(metricValue(text, `${P}upload_duration_seconds_count`)).to.equal(1);
      expect(metricValue(text, `${P}upload_duration_seconds_sum`)).to.equal(0.3);
      expect(metricValue(text, `${P}upload_duration_seconds_bucket`, { le: '0.25' })).to.equal(0);
      expect(metricValue(text, `${P}upload_duration_seconds_bucket`, { le: '0.5' })).to.equal(1);
      expect(metricValue(text, `${P}download_duration_seconds_count`)).to.equal(0);
    });

    it('a download moves the download histogram; a service request neither', async () => {
      const m = new Metrics(sources());
      m.observeRequest(sample({ bytesOut: 5000, seconds: 0.004 }));
      m.observeRequest(sample({ path: '/-/health', seconds: 0.001 }));
      const text = await m.render();
      expect(metricValue(text, `${P}http_requests_total`, { method: 'GET', status: '200' })).to.equal(2);
      expect(metricValue(text, `${P}http_sent_bytes_total`)).to.equal(5000);
      expect(metricValue(text, `${P}download_duration_seconds_count`)).to.equal(1);
      expect(metricValue(text, `${P}download_duration_seconds_bucket`, { le: '0.005' })).to.equal(1);
      expect(metricValue(text, `${P}download_duration_seconds_bucket`, { le: '600' })).to.equal(1);
      expect(metricValue(text, `${P}upload_duration_seconds_count`)).to.equal(0);
    });

    it('unknown methods are counted as OTHER', async () => {
      const m = new Metrics(sources());
      m.observeRequest(sample({ method: 'BREW', status: 405 }));
      m.observeRequest(sample({ method: 'get', status: 405 }));
      m.observeRequest(sample({ method: 'PROPPATCH', status: 207 }));
      const text = await m.render();
      expect(metricValue(text, `${P}http_requests_total`, { method: 'OTHER', status: '405' })).to.equal(2);
      expect(metricValue(text, `${P}http_requests_total`, { method: 'BREW' })).to.equal(undefined);
      expect(metricValue(text, `${P}http_requests_total`, { method: 'get' })).to.equal(undefined);
      expect(metricValue(text, `${P}http_requests_total`, { method: 'PROPPATCH', status: '207' })).to.equal(1);
    });

    it('a nonsensical sample neither throws nor poisons a series', async () => {
      const m = new Metrics(sources());
      expect(() => m.observeRequest(sample({ method: 'PUT', status: 201, bytesIn: Number.NaN, bytesOut: -1, seconds: Number.NaN }))).to.not.throw();
      const text = await m.render();
      expect(metricValue(text, `${P}http_received_bytes_total`)).to.equal(0);
      expect(metricValue(text, `${P}http_sent_bytes_total`)).to.equal(0);
      expect(metricValue(text, `${P}upload_duration_seconds_count`)).to.equal(1);
    });
  });

  describe('events', () => {
    it('the fixed-label counters are present at zero before any event', async () => {
      const text = await new Metrics(sources()).render();
      for (const how of ['revoked', 'expired']) expect(metricValue(text, `${P}tokens_ended_total`, { how })).to.equal(0);
      for (const kind of ['master', 'token'])
        for (const throttled of ['true', 'false']) expect(metricValue(text, `${P}auth_failures_total`, { kind, throttled })).to.equal(0);
      expect(metricValue(text, `${P}tokens_minted_total`)).to.equal(0);
      expect(metricValue(text, `${P}files_written_total`)).to.equal(0);
    });

    it('each event moves its own series', async () => {
      const m = new Metrics(sources());
      const events: RepoEvent[] = [
        { event: 'token.minted', ...token, by: 'master:buildbot', ttl_seconds: 3600, expires_at: '2030-01-01T00:00:00Z', proxy: 'record', replay: null },
        { event: 'token.minted', ...token, by: 'master:buildbot', ttl_seconds: 3600, expires_at: '2030-01-01T00:00:00Z', proxy: 'record', replay: null },
        { event: 'token.first_use', ...token },
        { event: 'token.revoked', ...token, by: 'token:tok1', ...usage },
        { event: 'token.expired', ...token, ...usage },
        { event: 'token.expired', ...token, ...usage },
        { event: 'auth.failed', kind: 'master', throttled: false },
        { event: 'auth.failed', kind: 'master', throttled: true },
        { event: 'auth.failed', kind: 'token', throttled: false },
        { event: 'auth.failed', kind: 'token', throttled: false },
        { event: 'file.written', build: token.build, path: '/dpkg/hello/42/a', size: 100, sha256: '0'.repeat(64), token: 'tok1' },
        { event: 'file.written', build: token.build, path: '/dpkg/hello/42/b', size: 23, sha256: '0'.repeat(64), token: 'tok1' },
        { event: 'resource.deleted', build: token.build, path: '/dpkg/hello/42/b', token: 'tok1' },
        { event: 'build.sealed', build: token.build, files: 1, bytes: 100 },
        { event: 'build.pinned', build: token.build, by: 'master:buildbot' },
        { event: 'build.deleted', build: token.build, by: 'master:buildbot', files: 1, bytes: 100, reason: 'retention' },
      ];
      for (const e of events) m.observe(e);
      const text = await m.render();
      expect(metricValue(text, `${P}tokens_minted_total`)).to.equal(2);
      expect(metricValue(text, `${P}tokens_ended_total`, { how: 'revoked' })).to.equal(1);
      expect(metricValue(text, `${P}tokens_ended_total`, { how: 'expired' })).to.equal(2);
      expect(metricValue(text, `${P}auth_failures_total`, { kind: 'master', throttled: 'false' })).to.equal(1);
      expect(metricValue(text, `${P}auth_failures_total`, { kind: 'master', throttled: 'true' })).to.equal(1);
      expect(metricValue(text, `${P}auth_failures_total`, { kind: 'token', throttled: 'false' })).to.equal(2);
      expect(metricValue(text, `${P}auth_failures_total`, { kind: 'token', throttled: 'true' })).to.equal(0);
      expect(metricValue(text, `${P}files_written_total`)).to.equal(2);
      expect(metricValue(text, `${P}written_bytes_total`)).to.equal(123);
      expect(metricValue(text, `${P}builds_sealed_total`)).to.equal(1);
      expect(metricValue(text, `${P}builds_deleted_total`)).to.equal(1);
    });
  });

  describe('scrape-time values', () => {
    it('live tokens are read at each scrape', async () => {
      let live = 3;
      const m = new Metrics(sources({ liveTokens: async () => live }));
      expect(metricValue(await m.render(), `${P}live_tokens`)).to.equal(3);
      live = 1;
      expect(metricValue(await m.render(), `${P}live_tokens`)).to.equal(1);
    });

    it('reports the free and total bytes of a real volume', async () => {
      const m = new Metrics(sources({ volumes: [{ name: 'artifacts', dir: tmpdir() }] }));
      const text = await m.render();
      const free = metricValue(text, `${P}volume_free_bytes`, { volume: 'artifacts' });
      const size = metricValue(text, `${P}volume_size_bytes`, { volume: 'artifacts' });
      expect(free).to.be.a('number').greaterThan(0);
      expect(size).to.be.a('number').at.least(free ?? Infinity);
    });

    it('leaves out a volume that cannot be measured, without throwing', async () => {
      const missing = path.join(tmpdir(), `artifact-repo-no-such-dir-${process.pid}-${Date.now()}`);
      const m = new Metrics(sources({ volumes: [{ name: 'gone', dir: missing }, { name: 'tmp', dir: tmpdir() }] }));
      const text = await m.render();
      expect(metricValue(text, `${P}volume_free_bytes`, { volume: 'gone' })).to.equal(undefined);
      expect(metricValue(text, `${P}volume_size_bytes`, { volume: 'gone' })).to.equal(undefined);
      expect(metricValue(text, `${P}volume_free_bytes`, { volume: 'tmp' })).to.be.greaterThan(0);
    });

    it('a volume that stops being measurable drops out of the next scrape', async () => {
      const volumes = [{ name: 'v', dir: tmpdir() }];
      const m = new Metrics(sources({ volumes }));
      expect(metricValue(await m.render(), `${P}volume_free_bytes`, { volume: 'v' })).to.be.greaterThan(0);
      volumes[0] = { name: 'v', dir: path.join(tmpdir(), `artifact-repo-no-such-dir-${process.pid}-${Date.now()}`) };
      expect(metricValue(await m.render(), `${P}volume_free_bytes`, { volume: 'v' })).to.equal(undefined);
    });

    it('includes the default process metrics under the prefix, in the Prometheus text format', async () => {
      const m = new Metrics(sources());
      expect(m.contentType).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await m.render();
      expect(metricValue(text, `${P}process_cpu_seconds_total`)).to.be.a('number');
      expect(metricValue(text, `${P}nodejs_eventloop_lag_seconds`)).to.be.a('number');
      expect(metricValue(text, 'process_cpu_seconds_total')).to.equal(undefined);
    });
  });

  it('two instances do not share counts', async () => {
    const a = new Metrics(sources({ liveTokens: async () => 5 }));
    const b = new Metrics(sources({ liveTokens: async () => 7 }));
    a.observeRequest(sample({ method: 'PUT', status: 201, bytesIn: 10 }));
    a.observe({ event: 'token.minted', ...token, by: 'master:buildbot', ttl_seconds: 60, expires_at: '2030-01-01T00:00:00Z', proxy: 'record', replay: null });
    const [ta, tb] = await Promise.all([a.render(), b.render()]);
    expect(metricValue(ta, `${P}http_requests_total`)).to.equal(1);
    expect(metricValue(tb, `${P}http_requests_total`)).to.equal(undefined);
    expect(metricValue(ta, `${P}tokens_minted_total`)).to.equal(1);
    expect(metricValue(tb, `${P}tokens_minted_total`)).to.equal(0);
    expect(metricValue(ta, `${P}http_received_bytes_total`)).to.equal(10);
    expect(metricValue(tb, `${P}http_received_bytes_total`)).to.equal(0);
    expect(metricValue(ta, `${P}live_tokens`)).to.equal(5);
    expect(metricValue(tb, `${P}live_tokens`)).to.equal(7);
  });
});
