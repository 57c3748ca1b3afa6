import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import {
  applyPortChanges, collectPublish, collectPublishRm, formatPort, formatPorts, parsePublish, parsePublishRm, samePorts,
} from '../../../cli/ports';
import type { PublishedPort } from '../../../cli/types';

const port = (published: number, target: number, more: Partial<PublishedPort> = {}): PublishedPort => ({
  published, target, protocol: 'tcp', mode: 'ingress', proxy: 'none', ...more,
});

/** Asserts `fn` is refused as a usage error whose message is exactly `message`. */
function refused(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

describe('--publish: short syntax', () => {
  it('PUBLISHED:TARGET publishes tcp in ingress mode without a PROXY header', () => {
    assert.deepEqual(parsePublish('8080:80'), port(8080, 80));
  });
  it('takes /tcp, in any case', () => {
    assert.deepEqual(parsePublish('8080:80/tcp'), port(8080, 80));
    assert.deepEqual(parsePublish('8080:80/TCP'), port(8080, 80));
  });
  it('takes options after a comma: mode, proxy, protocol', () => {
    assert.deepEqual(parsePublish('8080:80,proxy=v2'), port(8080, 80, { proxy: 'v2' }));
    assert.deepEqual(parsePublish('8080:80/tcp,mode=host,proxy=v1'), port(8080, 80, { mode: 'host', proxy: 'v1' }));
    assert.deepEqual(parsePublish('8080:80, mode=ingress , proxy=none'), port(8080, 80));
  });
  it('accepts ports 1 and 65535', () => {
    assert.deepEqual(parsePublish('1:65535'), port(1, 65535));
  });
});

describe('--publish: long syntax', () => {
  it("takes Docker's keys, in any order", () => {
    assert.deepEqual(parsePublish('published=8080,target=80,mode=host,protocol=tcp'), port(8080, 80, { mode: 'host' }));
    assert.deepEqual(parsePublish('target=80,published=8080'), port(8080, 80));
  });
  it('takes our proxy key', () => {
    assert.deepEqual(parsePublish('published=8443,target=443,proxy=v2'), port(8443, 443, { proxy: 'v2' }));
    assert.deepEqual(parsePublish('published=8443,target=443,mode=host,proxy=v1'), port(8443, 443, { mode: 'host', proxy: 'v1' }));
  });
  it('reads keys and the values of protocol, mode and proxy in any case', () => {
    assert.deepEqual(parsePublish('Published=8080,TARGET=80,Mode=HOST,proxy=V2'), port(8080, 80, { mode: 'host', proxy: 'v2' }));
  });
});

describe('--publish: bad input says what is wrong', () => {
  const cases: Array<[string, string]> = [
    ['8080:', 'target port missing: give PUBLISHED:TARGET, e.g. 8080:80'],
    [':80', 'published port missing: give PUBLISHED:TARGET, e.g. 8080:80'],
    ['80', 'published port missing: give PUBLISHED:TARGET, e.g. 8080:80'],
    ['published=8080', 'target port missing: give target=PORT'],
    ['target=80', 'published port missing: give published=PORT'],
    ['published=x,target=80', 'published port must be a whole number from 1 to 65535, got "x"'],
    ['published=x', 'published port must be a whole number from 1 to 65535, got "x"'],
    ['published=,target=80', 'published port must be a whole number from 1 to 65535, got ""'],
    ['8080:http', 'target port must be a whole number from 1 to 65535, got "http"'],
    ['0:80', 'published port must be a whole number from 1 to 65535, got "0"'],
    ['65536:80', 'published port must be a whole number from 1 to 65535, got "65536"'],
    ['8080:-1', 'target port must be a whole number from 1 to 65535, got "-1"'],
    ['8080:80.5', 'target port must be a whole number from 1 to 65535, got "80.5"'],
    ['8080-8081:80-81', 'published port must be a whole number from 1 to 65535, got "8080-8081" (port ranges are not supported)'],
    ['127.0.0.1:8080:80', 'expected PUBLISHED:TARGET, got "127.0.0.1:8080:80" (a host address cannot be given)'],
    ['8080:80/tcp/x', 'expected PUBLISHED:TARGET[/PROTOCOL], got "8080:80/tcp/x"'],
    ['8080:80/udp', 'protocol udp is not supported (only tcp)'],
    ['published=53,target=53,protocol=udp', 'protocol udp is not supported (only tcp)'],
    ['8080:80/sctp', 'protocol sctp is not supported (only tcp)'],
    ['8080:80/http', 'protocol must be tcp, got "http"'],
    ['8080:80,mode=global', 'mode must be ingress or host, got "global"'],
    ['8080:80,proxy=v3', 'proxy must be none, v1 or v2, got "v3"'],
    ['8080:80,proxy=', 'proxy must be none, v1 or v2, got ""'],
    ['8080:80,mode', 'expected KEY=VALUE, got "mode" (keys: published, target, protocol, mode, proxy)'],
    ['8080:80,=host', 'expected KEY=VALUE, got "=host" (keys: published, target, protocol, mode, proxy)'],
    ['8080:80,colour=red', 'unknown key "colour" (keys: published, target, protocol, mode, proxy)'],
    ['published=8080,target=80,name=web', 'unknown key "name" (keys: published, target, protocol, mode, proxy)'],
    ['8080:80,published=9090', 'published is given twice'],
    ['8080:80/tcp,protocol=tcp', 'protocol is given twice'],
    ['published=1,target=2,mode=host,mode=ingress', 'mode is given twice'],
  ];
  for (const [text, message] of cases) {
    it(`"${text}": ${message}`, () => refused(() => parsePublish(text), message));
  }
  it('an empty value shows the syntax', () => {
    for (const text of ['', ' ', ',']) {
      assert.throws(() => parsePublish(text), /^InvalidArgumentError: expected PUBLISHED:TARGET\[\/tcp\]/);
    }
  });
});

describe('repeated --publish / --publish-add', () => {
  it('collects every port in the order given', () => {
    let ports = collectPublish('8080:80');
    ports = collectPublish('published=8443,target=443,proxy=v2', ports);
    assert.deepEqual(ports, [port(8080, 80), port(8443, 443, { proxy: 'v2' })]);
  });
  it('refuses a published port given twice, whatever the target', () => {
    refused(() => collectPublish('8080:81', collectPublish('8080:80')), 'published port 8080 is given twice');
  });
});

describe('--publish-rm', () => {
  it('takes PUBLISHED, PUBLISHED:TARGET or the long syntax', () => {
    assert.deepEqual(parsePublishRm('8080'), { published: 8080 });
    assert.deepEqual(parsePublishRm('8080:80'), { published: 8080, target: 80 });
    assert.deepEqual(parsePublishRm('8080:80/tcp'), { published: 8080, target: 80 });
    assert.deepEqual(parsePublishRm('published=8080'), { published: 8080 });
    assert.deepEqual(parsePublishRm('published=8080,target=80,mode=host,proxy=v2'), { published: 8080, target: 80 });
  });
  const cases: Array<[string, string]> = [
    ['http', 'published port must be a whole number from 1 to 65535, got "http"'],
    ['0', 'published port must be a whole number from 1 to 65535, got "0"'],
    ['8080:', 'target port missing: give PUBLISHED:TARGET, e.g. 8080:80'],
    [':80', 'published port missing: give PUBLISHED:TARGET, e.g. 8080:80'],
    ['target=80', 'published port missing: give PUBLISHED, PUBLISHED:TARGET or published=PORT'],
    ['published=8080,mode=global', 'mode must be ingress or host, got "global"'],
    ['8080/udp', 'protocol udp is not supported (only tcp)'],
    ['8080,colour=red', 'unknown key "colour" (keys: published, target, protocol, mode, proxy)'],
  ];
  for (const [text, message] of cases) {
    it(`"${text}": ${message}`, () => refused(() => parsePublishRm(text), message));
  }
  it('refuses a published port given twice', () => {
    refused(() => collectPublishRm('8080:80', collectPublishRm('8080')), 'published port 8080 is given twice');
  });
});

describe('the new port list of an update', () => {
  const current = [port(8080, 80), port(8443, 443, { proxy: 'v2' })];

  it('adds a port, keeping the list in order of published port', () => {
    assert.deepEqual(applyPortChanges('web', current, [port(81, 81)], []), [port(81, 81), ...current]);
  });
  it('an added port replaces the one with the same published port', () => {
    assert.deepEqual(applyPortChanges('web', current, [port(8080, 8080, { mode: 'host' })], []), [port(8080, 8080, { mode: 'host' }), current[1]]);
  });
  it('removes by published port, or by published and target', () => {
    assert.deepEqual(applyPortChanges('web', current, [], [{ published: 8443 }]), [current[0]]);
    assert.deepEqual(applyPortChanges('web', current, [], [{ published: 8080, target: 80 }, { published: 8443 }]), []);
  });
  it('removals come before additions, so a port may be removed and added back changed', () => {
    assert.deepEqual(applyPortChanges('web', current, [port(8080, 9000)], [{ published: 8080 }]), [port(8080, 9000), current[1]]);
  });
  it('removing a port the service does not publish is an error naming it', () => {
    assert.throws(() => applyPortChanges('web', current, [], [{ published: 9090 }]), /^Error: --publish-rm 9090: web does not publish port 9090$/);
  });
  it('removing with a target the port does not go to is an error naming both', () => {
    assert.throws(
      () => applyPortChanges('web', current, [], [{ published: 8080, target: 81 }]),
      /^Error: --publish-rm 8080:81: web publishes port 8080 to target 80, not 81$/,
    );
  });
  it('does not change the current list', () => {
    const copy = structuredClone(current);
    applyPortChanges('web', current, [port(1, 1)], [{ published: 8080 }]);
    assert.deepEqual(current, copy);
  });
  it('compares lists whatever their order', () => {
    assert.equal(samePorts([current[1]!, current[0]!], current), true);
    assert.equal(samePorts(current, [current[0]!]), false);
    assert.equal(samePorts([port(1, 1)], [port(1, 1, { proxy: 'v1' })]), false);
  });
});

describe('the PORTS column', () => {
  it('shows ingress ports as docker does', () => {
    assert.equal(formatPort(port(8080, 80)), '*:8080->80/tcp');
  });
  it('shows host-mode ports without "*:" and marked (host)', () => {
    assert.equal(formatPort(port(8080, 80, { mode: 'host' })), '8080->80/tcp (host)');
  });
  it('notes a PROXY header', () => {
    assert.equal(formatPort(port(8443, 443, { proxy: 'v2' })), '*:8443->443/tcp (proxy v2)');
    assert.equal(formatPort(port(9000, 9000, { mode: 'host', proxy: 'v1' })), '9000->9000/tcp (host, proxy v1)');
  });
  it('lists every port in order of published port, blank when none', () => {
    assert.equal(formatPorts([port(8443, 443, { mode: 'host' }), port(80, 8080)]), '*:80->8080/tcp, 8443->443/tcp (host)');
    assert.equal(formatPorts([]), '');
    assert.equal(formatPorts(undefined), '');
  });
});
