import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { runCli } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { SCRIPT_JS } from '../../modules/ui/script';

const ROOT = resolve(__dirname, '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 15_000;

/**
 * GET /ui in a real browser against a real bicycled: the page shows the
 * node and a service with its replicas, follows a scale made from the CLI
 * without a reload, and its own scale button (prompt, then confirm) changes
 * the service through the API. Prints the bytes of the first load.
 */
describe('the web dashboard', () => {
  let daemon: TestDaemon;
  let browser: Browser;
  let page: Page;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the dashboard test`);
    daemon = await startDaemon();
    const created = await api(daemon.url).post('/services', { name: 'web', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('web running 2 replicas', async () => (await api(daemon.url).get('/services/web')).body.running === 2, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  });
  after(async () => {
    await browser?.close();
    await daemon?.stop();
  });

  test('the script never parses data as HTML', () => {
    assert.doesNotMatch(SCRIPT_JS, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  test('shows the cluster, follows a CLI scale, and scales from its own button', async () => {
    let bytes = 0;
    const files: string[] = [];
    page.on('requestfinished', (request) => {
      void request.sizes().then((s) => {
        bytes += s.responseHeadersSize + s.responseBodySize;
        files.push(`${new URL(request.url()).pathname} ${s.responseBodySize}`);
      });
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${daemon.url}/ui`);
    const row = page.locator('#services tr[data-service="web"]');
    await row.locator('td.replicas', { hasText: '2/2/2' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await page.locator('#nodes td', { hasText: daemon.name }).first().waitFor({ timeout: PAGE_TIMEOUT_MS });
    assert.match(await row.innerText(), /web/);
    assert.match(await row.innerText(), /2\/2/);
    // Every response of the first load has finished by now but the event stream, which never does.
    await new Promise((r) => setTimeout(r, 200));
    console.log(`first load of /ui: ${bytes} bytes transferred (${files.join(', ')})`);
    assert.ok(bytes < 200 * 1024, `first load transferred ${bytes} bytes`);

    const scaled = await runCli(daemon.listen, '--host', daemon.listen, 'service', 'scale', 'web=3', '-d');
    assert.equal(scaled.code, 0, scaled.stderr);
    await row.locator('td.replicas', { hasText: /\/3$/ }).waitFor({ timeout: PAGE_TIMEOUT_MS });

    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void (dialog.type() === 'prompt' ? dialog.accept('4') : dialog.accept());
    });
    await row.locator('button[data-action="scale"]').click();
    await waitFor('web scaled to 4 through the page', async () => (await api(daemon.url).get('/services/web')).body.replicas === 4, PAGE_TIMEOUT_MS);
    assert.deepEqual(dialogs.map((d) => d.split(':')[0]), ['prompt', 'confirm'], dialogs.join('; '));
    await row.locator('td.replicas', { hasText: '4/4/4' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').innerText());
    assert.deepEqual(pageErrors, []);

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    const shot = join(ROOT, 'test-artifacts', 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    copyFileSync(shot, join(ROOT, 'docs', 'ui.png'));

    // The service view: its tasks and versions.
    await row.locator('a').click();
    await page.locator('#tasks tbody tr').first().waitFor({ timeout: PAGE_TIMEOUT_MS });
    assert.equal(await page.locator('#service-name').innerText(), 'web');
    await page.locator('#versions tbody tr', { hasText: TEST_IMAGE }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-service.png'), fullPage: true });
  });

  test('without the event stream it shows the badge and still follows changes', async () => {
    const fallback = await browser.newPage();
    try {
      await fallback.route('**/events', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"NOT_FOUND","message":"no"}}' }));
      await fallback.goto(`${daemon.url}/ui`);
      await fallback.locator('#live', { hasText: 'live updates unavailable' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      const replicas = (await api(daemon.url).get('/services/web')).body.replicas as number;
      const scaled = await runCli(daemon.listen, '--host', daemon.listen, 'service', 'scale', `web=${replicas - 1}`, '-d');
      assert.equal(scaled.code, 0, scaled.stderr);
      await fallback.locator('#services tr[data-service="web"] td.replicas', { hasText: new RegExp(`/${replicas - 1}$`) }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    } finally {
      await fallback.close();
    }
  });
});
