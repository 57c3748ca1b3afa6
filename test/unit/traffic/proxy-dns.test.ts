import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyHeaderV1, proxyHeaderV2 } from '../../../daemon/traffic/proxy-protocol';
import { resolveName, upstreamResolvers } from '../../../daemon/traffic/dns-answer';

describe('PROXY protocol headers', () => {
  const ends = { sourceAddress: '::ffff:10.78.0.254', sourcePort: 51000, destinationAddress: '10.78.0.1', destinationPort: 8080 };

  test('v1 is one text line naming the client first', () => {
    assert.equal(proxyHeaderV1(ends).toString('latin1'), 'PROXY TCP4 10.78.0.254 10.78.0.1 51000 8080\r\n');
    assert.equal(proxyHeaderV1({ ...ends, destinationAddress: '::1' }).toString('latin1'), 'PROXY UNKNOWN\r\n');
  });

  test('v2 is the 12-byte signature, PROXY over TCP4, 12 bytes of addresses and ports', () => {
    const header = proxyHeaderV2(ends);
    assert.equal(header.length, 28);
    assert.equal(header.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
    assert.deepEqual([...header.subarray(12, 16)], [0x21, 0x11, 0, 12]);
    assert.deepEqual([...header.subarray(16, 24)], [10, 78, 0, 254, 10, 78, 0, 1]);
    assert.equal(header.readUInt16BE(24), 51000);
    assert.equal(header.readUInt16BE(26), 8080);
  });

  test('v2 over IPv6 carries 16-byte addresses', () => {
    const header = proxyHeaderV2({ sourceAddress: '2001:db8::1', sourcePort: 1, destinationAddress: '::1', destinationPort: 2 });
    assert.equal(header[13], 0x21);
    assert.equal(header.readUInt16BE(14), 36);
    assert.equal(header.subarray(16, 32).toString('hex'), '20010db8000000000000000000000001');
    assert.equal(header.subarray(32, 48).toString('hex'), '00000000000000000000000000000001');
  });
});

describe('service names', () => {
  const services = new Set(['web', 'Api']);

  test('a service resolves by its name and in the bicycle domain, to the node\'s own gateway', () => {
    assert.deepEqual(resolveName('web', 'A', services, '172.17.0.1'), { kind: 'address', address: '172.17.0.1' });
    assert.deepEqual(resolveName('WEB.bicycle.', 'A', services, '172.17.0.1'), { kind: 'address', address: '172.17.0.1' });
    assert.deepEqual(resolveName('api.bicycle', 'A', services, '172.17.0.1'), { kind: 'address', address: '172.17.0.1' });
    assert.deepEqual(resolveName('web', 'AAAA', services, '172.17.0.1'), { kind: 'empty' });
  });

  test('an unknown name in the bicycle domain does not exist; other names go upstream', () => {
    assert.deepEqual(resolveName('gone.bicycle', 'A', services, '172.17.0.1'), { kind: 'nxdomain' });
    assert.deepEqual(resolveName('example.org', 'A', services, '172.17.0.1'), { kind: 'forward' });
    assert.deepEqual(resolveName('web.example.org', 'A', services, '172.17.0.1'), { kind: 'forward' });
  });

  test('upstream resolvers come from resolv.conf, without this resolver itself', () => {
    assert.deepEqual(upstreamResolvers('search x\nnameserver 172.17.0.1\nnameserver 10.0.0.53\n# nameserver 9.9.9.9\n', '172.17.0.1'), ['10.0.0.53']);
  });
});
