import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Runs `body` in a fresh process after loading the Docker client; prints what `body` returns, as JSON. */
function inFreshProcess(body: string): unknown {
  const client = join(__dirname, '..', '..', 'daemon', 'docker-client.js');
  const script = `
    const { createRequire } = require('node:module');
    const { connectDocker } = require(${JSON.stringify(client)});
    connectDocker('/nonexistent.sock');
    const dockerode = createRequire(require.resolve('dockerode'));
    const modem = createRequire(dockerode.resolve('docker-modem'));
    const files = { grpc: dockerode.resolve('@grpc/grpc-js'), protoLoader: dockerode.resolve('@grpc/proto-loader'), ssh2: modem.resolve('ssh2') };
    // Beside the stand-ins' own places in the cache: a real load brings the packages' other files.
    const loaded = () => Object.keys(require.cache).filter((f) => /node_modules\\/(ssh2|@grpc|protobufjs)\\//.test(f) && !Object.values(files).includes(f));
    process.stdout.write(JSON.stringify((() => { ${body} })()));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

test('the Docker client loads neither gRPC nor ssh2 until they are used', () => {
  assert.deepEqual(inFreshProcess('return loaded();'), []);
});

test('a deferred module still works when first used, and is the real one from then on', () => {
  const answer = inFreshProcess(`
    const grpc = require(files.grpc);
    const server = typeof grpc.Server;
    const credentials = typeof grpc.ServerCredentials.createInsecure;
    const protoLoader = typeof require(files.protoLoader).loadSync;
    const client = new (require(files.ssh2).Client)();
    const real = require(files.ssh2).Client;
    return { server, credentials, protoLoader, sameClient: client instanceof real, realLoaded: loaded().length > 0 };`);
  assert.deepEqual(answer, { server: 'function', credentials: 'function', protoLoader: 'function', sameClient: true, realLoaded: true });
});
