// /-/metrics on the real server: one token's life, seen as deltas between two scrapes.
import { expect } from 'chai';
import request from 'supertest';
import { basic, MASTER_USER, startServer, type TestServer } from '../helpers/harness.js';
import { metricValue } from '../helpers/metrics-text.js';


const P = 'artifact_repo_';

describe('metrics endpoint', function () {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  async function scrape(): Promise<(name: string, labels?: Record<string, string>) => number> {
    // No credentials: the app leaves access to nginx.
    const res = await request(s.baseUrl).get('/-/metrics').buffer(true);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    return (name, labels) => metricValue(res.text, name, labels) ?? 0;
  }

  it('counts a token minted, used for an upload, downloaded from and revoked', async () => {
    const first = await scrape();
    const was = await scrape();
    // Whether a scrape counts itself is the wiring's choice; the second scrape shows which.
    const scrapeCounts = was(`${P}http_requests_total`, { method: 'GET', status: '200' }) - first(`${P}http_requests_total`, { method: 'GET', status: '200' });
    expect(scrapeCounts).to.be.oneOf([0, 1]);

    const t = await s.mint('dpkg', 'metrics', '1');
    const auth = basic(t.username, t.password);
    const body = Buffer.alloc(4096, 'x');
    const put = await request(s.baseUrl).put(`${t.scope}metrics.bin`).set('Authorization', auth).send(body);
    expect(put.status).to.equal(201);
    const get = await request(s.baseUrl).get(`${t.scope}metrics.bin`).buffer(true);
    expect(get.status).to.equal(200);
    const wrong = await request(s.baseUrl).post('/-/tokens').set('Authorization', basic(MASTER_USER, 'not-the-password')).send({ type: 'dpkg', project: 'metrics', build: '2' });
    expect(wrong.status).to.equal(401);
    expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', auth)).status).to.equal(204);

    const now = await scrape();
    const delta = (name: string, labels?: Record<string, string>): number => now(name, labels) - was(name, labels);
    expect(delta(`${P}http_requests_total`, { method: 'PUT', status: '201' })).to.equal(1);
    expect(delta(`${P}http_requests_total`, { method: 'GET', status: '200' })).to.equal(1 + scrapeCounts);
    expect(delta(`${P}tokens_minted_total`)).to.equal(1);
    expect(delta(`${P}tokens_ended_total`, { how: 'revoked' })).to.equal(1);
    expect(delta(`${P}tokens_ended_total`, { how: 'expired' })).to.equal(0);
    expect(delta(`${P}auth_failures_total`, { kind: 'master' })).to.equal(1);
    expect(delta(`${P}auth_failures_total`, { kind: 'token' })).to.equal(0);
    expect(delta(`${P}files_written_total`)).to.equal(1);
    expect(delta(`${P}written_bytes_total`)).to.equal(body.length);
    expect(delta(`${P}upload_duration_seconds_count`)).to.equal(1);
    expect(delta(`${P}download_duration_seconds_count`)).to.equal(1);
    expect(delta(`${P}http_received_bytes_total`)).to.be.at.least(body.length);
    expect(delta(`${P}http_sent_bytes_total`)).to.be.at.least(body.length);
    expect(now(`${P}live_tokens`)).to.equal(was(`${P}live_tokens`));
    expect(now(`${P}volume_free_bytes`, { volume: 'artifacts' })).to.be.greaterThan(0);
    expect(now(`${P}volume_size_bytes`, { volume: 'artifacts' })).to.be.at.least(now(`${P}volume_free_bytes`, { volume: 'artifacts' }));
  });
});
