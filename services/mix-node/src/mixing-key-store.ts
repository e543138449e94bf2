/**
 * The node's mixing key pairs on disk, so that a restarted node keeps opening packets
 * already wrapped to its published keys: `${dataDir}/${nodeId}/mixing-keys.sqlite`, one row
 * per held epoch, mode 0600, synchronous FULL (a key is on disk before it is published).
 *
 * SQLite rather than one key file per epoch: MixingKeys rotates synchronously (no await
 * between deciding and swapping keys), which node:sqlite's synchronous API keeps; a new key
 * and the drop of an old one commit together; and a damaged or foreign file is refused the
 * same way as every other service's state. A dropped key is deleted for good: secure_delete
 * zeroes its bytes in the file, and a truncating checkpoint empties the WAL that held them.
 */
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { type KeyPair, publicKeyOf, toHex } from '@mixlab/crypto';
import { DatabaseFileError, inTransaction, type OpenedDatabase, openDatabase } from '@mixlab/runtime';

export interface MixingKeyStore {
  /** Every key pair kept, by epoch. */
  load(): Map<number, KeyPair>;
  /** Keeps `added` and deletes `dropped`, in one commit. */
  save(added: ReadonlyMap<number, KeyPair>, dropped: readonly number[]): void;
}

export const MIXING_KEY_SCHEMA = {
  application: 'mixlab-mixing-keys',
  version: 1,
  create: 'CREATE TABLE mixing_keys (epoch INTEGER PRIMARY KEY, private_key BLOB NOT NULL, public_key BLOB NOT NULL)',
} as const;

export function mixingKeysPath(dataDir: string, nodeId: string): string {
  return join(dataDir, nodeId, 'mixing-keys.sqlite');
}

export class SqliteMixingKeyStore implements MixingKeyStore {
  readonly #db: DatabaseSync;
  readonly #path: string;

  /** Opens (or creates) the key file at `path`; throws a DatabaseFileError naming the file if it cannot be used. */
  static open(path: string): { store: SqliteMixingKeyStore; opened: OpenedDatabase } {
    const opened = openDatabase(path, MIXING_KEY_SCHEMA, {
      durability: 'full',
      secureDelete: true,
      ifReplaced: 'packets already wrapped to the keys it holds cannot be opened; new keys are made and published',
    });
    return { store: new SqliteMixingKeyStore(opened.db, path), opened };
  }

  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
  }

  /** Throws a DatabaseFileError when a row does not hold an X25519 key pair. */
  load(): Map<number, KeyPair> {
    const rows = this.#db.prepare('SELECT epoch, private_key, public_key FROM mixing_keys ORDER BY epoch').all() as {
      epoch: number;
      private_key: Uint8Array;
      public_key: Uint8Array;
    }[];
    const pairs = new Map<number, KeyPair>();
    for (const { epoch, private_key: privateKey, public_key: publicKey } of rows) {
      const valid =
        privateKey instanceof Uint8Array &&
        privateKey.length === 32 &&
        publicKey instanceof Uint8Array &&
        toHex(publicKeyOf(privateKey)) === toHex(publicKey);
      if (!valid) {
        throw new DatabaseFileError(
          `${this.#path} holds no usable mixing key for epoch ${epoch} (not a 32-byte X25519 key pair). ` +
            'Restore it from a backup, or move it away so that new keys are made (packets already wrapped to the old ones cannot be opened).',
        );
      }
      pairs.set(epoch, { privateKey: Uint8Array.from(privateKey), publicKey: Uint8Array.from(publicKey) });
    }
    return pairs;
  }

  save(added: ReadonlyMap<number, KeyPair>, dropped: readonly number[]): void {
    if (added.size === 0 && dropped.length === 0) return;
    inTransaction(this.#db, () => {
      const insert = this.#db.prepare('INSERT INTO mixing_keys (epoch, private_key, public_key) VALUES (?, ?, ?)');
      for (const [epoch, pair] of added) insert.run(epoch, pair.privateKey, pair.publicKey);
      const remove = this.#db.prepare('DELETE FROM mixing_keys WHERE epoch = ?');
      for (const epoch of dropped) remove.run(epoch);
    });
    // The WAL still holds the dropped keys' pages: move the zeroed ones into the file and empty it.
    if (dropped.length > 0) this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    this.#db.close();
  }
}
