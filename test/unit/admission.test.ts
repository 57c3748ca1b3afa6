import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGrant, caKeyRefusal, findJoinClash, isFromStranger, joinRefusal, rejoinRefusal, renewalRefusal } from '../../daemon/voting/admission';

const members = [
  { id: 'a1', name: 'host-1', address: '10.78.0.1:7070' },
  { id: 'b2', name: 'host-2', address: '10.78.0.2:7070' },
];
const conf = { voters: ['a1', 'b2'], learners: ['w9'] };

describe('admission: a join never takes a member\'s identity', () => {
  test('a new id, name and address is admitted', () => {
    assert.equal(findJoinClash(members, conf, { id: 'c3', name: 'host-3', address: '10.78.0.3:7070' }), null);
  });

  test('a join that claims a member\'s id is refused NODE_EXISTS, naming the id and its owner, even with the same name and address', () => {
    for (const node of [members[1]!, { id: 'b2', name: 'made-up', address: '10.78.0.9:7070' }]) {
      const clash = findJoinClash(members, conf, node);
      assert.equal(clash?.code, 'NODE_EXISTS');
      assert.match(clash!.message, /node id b2 is already member host-2 \(10\.78\.0\.2:7070\)'s/);
      assert.match(clash!.message, /does not join again/);
    }
  });

  test('an id the Raft configuration holds without a node row is refused too', () => {
    const clash = findJoinClash(members, conf, { id: 'w9', name: 'w', address: '10.78.0.9:7070' });
    assert.match(clash!.message, /node id w9 is already a member of the Raft configuration/);
  });

  test('a join that claims a member\'s name is refused NODE_EXISTS, naming the name and the member', () => {
    const clash = findJoinClash(members, conf, { id: 'c3', name: 'host-1', address: '10.78.0.3:7070' });
    assert.equal(clash?.code, 'NODE_EXISTS');
    assert.match(clash!.message, /a node named host-1 is already a member \(id a1, 10\.78\.0\.1:7070\)/);
  });

  test('a join that claims a member\'s address is refused NODE_EXISTS, naming the address and the member', () => {
    const clash = findJoinClash(members, conf, { id: 'c3', name: 'host-3', address: '10.78.0.2:7070' });
    assert.equal(clash?.code, 'NODE_EXISTS');
    assert.match(clash!.message, /the address 10\.78\.0\.2:7070 is already member host-2's \(id b2\)/);
  });
});

describe('admission: messages from strangers are dropped where they enter', () => {
  const registered = (id: string) => members.some((m) => m.id === id);

  test('a removed or never-joined node\'s vote requests and answers are dropped', () => {
    for (const type of ['vote', 'preVote', 'voteResp', 'appendResp', 'heartbeatResp', 'timeoutNow']) {
      assert.equal(isFromStranger(type, 'x', conf, registered), true, type);
    }
  });

  test('members of the configuration and registered nodes are no strangers', () => {
    assert.equal(isFromStranger('vote', 'a1', conf, registered), false);
    assert.equal(isFromStranger('appendResp', 'w9', conf, registered), false, 'a learner of the configuration');
    assert.equal(isFromStranger('appendResp', 'b2', { voters: ['a1'], learners: [] }, registered), false, 'registered, not yet in the configuration');
  });

  test('a stranger\'s leader messages go on to the core (it may be a voter this node has not learned of yet)', () => {
    for (const type of ['append', 'heartbeat', 'snapshot']) assert.equal(isFromStranger(type, 'x', conf, registered), false, type);
  });

  test('a node that knows no configuration yet (a joiner) has no strangers', () => {
    assert.equal(isFromStranger('vote', 'x', { voters: [], learners: [] }, () => false), false);
  });
});

describe('admission: token, revocation, rejoin and what a member may ask for', () => {
  const node = { id: 'c3', name: 'host-3', address: '10.78.0.3:7070', role: 'manager' as const };

  test('a join with another cluster\'s token, or before the cluster has one, is refused PERMISSION_DENIED saying where to get one', () => {
    for (const held of ['BCT2-right', undefined]) {
      const refused = joinRefusal({ token: 'BCT2-wrong', node }, held, () => false);
      assert.equal(refused?.code, 'PERMISSION_DENIED');
      assert.match(refused!.message, /join token is not valid for this cluster.*bicycle node join-token/);
    }
    assert.equal(joinRefusal({ token: 'BCT2-right', node }, 'BCT2-right', () => false), null);
  });

  test('a manager cannot join on a worker session: a voter holds the whole log', () => {
    const refused = joinRefusal({ token: 't', node, link: 'session' }, 't', () => false);
    assert.equal(refused?.code, 'INVALID_ARGUMENT');
    assert.match(refused!.message, /only a worker joins with link "session"/);
    assert.equal(joinRefusal({ token: 't', node: { ...node, role: 'worker' }, link: 'session' }, 't', () => false), null);
  });

  test('a removed node id is refused even with the right token: its certificates are revoked', () => {
    const refused = joinRefusal({ token: 't', node }, 't', (id) => id === 'c3');
    assert.equal(refused?.code, 'PERMISSION_DENIED');
    assert.match(refused!.message, /node id c3 was removed from this cluster.*empty data directory/);
  });

  test('a rejoin renews only a member that comes back as itself, with a certificate request', () => {
    const member = { id: 'c3', name: 'host-3', address: '10.78.0.3:7070' };
    assert.equal(rejoinRefusal(member, { node, csr: '-----BEGIN CERTIFICATE REQUEST-----' }), null);
    assert.equal(rejoinRefusal(undefined, { node, csr: 'x' })?.code, 'NODE_NOT_FOUND');
    assert.match(rejoinRefusal({ ...member, address: '10.78.0.9:7070' }, { node, csr: 'x' })!.message, /no member host-3 with id c3 at 10\.78\.0\.3:7070 to renew/);
    assert.deepEqual(rejoinRefusal(member, { node }), { code: 'INVALID_ARGUMENT', message: 'a rejoin needs a certificate request (csr)' });
  });

  test('a renewal or the CA key goes to a member that was not removed; the key to a manager only, from a leader that holds it', () => {
    const manager = { id: 'c3', name: 'host-3', address: 'a:1', role: 'manager' as const };
    assert.equal(renewalRefusal('c3', { revoked: false, member: manager }), null);
    assert.match(renewalRefusal('c3', { revoked: true, member: manager })!.message, /c3 was removed from this cluster/);
    assert.equal(renewalRefusal('c3', { revoked: false, member: undefined })?.code, 'NODE_NOT_FOUND');
    assert.equal(caKeyRefusal('c3', { revoked: false, member: manager }, true), null);
    assert.match(caKeyRefusal('c3', { revoked: false, member: { ...manager, role: 'worker' } }, true)!.message, /host-3 is a worker: the CA key is for managers only/);
    assert.equal(caKeyRefusal('c3', { revoked: false, member: manager }, false)?.code, 'UNAVAILABLE');
  });

  test('a grant carries the CA key to a manager and only the CA certificate to a worker', () => {
    const facts = { clusterId: 'k1', clusterSecret: 's', leaderId: 'a1', members: { a1: '10.78.0.1:7070' }, certificate: 'CERT', ca: { certPem: 'CA', keyPem: 'KEY' } };
    assert.deepEqual(buildGrant({ ...facts, role: 'manager' }), { clusterId: 'k1', clusterSecret: 's', leaderId: 'a1', members: { a1: '10.78.0.1:7070' }, certificate: 'CERT', ca: { certPem: 'CA', keyPem: 'KEY' } });
    assert.deepEqual(buildGrant({ ...facts, role: 'worker' }).ca, { certPem: 'CA' });
    assert.deepEqual(buildGrant({ ...facts, role: 'worker', certificate: undefined, ca: undefined, clusterId: undefined }), { clusterId: '', clusterSecret: 's', leaderId: 'a1', members: { a1: '10.78.0.1:7070' } });
  });
});
