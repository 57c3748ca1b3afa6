import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDataDir, startDaemon, type TestDaemon } from '../helpers/daemon';
import { api } from '../helpers/api';
import { runCli } from '../helpers/cli';

/**
 * Links cut on demand (docs/voting.md, "Cutting links on demand") on a
 * real daemon: off unless bicycled runs with --debug-links, and then bad
 * requests are refused naming the problem. The cuts themselves, between
 * lab hosts, are in test/cluster/debug-links.test.ts.
 */
describe('/debug/links without --debug-links', () => {
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startDaemon({ name: 'plain' });
  });

  after(async () => {
    await daemon.stop();
    removeDataDir(daemon.dataDir);
  });

  test('the routes refuse with DEBUG_LINKS_DISABLED, saying to start the daemon with --debug-links', async () => {
    const list = await api(daemon.url).get('/debug/links');
    assert.equal(list.status, 409);
    assert.equal(list.body.error.code, 'DEBUG_LINKS_DISABLED');
    assert.match(list.body.error.message, /start bicycled with --debug-links/);
    const cut = await api(daemon.url).post('/debug/links', { peer: 'anyone', state: 'cut' });
    assert.equal(cut.status, 409);
    assert.equal(cut.body.error.code, 'DEBUG_LINKS_DISABLED');
    // Even a bad body first hears how to turn the feature on.
    const bad = await api(daemon.url).post('/debug/links', { peer: 'anyone', state: 'sideways' });
    assert.equal(bad.body.error.code, 'DEBUG_LINKS_DISABLED');
  });

  test('the CLI refuses too, with the same message and a failing exit code', async () => {
    for (const args of [['debug', 'link', 'ls'], ['debug', 'link', 'cut', 'anyone'], ['debug', 'link', 'up', 'anyone']]) {
      const r = await runCli(daemon.url, ...args);
      assert.notEqual(r.code, 0, `bicycle ${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, /--debug-links/, `bicycle ${args.join(' ')}`);
    }
  });
});

describe('/debug/links with --debug-links on a node alone', () => {
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startDaemon({ name: 'lonely', env: { BICYCLE_DEBUG_LINKS: 'true' } });
  });

  after(async () => {
    await daemon.stop();
    removeDataDir(daemon.dataDir);
  });

  test('no link is cut at start', async () => {
    const list = await api(daemon.url).get('/debug/links');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { links: [] });
    const ls = await runCli(daemon.url, 'debug', 'link', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^PEER\s+NAME\s+ADDRESS\s+DIRECTION\s+SINCE/);
    const json = await runCli(daemon.url, 'debug', 'link', 'ls', '--json');
    assert.deepEqual(JSON.parse(json.stdout), []);
  });

  test('cutting a peer that is not a member is NODE_NOT_FOUND naming it; cutting this node is INVALID_ARGUMENT', async () => {
    const unknown = await api(daemon.url).post('/debug/links', { peer: 'nobody', state: 'cut' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'NODE_NOT_FOUND');
    assert.match(unknown.body.error.message, /no member with id or name nobody \(this node has no peers\)/);
    const self = await api(daemon.url).post('/debug/links', { peer: 'lonely', state: 'cut' });
    assert.equal(self.status, 400);
    assert.match(self.body.error.message, /lonely is this node/);
    const cli = await runCli(daemon.url, 'debug', 'link', 'cut', 'nobody');
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /no member with id or name nobody/);
  });

  test('a bad body is INVALID_ARGUMENT naming the field, and the CLI refuses a direction it does not know', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ peer: 'nobody', state: 'down' }, /state: must be "cut" or "up"/],
      [{ state: 'cut' }, /peer/],
      [{ peer: 'nobody', state: 'cut', direction: 'sideways' }, /direction: must be "both", "in" or "out"/],
      [{ peer: 'nobody', state: 'up', direction: 'in' }, /direction: is for a cut only/],
      [{ peer: 'nobody', state: 'cut', for: '10s' }, /unknown field "for"/],
    ];
    for (const [body, message] of cases) {
      const r = await api(daemon.url).post('/debug/links', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'INVALID_ARGUMENT');
      assert.match(r.body.error.message, message, JSON.stringify(body));
    }
    const cli = await runCli(daemon.url, 'debug', 'link', 'cut', 'nobody', '--direction', 'sideways');
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /sideways.*(both|in|out)/s);
    const list = await api(daemon.url).get('/debug/links');
    assert.deepEqual(list.body, { links: [] }, 'nothing was cut by the refused requests');
  });
});
