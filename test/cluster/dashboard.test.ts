import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freeSubnet, Lab } from '../../scripts/lab/lab';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { waitFor } from '../helpers/wait';

const ROOT = resolve(__dirname, '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 15_000;
/** config.json's voting.hostGraceMs, which the lab keeps: how long the leader waits before it marks a silent host DOWN. */
const HOST_GRACE_MS = 3000;

/**
 * The dashboard of a follower of a real three-host cluster, in Debian's
 * Chromium: the page lists the three nodes with the leader marked, a scale
 * from the follower's page is forwarded to the leader and takes effect on
 * the hosts' engines, and a host lost (lab.kill) shows as DOWN on the open
 * page within a few seconds, without a reload.
 */
describe('the dashboard on a follower of a three-host lab', () => {
  let lab: Lab;
  let browser: Browser;
  let page: Page;
  let leader: number;
  let follower: number;

  const running = async (service: string) => {
    const counts = await Promise.all(lab.hosts.map(async (h) => (await h.docker.listContainers({ filters: { label: [`io.bicycle.service=${service}`], status: ['running'] } }).catch(() => [])).length));
    return counts.reduce((a, b) => a + b, 0);
  };

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the dashboard test`);
    await requireDocker();
    lab = new Lab(mkdtempSync(join(tmpdir(), 'bicycle-lab-ui-')), 3, { subnet: freeSubnet() });
    await lab.up();
    const name = await waitFor('a leader', async () => (await api(lab.host(1).url).get('/state')).body.cluster.leader as string | null, 10_000);
    leader = lab.hosts.find((h) => h.name === name)!.index;
    follower = [1, 2, 3].find((i) => i !== leader)!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    // Off loopback the API wants a token once the lab's cluster has one: the browser sends the lab's admin token with every request.
    const token = (lab as unknown as { adminToken?: string }).adminToken;
    page = await browser.newPage({ viewport: { width: 1200, height: 700 }, ...(token ? { extraHTTPHeaders: { authorization: `Bearer ${token}` } } : {}) });
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await lab?.down();
  });

  test("the follower's page lists the three nodes, READY, with the leader marked", async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${lab.host(follower).url}/ui`);
    const leaderName = lab.host(leader).name;
    await page.locator('#cluster', { hasText: `leader ${leaderName}` }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await page.locator('#cluster', { hasText: '3 node(s)' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    for (const host of lab.hosts) {
      const row = page.locator(`#nodes tr[data-node="${host.name}"]`);
      await row.locator('td.state-READY').waitFor({ timeout: PAGE_TIMEOUT_MS });
      const first = await row.locator('td').first().innerText();
      assert.equal(first, host.index === leader ? `${host.name} (leader)` : host.name, 'only the leader is marked');
    }
    assert.deepEqual(pageErrors, []);
  });

  test("a scale through the follower's page reaches the leader and the hosts' engines", async () => {
    const created = await api(lab.host(follower).url).post('/services?wait=true&timeout=60', { name: 'web', image: TEST_IMAGE, replicas: 3, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const row = page.locator('#services tr[data-service="web"]');
    await row.locator('td.replicas', { hasText: '3/3/3' }).waitFor({ timeout: PAGE_TIMEOUT_MS });

    const dialogs: string[] = [];
    const answer = (dialog: import('playwright-core').Dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void (dialog.type() === 'prompt' ? dialog.accept('5') : dialog.accept());
    };
    page.on('dialog', answer);
    try {
      await row.locator('button[data-action="scale"]').click();
      await waitFor("the leader's view: web scaled to 5", async () => (await api(lab.host(leader).url).get('/services/web')).body.replicas === 5, PAGE_TIMEOUT_MS);
    } finally {
      page.off('dialog', answer);
    }
    assert.deepEqual(dialogs, ['prompt: Replicas for web:', 'confirm: Scale web to 5 replicas?']);
    await waitFor("5 replicas running in the hosts' engines", async () => (await running('web')) === 5, 60_000, 250);
    await row.locator('td.replicas', { hasText: '5/5/5' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    // The grid spreads them over the three nodes as the State says.
    const state = (await api(lab.host(follower).url).get('/state')).body;
    const wanted = Object.fromEntries(lab.hosts.map((h) => [h.name, state.containers.filter((c: any) => c.service === 'web' && c.desiredState === 'RUNNING' && c.node === h.name).length]));
    /** The grid's web row as { node name: replicas }, read as the user sees it. */
    const grid = async () => {
      const heads = await page.locator('#grid thead th').allInnerTexts();
      const cells = await page.locator('#grid tbody tr', { has: page.locator('td:first-child', { hasText: /^web$/ }) }).locator('td').allInnerTexts();
      return Object.fromEntries(heads.slice(1).map((h, i) => [h, cells[i + 1] === '\u00b7' ? 0 : Number(cells[i + 1])]));
    };
    await waitFor("the grid to show the State's spread", async () => isDeepStrictEqual(await grid(), wanted), PAGE_TIMEOUT_MS);
    assert.equal(Object.values(wanted).reduce((a, b) => a + b, 0), 5);
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').innerText());
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-cluster.png'), fullPage: true });
  });

  test('a host killed shows DOWN on the open page within a few seconds, without a reload', async () => {
    const lost = [1, 2, 3].find((i) => i !== leader && i !== follower)!;
    const lostName = lab.host(lost).name;
    // A mark in the page's window: a reload would lose it.
    await page.evaluate('window.stillHere = true');
    let navigations = 0;
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) navigations++; });

    const killedAt = Date.now();
    await lab.kill(lost);
    const apiDownAt = waitFor(`the follower's API to say ${lostName} is DOWN`, async () => {
      const nodes = (await api(lab.host(follower).url).get('/nodes')).body.nodes as Array<{ name: string; status: string }>;
      return nodes.find((n) => n.name === lostName)?.status === 'DOWN' ? Date.now() : undefined;
    }, HOST_GRACE_MS + 10_000, 50);
    await page.locator(`#nodes tr[data-node="${lostName}"] td.state-DOWN`).waitFor({ timeout: HOST_GRACE_MS + 10_000 });
    const pageDownAt = Date.now();
    const apiAt = await apiDownAt;
    console.log(`${lostName} killed: DOWN in the follower's API after ${apiAt - killedAt} ms, on its page after ${pageDownAt - killedAt} ms (host grace ${HOST_GRACE_MS} ms)`);
    assert.ok(pageDownAt - killedAt < HOST_GRACE_MS + 5000, `the page showed ${lostName} DOWN ${pageDownAt - killedAt} ms after the kill`);
    assert.ok(pageDownAt - apiAt < 2000, `the page followed the API's DOWN after ${pageDownAt - apiAt} ms`);
    assert.equal(await page.evaluate('window.stillHere'), true, 'the page was not reloaded');
    assert.equal(navigations, 0, 'the page was not reloaded');
    assert.equal(await page.locator('#live').isHidden(), true, 'the event stream stayed open');
    // Its replicas move to the two survivors, and the page follows that too.
    await waitFor('5 web replicas on the two survivors', async () => (await running('web')) === 5, 60_000, 250);
    await page.locator('#services tr[data-service="web"] td.replicas', { hasText: '5/5/5' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-cluster-down.png'), fullPage: true });
  });
});
