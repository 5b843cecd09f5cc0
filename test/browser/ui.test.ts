// The web UI in a real browser: Debian's chromium driven by playwright-core. Clicks from
// the root down to a file and downloads it, searches by checksum, compares two builds,
// and saves screenshots (light, dark, phone) into screenshots/ for a person to look at.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { basic, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { requireTool } from '../helpers/tools.js';

const SHOTS = path.join(REPO_ROOT, 'screenshots');
// The machine has no network: chromium must not try to reach Google's services.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

describe('web UI in chromium', function () {
  this.timeout(120_000);
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const deb = Buffer.from('!<arch>\ndebian-binary   fake package for the browser test\n');

  before(async function () {
    const executablePath = requireTool(this, 'chromium', 'chromium');
    s = await startServer();
    for (const build of ['1', '2']) {
      const t = await s.mint('dpkg', 'hello', build);
      const auth = basic(t.username, t.password);
      await request(s.baseUrl).put(`/dpkg/hello/${build}/hello_1.0_amd64.deb`).set('Authorization', auth).send(deb);
      await request(s.baseUrl).put(`/dpkg/hello/${build}/docs/changelog.txt`).set('Authorization', auth).send(`changes of build ${build}\n`);
      if (build === '1') await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH);
    }
    await mkdir(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath, args: FLAGS });
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  });

  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('clicks from the root to a file and downloads it', async () => {
    await page.goto(`${s.baseUrl}/`);
    await page.screenshot({ path: path.join(SHOTS, '1-root.png'), fullPage: true });
    await page.getByRole('link', { name: 'dpkg/', exact: true }).click();
    await page.getByRole('link', { name: 'hello/', exact: true }).click();
    await page.waitForURL(`${s.baseUrl}/dpkg/hello/`);
    // Newest first, each build with its state.
    const rows = await page.locator('main table tbody tr').allInnerTexts();
    expect(rows[0]).to.match(/^2\b/).and.match(/open/);
    expect(rows[1]).to.match(/^1\b/).and.match(/sealed/);
    await page.screenshot({ path: path.join(SHOTS, '2-project.png'), fullPage: true });
    await page.getByRole('link', { name: '2', exact: true }).click();
    await page.waitForURL(`${s.baseUrl}/dpkg/hello/2/`);
    expect(await page.locator('code.sha').count()).to.be.greaterThan(0);
    const sha = createHash('sha256').update(deb).digest('hex');
    expect(await page.content()).to.include(sha);
    await page.screenshot({ path: path.join(SHOTS, '3-build.png'), fullPage: true });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /download.*hello_1\.0_amd64\.deb/i }).click()]);
    const saved = await download.path();
    expect((await readFile(saved as string)).equals(deb)).to.equal(true);
  });

  it('searches by checksum and by name from the search box', async () => {
    const sha = createHash('sha256').update(deb).digest('hex');
    await page.goto(`${s.baseUrl}/dpkg/hello/2/`);
    await page.getByPlaceholder('SHA-256 or name').fill('hello/2');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/-\/search\?q=/);
    await page.getByRole('link', { name: '/dpkg/hello/2/' }).click();
    await page.waitForURL(`${s.baseUrl}/dpkg/hello/2/`);
    await page.getByPlaceholder('SHA-256 or name').fill(sha);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/-\/search\?q=/);
    const text = await page.locator('main').innerText();
    expect(text).to.include('/dpkg/hello/1/hello_1.0_amd64.deb').and.include('/dpkg/hello/2/hello_1.0_amd64.deb');
    await page.screenshot({ path: path.join(SHOTS, '4-search.png'), fullPage: true });
  });

  it('compares a build with the previous one', async () => {
    await page.goto(`${s.baseUrl}/dpkg/hello/`);
    await page.getByRole('link', { name: /compare build 2 with previous/i }).click();
    await page.waitForURL(/\/-\/compare\?/);
    const text = await page.locator('main').innerText();
    expect(text).to.match(/not reproducible/i).and.include('docs/changelog.txt');
    await page.screenshot({ path: path.join(SHOTS, '5-compare.png'), fullPage: true });
  });

  it('a missing page, a master-only page and the compare form are pages, not bare text', async () => {
    const missing = await page.goto(`${s.baseUrl}/dpkg/nope/`);
    expect(missing?.status()).to.equal(404);
    expect(await page.locator('h1').innerText()).to.equal('404 Not Found');
    expect(await page.getByRole('link', { name: 'back to all artifacts' }).count()).to.equal(1);
    // A visitor's build page says which links are for masters before the click.
    await page.goto(`${s.baseUrl}/dpkg/hello/1/`);
    expect(await page.locator('.summary .masters').innerText()).to.match(/^for build masters: audit trail, inputs$/);
    // "signed" explains on the page what was signed and how to check it.
    await page.getByRole('link', { name: 'signed', exact: true }).click();
    expect(await page.locator('#verify').isVisible()).to.equal(true);
    await page.goto(`${s.baseUrl}/-/compare`);
    await page.getByLabel('from').fill('/dpkg/hello/1/');
    await page.getByLabel('to').fill('/dpkg/hello/2/');
    await page.getByRole('button', { name: 'compare' }).click();
    await page.waitForURL(/\/-\/compare\?from=/);
    expect(await page.locator('main').innerText()).to.match(/not reproducible/i);
  });

  it('a master declares a mirror entry from the mirror page and sees its page', async () => {
    const master = await browser.newContext({ httpCredentials: { username: MASTER_USER, password: MASTER_PASSWORD }, viewport: { width: 1280, height: 860 } });
    const p = await master.newPage();
    await p.goto(`${s.baseUrl}/-/mirror`);
    await p.getByLabel('file URL').fill('https://example.invalid/releases/a-rather-long-tool-name-1.2.3-linux-x86_64.tar.gz');
    await p.getByLabel('what it is for').fill('the toolchain every build of hello uses');
    await p.getByRole('button', { name: 'declare' }).click();
    await p.waitForURL(/\/-\/mirror\/[A-Za-z0-9_-]+$/);
    const text = await p.locator('main').innerText();
    expect(text).to.include('the toolchain every build of hello uses').and.include('master:buildbot');
    await p.screenshot({ path: path.join(SHOTS, '8-mirror-entry.png'), fullPage: true });
    await master.close();
  });

  it('reads well dark and on a phone', async () => {
    const dark = await browser.newPage({ colorScheme: 'dark', viewport: { width: 1280, height: 860 } });
    await dark.goto(`${s.baseUrl}/dpkg/hello/2/`);
    const background = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).to.not.equal('rgb(255, 255, 255)');
    await dark.screenshot({ path: path.join(SHOTS, '6-build-dark.png'), fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 2 });
    await phone.goto(`${s.baseUrl}/dpkg/hello/2/`);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, 'the page scrolls sideways on a phone').to.be.at.most(0);
    await phone.screenshot({ path: path.join(SHOTS, '7-build-phone.png'), fullPage: true });
    // The mirror list (with an entry), an entry's page and the compare form fit a phone too.
    const id = ((await (await fetch(`${s.baseUrl}/-/mirror`, { headers: { Accept: 'application/json' } })).json()) as { entries: Array<{ id: string }> }).entries[0]?.id as string;
    for (const [where, shot] of [['/-/mirror', '9-mirror-phone.png'], [`/-/mirror/${id}`, '10-mirror-entry-phone.png'], ['/-/compare', '11-compare-form-phone.png']]) {
      await phone.goto(`${s.baseUrl}${where}`);
      const sideways = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(sideways, `${where} scrolls sideways on a phone`).to.be.at.most(0);
      await phone.screenshot({ path: path.join(SHOTS, shot as string), fullPage: true });
    }
    await dark.close();
    await phone.close();
  });
});
