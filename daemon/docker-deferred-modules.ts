import Module, { createRequire } from 'node:module';

/**
 * dockerode loads, at its own start, modules for features Bicycle does not
 * use: gRPC and protobuf for BuildKit sessions (`dockerode/lib/session.js`,
 * image builds with credentials) and ssh2 for `ssh://` engines
 * (`docker-modem/lib/ssh.js`; Bicycle speaks to a Unix socket). That is
 * about 5 MiB of heap in every thread that talks to Docker, and ssh2
 * instantiates a WebAssembly module with 16 MiB of memory. Each is put off
 * here until it is first used: its place in the module cache holds a
 * stand-in that loads the real module on first use and forwards to it, so
 * the features still work, only later.
 *
 * Runs when this module loads, which must be before dockerode is first
 * required: docker-client.ts imports it first. A module already loaded is
 * left as it is.
 */
export function deferDockerodeExtras(): void {
  const dockerode = createRequire(require.resolve('dockerode'));
  const modem = createRequire(dockerode.resolve('docker-modem'));
  // session.js reads the namespaces' members only when a session starts.
  deferModule(dockerode.resolve('@grpc/grpc-js'), namespaceStandIn);
  deferModule(dockerode.resolve('@grpc/proto-loader'), namespaceStandIn);
  // ssh.js reads `require('ssh2').Client` at load and calls `new Client()` when an ssh:// engine is dialled.
  deferModule(modem.resolve('ssh2'), (load) => ({ Client: constructorStandIn(() => (load() as { Client: new (...args: unknown[]) => object }).Client) }));
}

type Load = () => unknown;

function deferModule(file: string, standIn: (load: Load) => unknown): void {
  if (require.cache[file]) return;
  const placeholder = new Module(file);
  placeholder.filename = file;
  placeholder.loaded = true;
  let real: unknown;
  const load: Load = () => {
    if (real === undefined) {
      if (require.cache[file] === placeholder) delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  placeholder.exports = standIn(load);
  require.cache[file] = placeholder;
}

/** Every member read loads the module. */
function namespaceStandIn(load: Load): unknown {
  return new Proxy(
    {},
    {
      get: (_, key) => Reflect.get(load() as object, key),
      has: (_, key) => Reflect.has(load() as object, key),
      ownKeys: () => Reflect.ownKeys(load() as object),
      getOwnPropertyDescriptor: (_, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load() as object, key);
        return descriptor && { ...descriptor, configurable: true };
      },
    },
  );
}

/** A constructor that loads the module when first called with `new`. */
function constructorStandIn(real: () => new (...args: unknown[]) => object): new (...args: unknown[]) => object {
  return function Deferred(...args: unknown[]) {
    return new (real())(...args);
  } as unknown as new (...args: unknown[]) => object;
}

deferDockerodeExtras();
