#!/usr/bin/env node
import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { Command as CliCommand } from 'commander';
import { loadConfig, type DaemonConfig, type Overrides } from './config';
import { BicycleError, describeError } from './errors';
import { openDatabase } from '../database/open-database';
import { getLocal, setLocal } from '../database/queries';
import { createThreadLogger } from './logger';
import { Supervisor } from './supervisor';
import type { ThreadName } from './messages';
import { mintLocalAdminToken, runTokenCommand } from './token-bootstrap';
import { listenForKey } from './secrets-key';
import { openMemoryStore, removeMemoryStore, removeNodeContainers } from './memory-store';

/**
 * bicycled: loads the configuration, opens and migrates the database, then
 * starts and supervises the four threads (monitoring first so that every
 * other thread's log lines have somewhere to go; REST last so that the API
 * answers only once the rest is up). SIGTERM/SIGINT stop them in the reverse
 * order and exit 0.
 */
function parseFlags(argv: string[]): { configFile?: string; flags: Overrides; init: boolean } {
  const program = new CliCommand('bicycled')
    .description('Bicycle daemon: keeps services at their replica count on this host and its cluster')
    .option('-c, --config <file>', 'configuration file (default: config.json beside the program, if present)')
    .option('--name <name>', 'this node\'s name (BICYCLE_NAME)')
    .option('--listen <host:port>', 'REST listener (BICYCLE_LISTEN)')
    .option('--advertise <host:port>', 'address other nodes and clients use (BICYCLE_ADVERTISE)')
    .option('--data-dir <dir>', 'database and log directory (BICYCLE_DATA_DIR)')
    .option('--store <store>', 'persisted (SQLite in the data directory, the default) or memory (on a RAM filesystem: every start is a new node) (BICYCLE_STORE)')
    .option('--docker-socket <path>', 'local Docker engine socket (BICYCLE_DOCKER_SOCKET)')
    .option('--log-level <level>', 'error, warn, info or debug (BICYCLE_LOG_LEVEL)')
    .option('--init', 'found a new cluster (the default when --join is not given)')
    .option('--join <host:port>', 'join the cluster of this member, on first start (BICYCLE_JOIN)')
    .option('--token <token>', 'the join token from `bicycle node join-token` (BICYCLE_JOIN_TOKEN; BICYCLE_TOKEN is the CLI\'s API token)')
    .option('--role <role>', 'manager (votes) or worker (only runs tasks) (BICYCLE_ROLE)')
    .option('--insecure', 'off loopback, serve plain HTTP and talk to peers in clear instead of (mutual) TLS (BICYCLE_INSECURE)')
    .option('--tls-cert <file>', 'a PEM certificate (with its chain) the API listener presents instead of the node\'s own (BICYCLE_TLS_CERT)')
    .option('--tls-key <file>', 'the key of --tls-cert (BICYCLE_TLS_KEY)')
    .option('--autolock', 'keep the secrets key file locked by a passphrase, given in BICYCLE_UNLOCK_KEY or --unlock-key-file, or later with `bicycle node unlock` (BICYCLE_AUTOLOCK)')
    .option('--unlock-key-file <file>', 'a file whose first line is the autolock passphrase (BICYCLE_UNLOCK_KEY_FILE)')
    .option('--debug-links', 'let an admin cut this node\'s links to peers with POST /debug/links, for partition experiments (BICYCLE_DEBUG_LINKS)')
    .showHelpAfterError()
    .parse(argv);
  const o = program.opts<Record<string, string | undefined>>();
  const insecure = (o as Record<string, unknown>).insecure === true ? 'true' : undefined;
  const debugLinks = (o as Record<string, unknown>).debugLinks === true ? 'true' : undefined;
  const autolock = (o as Record<string, unknown>).autolock === true ? 'true' : undefined;
  return {
    configFile: o.config,
    flags: {
      name: o.name,
      listen: o.listen,
      advertise: o.advertise,
      dataDir: o.dataDir,
      store: o.store,
      dockerSocket: o.dockerSocket,
      logLevel: o.logLevel,
      join: o.join,
      token: o.token,
      role: o.role,
      insecure,
      tlsCert: o.tlsCert,
      tlsKey: o.tlsKey,
      debugLinks,
      autolock,
      unlockKeyFile: o.unlockKeyFile,
    },
    init: Boolean(o.init),
  };
}

/**
 * The autolock passphrase of this start (docs/security.md, "Autolock"):
 * BICYCLE_UNLOCK_KEY, or the first line of --unlock-key-file. The variable
 * is removed from this process's environment once read, so no thread or
 * child process inherits it.
 */
function readUnlockPassphrase(config: DaemonConfig): string | undefined {
  const fromEnv = process.env.BICYCLE_UNLOCK_KEY;
  delete process.env.BICYCLE_UNLOCK_KEY;
  if (config.unlockKeyFile) {
    try {
      const line = readFileSync(config.unlockKeyFile, 'utf8').split('\n')[0]!.trim();
      if (!line) throw new Error('its first line is empty');
      return line;
    } catch (error) {
      throw new BicycleError('INVALID_ARGUMENT', `cannot read the autolock passphrase from --unlock-key-file ${config.unlockKeyFile}: ${(error as Error).message}`);
    }
  }
  return fromEnv || undefined;
}

function defaultConfigFile(): string | undefined {
  const beside = join(__dirname, '..', '..', 'config.json');
  return existsSync(beside) ? beside : undefined;
}

