import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterCa, createNodeRequest, signNodeCertificate } from '../../../daemon/tls/ca';
import { fetchTrusting } from '../../../cli/ca-fetch';

test('the CLI trusts the CA of --ca / BICYCLE_CA / a context for an https:// host, and says which file it cannot read', async () => {
  const now = Date.now();
  const ca = await createClusterCa('c1', now, 3_600_000);
  const { keyPem, csrPem } = await createNodeRequest('n1');
  const cert = await signNodeCertificate(ca, { csrPem, nodeId: 'n1', address: '127.0.0.1:7070' }, now, 3_600_000);
  const server = createServer({ key: keyPem, cert }, (_req, res) => res.end('{"status":"ok"}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/healthz`;
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-ca-'));
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  try {
    const res = await fetchTrusting(join(dir, 'ca.crt'))(url);
    assert.deepEqual(await res.json(), { status: 'ok' });
    await assert.rejects(fetch(url), 'without the CA the server is refused');
    assert.throws(() => fetchTrusting(join(dir, 'missing.crt')), /cannot read the CA certificate .*missing\.crt \(--ca, BICYCLE_CA or the context's ca\)/);
  } finally {
    server.close();
  }
});
