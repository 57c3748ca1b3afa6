import type Database from 'better-sqlite3';
import { createRaftTables } from './raft-schema';

/**
 * Versioned migrations. Each runs once, in order, in its own transaction; the
 * version reached is kept in SQLite's `user_version`. Never edit a migration
 * that has shipped: add a new one.
 */
type Migration = string | ((db: Database.Database) => void);

const MIGRATIONS: readonly Migration[] = [
  // 1: the replicated entity tables, the command log and node-local tables.
  `
  -- Replicated cluster-wide values (the cluster id).
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- Node-local values, never replicated: this node's id, the leader and term it knows, the applied index.
  CREATE TABLE local_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );


  CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    address      TEXT NOT NULL,
    role         TEXT NOT NULL,
    status       TEXT NOT NULL,
    availability TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
  );

  CREATE TABLE services (
    name          TEXT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    image         TEXT NOT NULL,
    command       TEXT,
    env           TEXT NOT NULL,
    labels        TEXT NOT NULL,
    replicas      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    spec_version  INTEGER NOT NULL,
    rebalance     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );

  CREATE TABLE tasks (
    id             TEXT PRIMARY KEY,
    service_name   TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    slot           INTEGER NOT NULL,
    spec_version   INTEGER NOT NULL,
    node_id        TEXT,
    state          TEXT NOT NULL,
    desired_state  TEXT NOT NULL,
    container_id   TEXT,
    error          TEXT,
    exit_code      INTEGER,
    started_at     INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  );
  CREATE INDEX tasks_by_service ON tasks(service_name, slot);
  CREATE INDEX tasks_by_node ON tasks(node_id);

  -- Node-local, not replicated: the monitoring thread's latest sample per container.
  CREATE TABLE container_stats (
    container_id TEXT PRIMARY KEY,
    task_id      TEXT,
    cpu_percent  REAL NOT NULL,
    memory_bytes INTEGER NOT NULL,
    sampled_at   INTEGER NOT NULL
  );
  `,
  // 2: the Raft log, hard state and snapshot (the voting thread's storage; database/raft-schema.ts).
  createRaftTables,
  // 3: published ports, a JSON array of normalised ports (database/ports.ts) in order of published port.
  `ALTER TABLE services ADD COLUMN ports TEXT NOT NULL DEFAULT '[]'`,
  // 4: the ids of recently applied requests with their results, so a retried request applies once (database/applied-requests.ts).
  `
  CREATE TABLE applied_requests (
    request_id  TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    log_index   INTEGER NOT NULL,
    result      TEXT NOT NULL
  );
  CREATE INDEX applied_requests_by_index ON applied_requests(log_index);
  `,
  // 5: what a node cut off from the leader does with the service's replicas ('stop' | 'keep'); NULL: the default rule (database/on-disconnect.ts).
  `ALTER TABLE services ADD COLUMN on_disconnect TEXT`,
  // 6: health checks, lifecycle policies, update status, spec versions (database/lifecycle.ts, docs/deployment.md).
  `
  -- The health check given (JSON, database/lifecycle.ts HealthcheckSpec); NULL: the image's own.
  ALTER TABLE services ADD COLUMN healthcheck TEXT;
  -- Restart, update and rollback policies and the stop grace period as given (JSON LifecycleSettings); '{}': the defaults.
  ALTER TABLE services ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '{}';
  -- The update or rollback under way or last done (JSON UpdateStatus); NULL: none since the service was created.
  ALTER TABLE services ADD COLUMN update_status TEXT;
  -- A running task's health as its engine reports it: none | starting | healthy | unhealthy; NULL: not reported yet.
  ALTER TABLE tasks ADD COLUMN health TEXT;

  -- The container spec of each recent spec version of a service (image, command, env, labels, healthcheck as JSON),
  -- for service history and rollback; the newest few per service are kept.
  CREATE TABLE service_versions (
    service_name TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    spec_version INTEGER NOT NULL,
    spec         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (service_name, spec_version)
  );
  -- Every existing service's current spec is its first recorded version.
  INSERT INTO service_versions (service_name, spec_version, spec, created_at)
    SELECT name, spec_version,
           json_object('image', image, 'command', json(COALESCE(command, 'null')), 'env', json(env), 'labels', json(labels), 'healthcheck', NULL),
           updated_at
    FROM services;
  `,
  // 7: placement (database/placement.ts): node labels and facts; a service's placement, resources, mode and pre-pull.
  `
  ALTER TABLE nodes ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
  -- What the node's engine reports (JSON NodeFacts); NULL until it has.
  ALTER TABLE nodes ADD COLUMN facts TEXT;
  ALTER TABLE services ADD COLUMN placement TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE services ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE services ADD COLUMN mode TEXT NOT NULL DEFAULT 'replicated';
  -- 1 / 0, or NULL: the cluster's deployment.prepull.
  ALTER TABLE services ADD COLUMN prepull INTEGER;
  `,
  // 8: API tokens (replicated; database/tokens.ts) and the audit log (node-local; database/audit.ts), docs/security.md.
  `
  CREATE TABLE api_tokens (
    accessor    TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    -- SHA-256 of the secret, hex: the secret itself is never stored.
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    created_by  TEXT NOT NULL
  );
  CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    accessor TEXT,
    method   TEXT NOT NULL,
    path     TEXT NOT NULL,
    target   TEXT,
    status   INTEGER NOT NULL,
    source   TEXT
  );
  CREATE INDEX audit_log_at ON audit_log (at);
  `,
  // 9: secrets (database/secrets.ts): each secret's values that are still named, sealed (AES-256-GCM, docs/security.md); the secrets a service mounts.
  `
  CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    -- The current value's version; a new value is version + 1.
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  -- A secret's current value and every earlier one a service or a recorded spec version still names (for rollback);
  -- each sealed as v1.<nonce>.<ciphertext>.<tag>, never the plaintext.
  CREATE TABLE secret_versions (
    secret_name TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    value       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (secret_name, version)
  );
  -- The secrets the service's containers mount: JSON [{source, target, mode, version}], the version pinned when the spec was made.
  ALTER TABLE services ADD COLUMN secrets TEXT NOT NULL DEFAULT '[]';
  `,
  // 10: how a worker hears of its tasks: 'raft' (a Raft learner holding the whole log) or 'session' (a worker session with a manager, docs/scale.md).
  `ALTER TABLE nodes ADD COLUMN link TEXT NOT NULL DEFAULT 'raft';`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION (or to `target`, for tests that need
 * an older schema); refuses a database newer than this code.
 */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this bicycled understands (${SCHEMA_VERSION})`);
  }
  for (let version = current; version < Math.min(target, SCHEMA_VERSION); version++) {
    // IMMEDIATE: a migration reads the schema before it writes (docs/database.md).
    db.transaction(() => {
      const migration = MIGRATIONS[version]!;
      if (typeof migration === 'string') db.exec(migration);
      else migration(db);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