/**
 * This node's id: made once, kept in the database so a restart is the same
 * node. In a fixed cluster (peers in the configuration) it is the node's name,
 * so that every member can name every other before any has started.
 */
function ensureNodeId(databaseFile: string, store: DaemonConfig['store'], fixedId?: string): { nodeId: string; fresh: boolean } {
  const db = openDatabase(databaseFile, { migrate: true });
  try {
    setLocal(db, 'store', store);
    let nodeId = getLocal(db, 'node_id');
    const fresh = !nodeId;
    if (!nodeId) {
      nodeId = fixedId ?? randomBytes(8).toString('hex');
      setLocal(db, 'node_id', nodeId);
    }
    return { nodeId, fresh };
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'token') return runTokenCommand(process.argv.slice(3));
  const { configFile, flags, init } = parseFlags(process.argv);
  let config: DaemonConfig;
  try {
    config = loadConfig({ file: configFile ?? process.env.BICYCLE_CONFIG ?? defaultConfigFile(), env: process.env, flags });
  } catch (error) {
    process.stderr.write(`bicycled: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (init && config.join) {
    process.stderr.write('bicycled: invalid configuration: --init founds a new cluster and --join joins one; give only one\n');
    process.exit(2);
  }
  config = { ...config, dataDir: resolve(config.dataDir) };
  // --store memory: everything this node keeps lives in a private directory on a RAM filesystem
  // (docs/daemon.md, "The state store"); the threads see it as their data directory.
  const memory = config.store === 'memory' ? openMemoryStore(config.dataDir) : undefined;
  const stateDir = memory?.dir ?? config.dataDir;
  mkdirSync(stateDir, { recursive: true });
  const databaseFile = join(stateDir, 'bicycle.db');
  const { nodeId, fresh } = ensureNodeId(databaseFile, config.store, config.peers ? config.name : undefined);
  if (fresh && !config.join) {
    // A founder's first start: the cluster's first admin token, shown here once (docs/security.md); never in the daemon log.
    const name = config.peers ? `admin-${config.name}` : 'admin';
    const token = mintLocalAdminToken(databaseFile, name, 'init');
    process.stdout.write(`bicycled: the first admin token of this cluster (${name}), shown only now; keep it safe:\nbicycled: admin token ${token}\n`);
  }

  const log = createThreadLogger('main', config.logLevel).child({ node: config.name });
  // Before the threads start this node has no container, so the directory can go; after, only once its containers
  // are removed: otherwise it is left to the next start, as it names the node that owns them.
  let memoryCleaned = true;
  if (memory) process.on('exit', () => memoryCleaned && removeMemoryStore(memory.dir));
  // Each thread collects its heap when quiet after a burst (daemon/heap-return.ts), with V8's collector:
  // the flag gives it to every context made from now on, so to the threads' and not to this one.
  setFlagsFromString('--expose-gc');
  let shuttingDown: Promise<void> | undefined;
  const supervisor = new Supervisor({
    base: { config: { ...config, dataDir: stateDir }, databaseFile, nodeId, unlockPassphrase: readUnlockPassphrase(config) },
    log,
    onFatal(thread, error) {
      log.error('fatal error; shutting down', { thread, error: describeError(error) });
      if (error.stack) log.debug('fatal error stack', { thread, stack: error.stack });
      process.stderr.write(`bicycled: ${error.message}\n`);
      void shutdown(1);
    },
  });
  // This thread keeps the opened key of a locked node too, so that it outlives a restart of every thread.
  listenForKey();
  const startOrder: ThreadName[] = ['monitoring', 'voting', 'deployment', 'rest'];
  const shutdown = (code: number): Promise<void> => {
    shuttingDown ??= (async () => {
      log.info('stopping', { signalled: code === 0 });
      // Monitoring last, and after a memory node's containers are gone, so that their removal is in the log.
      await supervisor.stop([...startOrder].reverse().filter((t) => t !== 'monitoring'));
      if (memory) memoryCleaned = await removeOwnContainers();
      await supervisor.stop(['monitoring']);
      process.exit(code);
    })();
    return shuttingDown;
  };
  // A memory node's containers cannot be adopted by its next start (another node): they go with it.
  const removeOwnContainers = async (): Promise<boolean> => {
    try {
      const removed = await removeNodeContainers(config.dockerSocket, nodeId, config.deployment.stopGracePeriodMs);
      log.info('memory store: removed this node\'s containers', { containers: removed });
      return true;
    } catch (error) {
      log.error('memory store: cannot remove this node\'s containers; the next start on this data directory will', { error: (error as Error).message });
      return false;
    }
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGUSR2', () => void supervisor.logHeaps());

  memoryCleaned = false;
  for (const thread of startOrder) await supervisor.start(thread);
  if (memory?.previousNodeId) {
    // A killed memory node's containers: nobody's now (this start is another node), and the agent never lists them.
    const removed = await removeNodeContainers(config.dockerSocket, memory.previousNodeId, config.deployment.stopGracePeriodMs);
    log.info('removed the containers of the memory node this data directory ran before', { previous: memory.previousNodeId, containers: removed });
  }
  log.info('bicycled is up', { listen: config.listen, dataDir: config.dataDir, store: config.store, ...(memory ? { stateDir } : {}), nodeId });
}

main().catch((error: unknown) => {
  const message = error instanceof BicycleError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`bicycled: ${message}\n`);
  process.exit(1);
});
