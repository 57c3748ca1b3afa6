import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { requireDocker, TEST_IMAGE } from '../helpers/docker';
import { api } from '../helpers/api';
import { runCli } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { SCRIPT_JS } from '../../modules/ui/script';

const ROOT = resolve(__dirname, '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 15_000;
/** A second tag of the test image, made in the local engine: an image update that needs no registry. */
const NEXT_IMAGE = 'bicycle/busybox:ui-next';

/**
 * The page's dialogs (prompt, confirm), answered in order from a script:
 * a string accepts a prompt with it, true accepts, false cancels. A
 * dialog with no answer left is cancelled. `seen` lists each dialog as
 * "type: message" since the last answer().
 */
class Dialogs {
  readonly seen: string[] = [];
  private script: Array<string | boolean> = [];

  constructor(page: Page) {
    page.on('dialog', (dialog) => {
      const answer = this.script.shift();
      this.seen.push(`${dialog.type()}: ${dialog.message()}`);
      void (answer === undefined || answer === false ? dialog.dismiss() : dialog.accept(typeof answer === 'string' ? answer : undefined));
    });
  }

  answer(...answers: Array<string | boolean>): void {
    this.script = answers;
    this.seen.length = 0;
  }
}

/**
 * GET /ui in a real browser against a real bicycled: the page shows the
 * node and a service with its replicas, follows a scale made from the CLI
 * without a reload, and its buttons (scale, image, rollback, drain and
 * activate, remove; each with its prompt and confirmation) change the
 * daemon's State, what the page shows follows, and a cancelled dialog
 * sends nothing. Prints the bytes of the first load.
 */
describe('the web dashboard', () => {
  let daemon: TestDaemon;
  let browser: Browser;
  let page: Page;
  let dialogs: Dialogs;
  /** Every request of the page that is not a GET, as "METHOD /path". */
  const writes: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the dashboard test`);
    const docker = await requireDocker();
    await docker.getImage(TEST_IMAGE).tag({ repo: NEXT_IMAGE.split(':')[0], tag: NEXT_IMAGE.split(':')[1] });
    daemon = await startDaemon();
    const created = await api(daemon.url).post('/services', { name: 'web', image: TEST_IMAGE, replicas: 2, command: ['sleep', '3600'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('web running 2 replicas', async () => (await api(daemon.url).get('/services/web')).body.running === 2, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    dialogs = new Dialogs(page);
    page.on('request', (request) => {
      if (request.method() !== 'GET') writes.push(`${request.method()} ${new URL(request.url()).pathname}`);
    });
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

    dialogs.answer('4', true);
    await row.locator('button[data-action="scale"]').click();
    await waitFor('web scaled to 4 through the page', async () => (await api(daemon.url).get('/services/web')).body.replicas === 4, PAGE_TIMEOUT_MS);
    assert.deepEqual(dialogs.seen, ['prompt: Replicas for web:', 'confirm: Scale web to 4 replicas?']);
    await row.locator('td.replicas', { hasText: '4/4/4' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').innerText());
    assert.deepEqual(pageErrors, []);

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    const shot = join(ROOT, 'test-artifacts', 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });

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
  test('a cut event stream resumes after the last index seen; a 410 (compacted) resumes from now', async () => {
    const resuming = await browser.newPage();
    try {
      const asked: string[] = [];
      let n = 0;
      await resuming.route('**/events*', async (route) => {
        const url = new URL(route.request().url());
        asked.push(url.pathname + url.search);
        n++;
        if (n === 1) {
          // One event, then the stream ends, as a daemon going away would end it.
          const event = { index: 7, term: 1, time: new Date().toISOString(), type: 'service', action: 'update', service: 'web', attributes: { replicas: 9 } };
          await route.fulfill({ status: 200, contentType: 'application/x-ndjson', body: JSON.stringify(event) + '\n' });
        } else if (n === 2) {
          await route.fulfill({ status: 410, contentType: 'application/json', body: '{"error":{"code":"EVENTS_COMPACTED","message":"since: index 7 was compacted into a snapshot; the oldest index events can be read after is 100"}}' });
        } else {
          await route.continue();
        }
      });
      await resuming.goto(`${daemon.url}/ui`);
      await resuming.locator('#events tbody tr[data-index="7"]', { hasText: 'replicas=9' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      await waitFor('the stream asked for three times', async () => asked.length >= 3, 20_000, 100);
      assert.deepEqual(asked.slice(0, 3), ['/events', '/events?since=7', '/events']);
      // The third stream is the daemon's own: the badge goes once it opens.
      await resuming.locator('#live').waitFor({ state: 'hidden', timeout: PAGE_TIMEOUT_MS });
    } finally {
      await resuming.close();
    }
  });

  test('updates the image, rolls back, drains and activates the node, and removes the service from its buttons; a cancelled dialog sends nothing', async () => {
    await page.goto(`${daemon.url}/ui`);
    const client = api(daemon.url);
    const row = page.locator('#services tr[data-service="web"]');
    const nodeRow = page.locator(`#nodes tr[data-node="${daemon.name}"]`);
    const web = async () => (await client.get('/services/web')).body;
    const before = await web();
    const replicas = before.replicas as number;
    await row.locator('td.replicas', { hasText: `${replicas}/${replicas}/${replicas}` }).waitFor({ timeout: 60_000 });

    /** Clicks a button with the dialogs answered so; with a cancel, checks that the page sent nothing and the daemon's view is unchanged. */
    const press = async (button: ReturnType<Page['locator']>, answers: Array<string | boolean>, expected: string[]) => {
      const sent = writes.length;
      const stateBefore = await client.get('/state');
      dialogs.answer(...answers);
      await button.click();
      assert.deepEqual(dialogs.seen, expected);
      if (answers.at(-1) === false) {
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(writes.slice(sent), [], 'a cancelled dialog sends no request');
        const stateAfter = await client.get('/state');
        const summary = (st: any) => JSON.stringify({ services: st.body.services.map((x: any) => [x.name, x.image, x.replicas, x.version, x.state]), nodes: st.body.nodes.map((n: any) => [n.name, n.availability]) });
        assert.equal(summary(stateAfter), summary(stateBefore), 'a cancelled dialog changes nothing');
      }
    };
    const shot = (name: string) => page.screenshot({ path: join(ROOT, 'test-artifacts', `dashboard-${name}.png`), fullPage: true });

    // Update the image: cancelled at the prompt, then at the confirmation, then done.
    const imageButton = row.locator('button[data-action="update"]');
    await press(imageButton, [false], ['prompt: New image for web:']);
    await press(imageButton, [NEXT_IMAGE, false], ['prompt: New image for web:', `confirm: Update web to image ${NEXT_IMAGE}?`]);
    await press(imageButton, [NEXT_IMAGE, true], ['prompt: New image for web:', `confirm: Update web to image ${NEXT_IMAGE}?`]);
    const updated = await waitFor('the update to the new image done', async () => {
      const s = await web();
      return s.image === NEXT_IMAGE && s.updateStatus?.completedAt && s.running === replicas ? s : undefined;
    }, 60_000, 200);
    assert.equal(updated.updateStatus.kind, 'update');
    assert.equal(updated.specVersion, before.specVersion + 1);
    const state = (await client.get('/state')).body;
    assert.equal(state.services.find((x: any) => x.name === 'web').image, NEXT_IMAGE, 'GET /state shows the new image');
    await row.locator('td', { hasText: NEXT_IMAGE }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td', { hasText: `update v${before.specVersion} to v${updated.specVersion}` }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td.replicas', { hasText: `${replicas}/${replicas}/${replicas}` }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    // The page has caught up with the update's end, not only with its start.
    await row.locator('td.state-RUNNING').waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td', { hasText: `update v${before.specVersion} to v${updated.specVersion}: done` }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await shot('updated');
    // The docs' picture: the overview with an update done.
    copyFileSync(join(ROOT, 'test-artifacts', 'dashboard-updated.png'), join(ROOT, 'docs', 'ui.png'));

    // Roll back to the version before.
    const rollbackButton = row.locator('button[data-action="rollback"]');
    await press(rollbackButton, [false], ['confirm: Roll web back to its previous version?']);
    await press(rollbackButton, [true], ['confirm: Roll web back to its previous version?']);
    const rolled = await waitFor('the rollback to the first image settled', async () => {
      const s = await web();
      return s.image === TEST_IMAGE && s.state === 'ROLLED_BACK' && s.running === replicas ? s : undefined;
    }, 60_000, 200);
    assert.equal(rolled.updateStatus.kind, 'rollback');
    await row.locator('td', { hasText: TEST_IMAGE }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td.state-ROLLED_BACK').waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td', { hasText: `rollback v${updated.specVersion} to v` }).waitFor({ timeout: PAGE_TIMEOUT_MS });

    // Drain the node: its replicas stop (a single node: none can move); activate it: they come back.
    const nodeButton = () => nodeRow.locator('button');
    await press(nodeButton(), [false], [`confirm: Drain node ${daemon.name}?`]);
    await press(nodeButton(), [true], [`confirm: Drain node ${daemon.name}?`]);
    await waitFor('the node drained and its replicas stopped', async () => {
      const nodes = (await client.get('/nodes')).body.nodes;
      const st = (await client.get('/state')).body;
      return nodes[0].availability === 'drain' && st.services.find((x: any) => x.name === 'web').running === 0;
    }, 60_000, 200);
    await nodeRow.locator('td', { hasText: /^drain$/ }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await nodeRow.locator('button[data-action="active"]', { hasText: 'activate' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td.replicas', { hasText: `0/0/${replicas}` }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await shot('drained');
    await press(nodeButton(), [false], [`confirm: Activate node ${daemon.name}?`]);
    await press(nodeButton(), [true], [`confirm: Activate node ${daemon.name}?`]);
    await waitFor('the node active and the replicas back', async () => {
      const nodes = (await client.get('/nodes')).body.nodes;
      return nodes[0].availability === 'active' && (await web()).running === replicas;
    }, 60_000, 200);
    await nodeRow.locator('td', { hasText: /^active$/ }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await nodeRow.locator('button[data-action="drain"]', { hasText: 'drain' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
    await row.locator('td.replicas', { hasText: `${replicas}/${replicas}/${replicas}` }).waitFor({ timeout: PAGE_TIMEOUT_MS });

    // Remove the service: gone from the daemon, then from the page (services and the grid).
    const removeButton = row.locator('button[data-action="remove"]');
    await press(removeButton, [false], ['confirm: Remove service web and all its replicas?']);
    await press(removeButton, [true], ['confirm: Remove service web and all its replicas?']);
    await waitFor('web removed', async () => (await client.get('/services/web')).status === 404, 60_000, 200);
    assert.equal((await client.get('/state')).body.containers.filter((c: any) => c.service === 'web' && c.desiredState === 'RUNNING').length, 0);
    await row.waitFor({ state: 'detached', timeout: PAGE_TIMEOUT_MS });
    await page.locator('#grid tbody tr', { hasText: 'web' }).waitFor({ state: 'detached', timeout: PAGE_TIMEOUT_MS });
    // One request per confirmed action, none for the cancelled ones.
    const nodeId = (await client.get('/nodes')).body.nodes[0].id as string;
    assert.deepEqual(writes.slice(-5), ['PATCH /services/web', 'POST /services/web/rollback', `PATCH /nodes/${nodeId}`, `PATCH /nodes/${nodeId}`, 'DELETE /services/web']);
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').innerText());
    await shot('removed');
  });
});

/** fetch with a bearer token: status and parsed body. */
async function withToken(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/**
 * The page against a daemon with `auth: "required"` (a token even on the
 * loopback): the token form, a wrong token refused with its error, a read
 * token that sees nodes and services and no action, an operator token that
 * scales and sees no node action; the events timeline, node capacity and a
 * replica's live logs.
 */
describe('the web dashboard with API tokens', () => {
  let daemon: TestDaemon;
  let browser: Browser;
  const tokens: Record<'admin' | 'read' | 'operator', string> = { admin: '', read: '', operator: '' };

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the dashboard test`);
    await requireDocker();
    daemon = await startDaemon({ env: { BICYCLE_AUTH: 'required' } });
    const printed = /bicycled: admin token (BAT1-\S+)/.exec(daemon.output())?.[1];
    assert.ok(printed, `--init printed no token:\n${daemon.output()}`);
    tokens.admin = printed;
    await waitFor('the first admin token valid', async () => (await withToken(daemon.url, printed, 'GET', '/auth/self')).status === 200, 10_000, 100);
    for (const role of ['read', 'operator'] as const) {
      const made = await withToken(daemon.url, tokens.admin, 'POST', '/tokens', { name: `ui-${role}`, role });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      tokens[role] = made.body.token;
    }
    const created = await withToken(daemon.url, tokens.admin, 'POST', '/services', {
      name: 'talker', image: TEST_IMAGE, replicas: 1, command: ['sh', '-c', 'i=0; while true; do echo "talker line $i"; i=$((i+1)); sleep 0.3; done'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor('talker running', async () => (await withToken(daemon.url, tokens.admin, 'GET', '/services/talker')).body.running === 1, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await daemon?.stop();
    if (daemon) removeDataDir(daemon.dataDir);
  });

  test('GET /auth/self names the token and its role; without a token it is 401', async () => {
    assert.deepEqual((await withToken(daemon.url, tokens.read, 'GET', '/auth/self')).body, { actor: 'ui-read', role: 'read' });
    assert.deepEqual((await withToken(daemon.url, tokens.operator, 'GET', '/auth/self')).body, { actor: 'ui-operator', role: 'operator' });
    assert.equal((await fetch(`${daemon.url}/auth/self`)).status, 401);
  });

  test('shows the token form, refuses a wrong token with its error, and a read token sees the cluster and no action', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await page.goto(`${daemon.url}/ui`);
      await page.locator('#auth #token').waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.locator('#token').getAttribute('type'), 'password');
      assert.equal(await page.locator('#overview').isHidden(), true);
      assert.equal(await page.locator('#auth-error').isHidden(), true, 'no error before a token was given');

      const wrong = tokens.read.replace(/-[A-Za-z0-9_-]{43}$/, `-${'A'.repeat(43)}`);
      await page.locator('#token').fill(wrong);
      await page.locator('#auth button[type="submit"]').click();
      await page.locator('#auth-error', { hasText: 'UNAUTHENTICATED' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.locator('#auth').isVisible(), true);
      await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-token-form.png'), fullPage: true });

      await page.locator('#token').fill(tokens.read);
      await page.locator('#auth button[type="submit"]').click();
      await page.locator('#services tr[data-service="talker"] td.replicas', { hasText: '1/1/1' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      await page.locator('#nodes td', { hasText: daemon.name }).first().waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.match(await page.locator('#whoami').innerText(), /ui-read \(read\)/);
      // The node's CPUs and memory, from its facts.
      const node = (await withToken(daemon.url, tokens.read, 'GET', '/state')).body.nodes[0];
      assert.match(await page.locator('#nodes td.cpu').first().innerText(), new RegExp(`/${node.facts.cpus} free$`));
      assert.match(await page.locator('#nodes td.memory').first().innerText(), /GiB free$/);
      assert.equal(await page.locator('button[data-action]').count(), 0, 'a read token sees no action');
      // The token is in sessionStorage, never in the URL or a cookie.
      assert.equal(await page.evaluate('sessionStorage.getItem("bicycle.token")'), tokens.read);
      assert.doesNotMatch(page.url(), /BAT1/);
      assert.deepEqual(await page.context().cookies(), []);
      // Logs are for operators: the service page says so.
      await page.locator('#services tr[data-service="talker"] a').click();
      await page.locator('#logs-note', { hasText: 'operator' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.locator('#service-actions button').count(), 0);
      // Sign out: the form again, the token gone.
      await page.locator('#signout').click();
      await page.locator('#auth #token').waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.evaluate('sessionStorage.getItem("bicycle.token")'), null);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('an operator token scales from the page, sees no node action, the timeline shows an API scale, and the service page follows the logs', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const dialogs = new Dialogs(page);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await page.goto(`${daemon.url}/ui`);
      await page.locator('#token').fill(tokens.operator);
      await page.locator('#auth button[type="submit"]').click();
      const row = page.locator('#services tr[data-service="talker"]');
      await row.locator('td.replicas', { hasText: '1/1/1' }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      assert.equal(await page.locator('#nodes button').count(), 0, 'an operator sees no drain or activate');
      assert.equal(await page.locator('#live').isHidden(), true, 'the event stream is open');

      // A scale through the API shows in the timeline within two seconds, with its Raft index.
      const t0 = Date.now();
      const scaled = await withToken(daemon.url, tokens.admin, 'PATCH', '/services/talker', { replicas: 2 });
      assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
      const event = page.locator('#events tbody tr', { hasText: 'service update' }).filter({ hasText: 'talker' }).filter({ hasText: 'replicas=2' }).first();
      await event.waitFor({ timeout: 2000 });
      console.log(`an API scale in the page's timeline after ${Date.now() - t0} ms`);
      assert.match((await event.getAttribute('data-index')) ?? '', /^\d+$/);
      await row.locator('td.replicas', { hasText: /\/2$/ }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      // Newest first.
      const indexes = (await page.locator('#events tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-index')))));
      assert.deepEqual(indexes, [...indexes].sort((a, b) => b - a));

      dialogs.answer('3', true);
      await row.locator('button[data-action="scale"]').click();
      await waitFor('talker scaled to 3 through the page', async () => (await withToken(daemon.url, tokens.read, 'GET', '/services/talker')).body.replicas === 3, PAGE_TIMEOUT_MS);
      assert.deepEqual(dialogs.seen, ['prompt: Replicas for talker:', 'confirm: Scale talker to 3 replicas?']);
      await row.locator('td.replicas', { hasText: '3/3/3' }).waitFor({ timeout: 60_000 });
      assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').innerText());
      await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-operator.png'), fullPage: true });

      // The service page: a replica's lines as they come; leaving it stops the stream.
      await row.locator('a').click();
      await page.locator('#logs', { hasText: /talker\.\d+ +\| talker line \d+/ }).waitFor({ timeout: PAGE_TIMEOUT_MS });
      const count = async () => (((await page.locator('#logs').textContent()) ?? '').match(/talker line/g) ?? []).length;
      const first = await count();
      await waitFor('more log lines on the open page', async () => (await count()) > first, PAGE_TIMEOUT_MS, 100);
      await page.screenshot({ path: join(ROOT, 'test-artifacts', 'dashboard-logs.png'), fullPage: true });
      await page.locator('a[href="#"]', { hasText: 'all services' }).click();
      await page.locator('#overview').waitFor({ timeout: PAGE_TIMEOUT_MS });
      const frozen = await count();
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await count(), frozen, 'the logs stream stopped once the page left the service');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
