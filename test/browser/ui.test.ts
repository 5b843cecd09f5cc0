// The web UI in a real browser: Debian's chromium driven by playwright-core. Clicks from
// the root down to a file and downloads it, searches by checksum, compares two builds,
// and saves screenshots (light, dark, phone) into screenshots/ for a person to look at.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { basic, MASTER_AUTH, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
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

  it('searches by checksum from the search box', async () => {
    const sha = createHash('sha256').update(deb).digest('hex');
    await page.goto(`${s.baseUrl}/dpkg/hello/2/`);
    await page.getByPlaceholder('SHA-256').fill(sha);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/-\/search\?sha256=/);
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
    await dark.close();
    await phone.close();
  });
});
