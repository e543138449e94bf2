/**
 * The directory's registrations on disk, `${dataDir}/registry.sqlite`, so that a restarted
 * directory serves the topology at once from what it knew: the latest verified descriptor of
 * every node and gateway with the time it was last heard from, and the epoch schedule the
 * descriptors' key epochs refer to. synchronous NORMAL: nodes send a fresh descriptor every few
 * seconds, so a power cut that loses the last commits loses nothing a heartbeat does not bring
 * back; a crash of the process loses nothing.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction, type OpenedDatabase, openDatabase } from '@mixlab/runtime';
import type { EpochSchedule } from '@mixlab/topology';
import type { RegisteredGateway, RegisteredNode } from './node-registry.ts';

/** A stored registration: its descriptor unverified (the registry checks it again). */
export interface SavedRegistration {
  readonly descriptor: unknown;
  readonly lastSeenMs: number;
}

/** What the directory knew, as stored. */
export interface SavedRegistry {
  readonly schedule: EpochSchedule | undefined;
  readonly nodes: readonly SavedRegistration[];
  readonly gateways: readonly SavedRegistration[];
}

export interface RegistryStore {
  load(): SavedRegistry;
  saveNode(node: RegisteredNode): void;
  saveGateway(gateway: RegisteredGateway): void;
  /** Records the schedule and deletes the nodes and gateways the registry did not take back, in one commit. */
  restart(schedule: EpochSchedule, forgottenNodes: readonly string[], forgottenGateways?: readonly string[]): void;
}

export const REGISTRY_SCHEMA = {
  application: 'mixlab-directory-registry',
  version: 2,
  create: `
    CREATE TABLE nodes (id TEXT PRIMARY KEY, descriptor TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
    CREATE TABLE gateways (id TEXT PRIMARY KEY, descriptor TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
    CREATE TABLE epoch_schedule (genesis_ms INTEGER NOT NULL, length_ms INTEGER NOT NULL);`,
  migrations: {
    // Version 1 kept gateways unsigned: forgotten; they register again, signed, within a heartbeat.
    1: `
      DROP TABLE gateways;
      CREATE TABLE gateways (id TEXT PRIMARY KEY, descriptor TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);`,
  },
} as const;

export class SqliteRegistryStore implements RegistryStore {
  readonly #db: DatabaseSync;
  readonly #saveNode: StatementSync;
  readonly #saveGateway: StatementSync;

  /** Opens (or creates) the registry file at `path`; throws a DatabaseFileError naming the file if it cannot be used. */
  static open(path: string): { store: SqliteRegistryStore; opened: OpenedDatabase } {
    const opened = openDatabase(path, REGISTRY_SCHEMA, {
      durability: 'normal',
      ifReplaced: 'the topology is empty until the nodes send their next heartbeats, within seconds',
    });
    return { store: new SqliteRegistryStore(opened.db), opened };
  }

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#saveNode = db.prepare(
      'INSERT INTO nodes (id, descriptor, last_seen_ms) VALUES (?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET descriptor = excluded.descriptor, last_seen_ms = excluded.last_seen_ms',
    );
    this.#saveGateway = db.prepare(
      'INSERT INTO gateways (id, descriptor, last_seen_ms) VALUES (?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET descriptor = excluded.descriptor, last_seen_ms = excluded.last_seen_ms',
    );
  }

  load(): SavedRegistry {
    const schedule = this.#db.prepare('SELECT genesis_ms, length_ms FROM epoch_schedule').get() as
      | { genesis_ms: number; length_ms: number }
      | undefined;
    return {
      schedule: schedule && { genesisMs: schedule.genesis_ms, lengthMs: schedule.length_ms },
      nodes: this.#registrations('nodes'),
      gateways: this.#registrations('gateways'),
    };
  }

  #registrations(table: 'nodes' | 'gateways'): SavedRegistration[] {
    const rows = this.#db.prepare(`SELECT descriptor, last_seen_ms FROM ${table} ORDER BY id`).all() as {
      descriptor: string;
      last_seen_ms: number;
    }[];
    return rows.map((row) => ({ descriptor: parseOrText(row.descriptor), lastSeenMs: row.last_seen_ms }));
  }

  saveNode(node: RegisteredNode): void {
    this.#saveNode.run(node.descriptor.id, JSON.stringify(node.descriptor), node.lastSeenMs);
  }

  saveGateway(gateway: RegisteredGateway): void {
    this.#saveGateway.run(gateway.descriptor.id, JSON.stringify(gateway.descriptor), gateway.lastSeenMs);
  }

  restart(schedule: EpochSchedule, forgottenNodes: readonly string[], forgottenGateways: readonly string[] = []): void {
    inTransaction(this.#db, () => {
      this.#db.exec('DELETE FROM epoch_schedule');
      this.#db
        .prepare('INSERT INTO epoch_schedule (genesis_ms, length_ms) VALUES (?, ?)')
        .run(schedule.genesisMs, schedule.lengthMs);
      const forgetNode = this.#db.prepare('DELETE FROM nodes WHERE id = ?');
      for (const id of forgottenNodes) forgetNode.run(id);
      const forgetGateway = this.#db.prepare('DELETE FROM gateways WHERE id = ?');
      for (const id of forgottenGateways) forgetGateway.run(id);
    });
  }

  close(): void {
    this.#db.close();
  }
}

/** A stored descriptor that is not JSON stays text, so verification reports it as malformed. */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
