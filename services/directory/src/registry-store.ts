/**
 * The directory's registrations on disk, `${dataDir}/registry.sqlite`, so that a restarted
 * directory serves the topology at once from what it knew: the latest verified descriptor of
 * every node with the time it was last heard from, the gateways, and the epoch schedule the
 * descriptors' key epochs refer to. synchronous NORMAL: nodes send a fresh descriptor every few
 * seconds, so a power cut that loses the last commits loses nothing a heartbeat does not bring
 * back; a crash of the process loses nothing.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction, type OpenedDatabase, openDatabase } from '@mixlab/runtime';
import type { EpochSchedule, GatewayDescriptor } from '@mixlab/topology';
import type { RegisteredNode } from './node-registry.ts';

/** What the directory knew, as stored: descriptors unverified (the registry checks them again). */
export interface SavedRegistry {
  readonly schedule: EpochSchedule | undefined;
  readonly nodes: readonly { readonly descriptor: unknown; readonly lastSeenMs: number }[];
  readonly gateways: readonly GatewayDescriptor[];
}

export interface RegistryStore {
  load(): SavedRegistry;
  saveNode(node: RegisteredNode): void;
  saveGateway(gateway: GatewayDescriptor): void;
  /** Records the schedule and deletes the nodes the registry did not take back, in one commit. */
  restart(schedule: EpochSchedule, forgotten: readonly string[]): void;
}

export const REGISTRY_SCHEMA = {
  application: 'mixlab-directory-registry',
  version: 1,
  create: `
    CREATE TABLE nodes (id TEXT PRIMARY KEY, descriptor TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
    CREATE TABLE gateways (id TEXT PRIMARY KEY, url TEXT NOT NULL);
    CREATE TABLE epoch_schedule (genesis_ms INTEGER NOT NULL, length_ms INTEGER NOT NULL);`,
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
      'INSERT INTO gateways (id, url) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url',
    );
  }

  load(): SavedRegistry {
    const schedule = this.#db.prepare('SELECT genesis_ms, length_ms FROM epoch_schedule').get() as
      | { genesis_ms: number; length_ms: number }
      | undefined;
    const nodes = (
      this.#db.prepare('SELECT descriptor, last_seen_ms FROM nodes ORDER BY id').all() as {
        descriptor: string;
        last_seen_ms: number;
      }[]
    ).map((row) => ({ descriptor: parseOrText(row.descriptor), lastSeenMs: row.last_seen_ms }));
    const gateways = (
      this.#db.prepare('SELECT id, url FROM gateways ORDER BY id').all() as { id: string; url: string }[]
    ).map(({ id, url }) => ({ id, url }));
    return {
      schedule: schedule && { genesisMs: schedule.genesis_ms, lengthMs: schedule.length_ms },
      nodes,
      gateways,
    };
  }

  saveNode(node: RegisteredNode): void {
    this.#saveNode.run(node.descriptor.id, JSON.stringify(node.descriptor), node.lastSeenMs);
  }

  saveGateway(gateway: GatewayDescriptor): void {
    this.#saveGateway.run(gateway.id, gateway.url);
  }

  restart(schedule: EpochSchedule, forgotten: readonly string[]): void {
    inTransaction(this.#db, () => {
      this.#db.exec('DELETE FROM epoch_schedule');
      this.#db
        .prepare('INSERT INTO epoch_schedule (genesis_ms, length_ms) VALUES (?, ?)')
        .run(schedule.genesisMs, schedule.lengthMs);
      const forget = this.#db.prepare('DELETE FROM nodes WHERE id = ?');
      for (const id of forgotten) forget.run(id);
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
