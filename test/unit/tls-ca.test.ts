import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type TLSSocket } from 'node:tls';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateInfo, createClusterCa, createNodeRequest, fingerprintOf, isSignedBy, renewAtMs, signNodeCertificate } from '../../daemon/tls/ca';
import { formatJoinToken, JOIN_TOKEN_PATTERN, newJoinToken, parseJoinToken } from '../../daemon/tls/join-token';
import { NodeTlsFiles } from '../../daemon/tls/node-files';
import { caKeyAction, keyMatchesCertificate } from '../../daemon/tls/ca-key-holder';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

async function nodeCert(ca: { certPem: string; keyPem: string }, nodeId: string, address: string, lifetimeMs = 90 * DAY) {
  const { keyPem, csrPem } = await createNodeRequest(nodeId);
  return { keyPem, certPem: await signNodeCertificate(ca, { csrPem, nodeId, address }, NOW, lifetimeMs) };
}

test('the cluster CA is a self-signed P-256 CA certificate named after the cluster', async () => {
  const ca = await createClusterCa('c0ffee', NOW, 3650 * DAY);
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.subject, 'CN=bicycle cluster CA c0ffee');
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(cert.verify(cert.publicKey));
  assert.equal(new Date(cert.validTo).getTime(), NOW + 3650 * DAY);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('a node certificate names the node id and its address, and is signed by the CA only', async () => {
  const ca = await createClusterCa('c1', NOW, 3650 * DAY);
  const other = await createClusterCa('c2', NOW, 3650 * DAY);
  const node = await nodeCert(ca, 'a1b2c3d4e5f60718', '10.78.0.2:7070', 60_000);
  const cert = new X509Certificate(node.certPem);
  assert.equal(cert.subject, 'CN=a1b2c3d4e5f60718');
  assert.equal(cert.subjectAltName, 'DNS:a1b2c3d4e5f60718, IP Address:10.78.0.2');
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  assert.equal(await isSignedBy(node.certPem, ca.certPem), true);
  assert.equal(await isSignedBy(node.certPem, other.certPem), false);
  const info = certificateInfo(node.certPem);
  assert.equal(info.commonName, 'a1b2c3d4e5f60718');
  assert.equal(info.notAfterMs, NOW + 60_000);
  assert.equal(info.notBeforeMs, NOW - 6_000, 'backdated a tenth of a short lifetime for clock skew');
  assert.equal(renewAtMs(info), NOW - 6_000 + (66_000 * 2) / 3);
  const again = await nodeCert(ca, 'a1b2c3d4e5f60718', '10.78.0.2:7070');
  assert.notEqual(certificateInfo(again.certPem).serial, info.serial, 'every certificate has its own serial');
});

test('the CA signs whatever node id it is told, not what the request asks for, and refuses a request whose signature does not verify', async () => {
  const ca = await createClusterCa('c1', NOW, 3650 * DAY);
  const { csrPem } = await createNodeRequest('i-claim-to-be-the-leader');
  const certPem = await signNodeCertificate(ca, { csrPem, nodeId: 'real-id', address: 'node-3.example:7070' }, NOW, DAY);
  assert.equal(new X509Certificate(certPem).subjectAltName, 'DNS:real-id, DNS:node-3.example');
  await assert.rejects(signNodeCertificate(ca, { csrPem: 'nonsense', nodeId: 'x', address: '10.0.0.1:1' }, NOW, DAY), { code: 'INVALID_ARGUMENT', message: /not a PEM PKCS#10/ });
  const b64 = csrPem.split('\n').filter((l) => !l.startsWith('-----')).join('');
  const der = Buffer.from(b64, 'base64');
  der[der.length - 5] ^= 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(signNodeCertificate(ca, { csrPem: tampered, nodeId: 'x', address: '10.0.0.1:1' }, NOW, DAY), { code: 'INVALID_ARGUMENT' });
});

test('the fingerprint is the SHA-256 of the DER certificate, as openssl and Node print it', async () => {
  const ca = await createClusterCa('c1', NOW, DAY);
  const fp = fingerprintOf(ca.certPem);
  assert.match(fp, /^sha256:[0-9a-f]{64}$/);
  assert.equal(fp, `sha256:${new X509Certificate(ca.certPem).fingerprint256.replace(/:/g, '').toLowerCase()}`);
  assert.notEqual(fingerprintOf((await createClusterCa('c1', NOW, DAY)).certPem), fp);
});

test('join tokens carry the cluster id, the CA fingerprint and a secret, and parse back', () => {
  const fp = `sha256:${'ab'.repeat(32)}`;
  const token = newJoinToken('0123abcd', fp);
  assert.match(token, /^BCT2-0123abcd-(ab){32}-[A-Za-z0-9_-]{22}$/);
  assert.match(token, JOIN_TOKEN_PATTERN);
  const parsed = parseJoinToken(token);
  assert.equal(parsed.clusterId, '0123abcd');
  assert.equal(parsed.caFingerprint, fp);
  assert.equal(formatJoinToken(parsed), token);
  assert.notEqual(newJoinToken('0123abcd', fp), token, 'a fresh secret every time');
  // A secret in base64url may hold dashes.
  assert.deepEqual(parseJoinToken(`BCT2-ff-${'0'.repeat(64)}-a-b_c`), { clusterId: 'ff', caFingerprint: `sha256:${'0'.repeat(64)}`, secret: 'a-b_c' });
  assert.deepEqual(parseJoinToken('BCT1-ff-secret'), { clusterId: 'ff', caFingerprint: null, secret: 'secret' });
  assert.throws(() => parseJoinToken('SWMTKN-1-abc'), { code: 'INVALID_ARGUMENT', message: /BCT2-<cluster id>-<CA sha256>-<secret>/ });
  assert.throws(() => parseJoinToken(`BCT2-ff-${'0'.repeat(63)}-s`), { code: 'INVALID_ARGUMENT' });
});

test('keys are written with mode 0600, certificates readable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bicycle-tls-'));
  const files = new NodeTlsFiles(dir);
  assert.equal(files.ca(), undefined);
  const ca = await createClusterCa('c1', NOW, DAY);
  files.writeCa(ca);
  files.writeNode(await nodeCert(ca, 'n1', '127.0.0.1:1'));
  assert.equal(statSync(files.caKeyFile).mode & 0o777, 0o600);
  assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(files.caCertFile).mode & 0o777, 0o644);
  assert.deepEqual(files.ca(), ca);
  assert.equal(certificateInfo(files.node()!.certPem).commonName, 'n1');
});

/** Opens a TLS connection to `port` with `options`; resolves with whether both sides got to talk, and the server's view of the client. */
async function handshake(serverOptions: object, clientOptions: object): Promise<{ ok: boolean; error?: string; peer?: string; authorized?: boolean }> {
  let seen: { peer?: string; authorized?: boolean } = {};
  const server = createServer({ requestCert: true, rejectUnauthorized: true, ...serverOptions }, (socket: TLSSocket) => {
    seen = { peer: String(socket.getPeerCertificate().subject?.CN), authorized: socket.authorized };
    socket.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, servername: undefined, ...clientOptions });
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('end', () => resolve({ ok: data === 'hello', ...seen }));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, error: error.code ?? error.message }));
    });
  } finally {
    server.close();
  }
}

test('mutual TLS with node certificates: both sides verify, a stranger\'s certificate or none is refused in the handshake', async () => {
  const ca = await createClusterCa('c1', NOW - DAY, 3650 * DAY);
  const stranger = await createClusterCa('evil', NOW - DAY, 3650 * DAY);
  const realNow = Date.now();
  const server = await createNodeRequest('server-node').then(async ({ keyPem, csrPem }) => ({ key: keyPem, cert: await signNodeCertificate(ca, { csrPem, nodeId: 'server-node', address: '127.0.0.1:7070' }, realNow, DAY) }));
  const client = await createNodeRequest('client-node').then(async ({ keyPem, csrPem }) => ({ key: keyPem, cert: await signNodeCertificate(ca, { csrPem, nodeId: 'client-node', address: '127.0.0.2:7070' }, realNow, DAY) }));
  const selfMade = await createNodeRequest('client-node').then(async ({ keyPem, csrPem }) => ({ key: keyPem, cert: await signNodeCertificate(stranger, { csrPem, nodeId: 'client-node', address: '127.0.0.2:7070' }, realNow, DAY) }));
  const serverOptions = { ...server, ca: [ca.certPem] };

  assert.deepEqual(await handshake(serverOptions, { ...client, ca: [ca.certPem] }), { ok: true, peer: 'client-node', authorized: true });
  const noCa = await handshake(serverOptions, { ...client });
  assert.equal(noCa.ok, false);
  assert.match(String(noCa.error), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/, 'a client without the CA refuses the server');
  assert.equal((await handshake(serverOptions, { ca: [ca.certPem] })).ok, false, 'a client without a certificate is refused');
  assert.equal((await handshake(serverOptions, { ...selfMade, ca: [ca.certPem] })).ok, false, 'a certificate of another CA is refused');
});

test('the CA key follows the role: a manager without it fetches it, a worker with it drops it; a key is checked against the CA certificate', async () => {
  assert.equal(caKeyAction('manager', false), 'fetch');
  assert.equal(caKeyAction('manager', true), 'none');
  assert.equal(caKeyAction('worker', true), 'drop');
  assert.equal(caKeyAction('worker', false), 'none');
  assert.equal(caKeyAction(undefined, false), 'none');
  const ca = await createClusterCa('c1', Date.now(), 3_600_000);
  const other = await createClusterCa('c2', Date.now(), 3_600_000);
  assert.equal(keyMatchesCertificate(ca.keyPem, ca.certPem), true);
  assert.equal(keyMatchesCertificate(other.keyPem, ca.certPem), false);
});
