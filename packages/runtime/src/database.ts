/**
 * A service's durable state in one SQLite file (`node:sqlite`, built into Node 24: a release
 * candidate since 24.15, so loading it prints no ExperimentalWarning), opened one way everywhere:
 *
 * - the folder is made (0700) if missing, the file is created 0600 (SQLite gives its -wal and
 *   -shm files the same mode) and set back to 0600 if others could read it;
 * - WAL journal, a busy timeout, and `synchronous` FULL (a commit is on disk when it returns: what
 *   a caller was told is stored survives a power cut) or NORMAL (survives a crash of the
 *   process; a power cut may lose the last commits), chosen by the caller;
 * - one row in `mixlab_schema` names what the file holds and its schema version; a file of
 *   another application, of a newer version, of an older one without a migration, or not a
 *   SQLite database, or damaged (`PRAGMA quick_check`), stops the start with an error naming
 *   the file and what to do. An older version with migrations is migrated in one commit.
 *   A file is never replaced or repaired here.
 */
import { accessSync, closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface DatabaseSchema {
  /** What the file holds, e.g. 'mixlab-gateway-mailboxes': a file of anything else is refused. */
  readonly application: string;
  /** The schema version this code reads and writes. */
  readonly version: number;
  /** SQL that creates the tables of `version` in an empty database. */
  readonly create: string;
  /** SQL that takes a file of version n to n + 1, by n: an older file is migrated in one commit. */
  readonly migrations?: Readonly<Record<number, string>>;
}

export interface OpenDatabaseOptions {
  /** 'full' where a lost commit would matter (someone was told it is stored), 'normal' for state that is renewed anyway. */
  readonly durability: 'full' | 'normal';
  /** What a new, empty file would cost its owner, said when the file cannot be used. */
  readonly ifReplaced: string;
  /** Overwrite deleted rows in the file (for secrets that must not outlive their deletion). */
  readonly secureDelete?: boolean;
  /** How long a statement waits for a lock another connection holds; default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

export interface OpenedDatabase {
  readonly db: DatabaseSync;
  readonly path: string;
  /** True when there was no database yet: the schema was created now. */
  readonly created: boolean;
  /** True when the file was readable or writable by group or others and its mode was set back to 0600. */
  readonly permissionsTightened: boolean;
}

/** A database file that cannot be used; the message names the file and what to do. */
export class DatabaseFileError extends Error {
  override name = 'DatabaseFileError';
}

const SCHEMA_TABLE = 'mixlab_schema';
const PRIVATE_MODE = 0o600;
/** SQLite's primary result codes for "not a database" and "damaged". */
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Opens (or creates) the database at `path` for `schema`; throws a DatabaseFileError when it cannot be used. */
export function openDatabase(path: string, schema: DatabaseSchema, options: OpenDatabaseOptions): OpenedDatabase {
  const fail = (why: string, what = 'Restore it from a backup, or move it away so that a new, empty one is created') =>
    new DatabaseFileError(
      `${path} cannot be used as ${schema.application} state: ${why}. ${what} (${options.ifReplaced}).`,
    );
  const { created, permissionsTightened } = prepareFile(path, fail);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5_000 });
  } catch (error) {
    throw fail(`SQLite cannot open it (${(error as Error).message})`);
  }
  try {
    // The first statement reads the header: a file that is not a database fails here.
    db.exec('PRAGMA journal_mode = WAL');
    const check = db.prepare('PRAGMA quick_check').all() as { quick_check: string }[];
    if (check[0]?.quick_check !== 'ok') {
      throw fail(`it is damaged (SQLite quick_check: ${check.map((row) => row.quick_check).join('; ')})`);
    }
    db.exec(`PRAGMA synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`PRAGMA secure_delete = ${options.secureDelete ? 'ON' : 'OFF'}`);
    checkOrCreateSchema(db, schema, fail);
  } catch (error) {
    db.close();
    if (error instanceof DatabaseFileError) throw error;
    throw fail(describeSqliteError(error));
  }
  return { db, path, created, permissionsTightened };
}

/** Runs `body` in one write transaction: all of it is committed, or none of it. */
export function inTransaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = body();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

type Fail = (why: string, what?: string) => DatabaseFileError;

/** Makes the folder and an empty 0600 file when there is none; checks that this process may write both. */
function prepareFile(path: string, fail: Fail): { created: boolean; permissionsTightened: boolean } {
  const folder = dirname(path);
  const uid = process.getuid?.() ?? 'unknown';
  const notWritable = (what: string) =>
    fail(
      `${what} is not writable by this process (uid ${uid}); SQLite also writes ${path}-wal and ${path}-shm next to it`,
      'Give the folder and its files to the user the service runs as (the image runs as `node`), or mount a writable volume there',
    );
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch {
    throw notWritable(`the folder ${folder}`);
  }
  let created = false;
  let fd: number;
  try {
    fd = openSync(path, 'wx', PRIVATE_MODE);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(`the folder ${folder}`);
    try {
      fd = openSync(path, 'r');
    } catch {
      throw notWritable(path);
    }
  }
  let permissionsTightened = false;
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw fail('it is not a regular file');
    if ((stats.mode & 0o077) !== 0) {
      fchmodSync(fd, PRIVATE_MODE);
      permissionsTightened = true;
    }
  } finally {
    closeSync(fd);
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw notWritable(file);
    }
  }
  return { created, permissionsTightened };
}

function checkOrCreateSchema(db: DatabaseSync, schema: DatabaseSchema, fail: Fail): void {
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map(
    (row) => row.name,
  );
  if (tables.length === 0) {
    inTransaction(db, () => {
      db.exec(`CREATE TABLE ${SCHEMA_TABLE} (application TEXT NOT NULL, version INTEGER NOT NULL)`);
      db.exec(schema.create);
      db.prepare(`INSERT INTO ${SCHEMA_TABLE} (application, version) VALUES (?, ?)`).run(
        schema.application,
        schema.version,
      );
    });
    return;
  }
  if (!tables.includes(SCHEMA_TABLE)) {
    throw fail(
      `it is a SQLite database of something else (tables ${tables.slice(0, 5).join(', ')}; no ${SCHEMA_TABLE})`,
    );
  }
  const rows = db.prepare(`SELECT application, version FROM ${SCHEMA_TABLE}`).all() as {
    application: unknown;
    version: unknown;
  }[];
  const row = rows[0];
  if (rows.length !== 1 || typeof row?.application !== 'string' || typeof row.version !== 'number') {
    throw fail(`its ${SCHEMA_TABLE} table does not hold one application and version`);
  }
  if (row.application !== schema.application) {
    throw fail(
      `it holds ${row.application} state, not ${schema.application}`,
      'Point this service at its own file (another service shares the folder?), or move it away so that a new, empty one is created',
    );
  }
  if (row.version > schema.version) {
    throw fail(
      `it was written by a newer mixlab (schema version ${row.version}; this one reads version ${schema.version})`,
      'Run the newer version, or move it away so that a new, empty one is created',
    );
  }
  if (row.version < schema.version) {
    const steps: string[] = [];
    for (let version = row.version; version < schema.version; version++) {
      const step = schema.migrations?.[version];
      if (step === undefined) {
        throw fail(
          `its schema version ${row.version} is older than ${schema.version}, and there is no migration from it`,
        );
      }
      steps.push(step);
    }
    inTransaction(db, () => {
      for (const step of steps) db.exec(step);
      db.prepare(`UPDATE ${SCHEMA_TABLE} SET version = ?`).run(schema.version);
    });
  }
}

function describeSqliteError(error: unknown): string {
  const errcode = (error as { errcode?: number }).errcode;
  const message = (error as Error).message;
  if (typeof errcode === 'number' && (errcode & 0xff) === SQLITE_NOTADB)
    return `it is not a SQLite database (damaged, or another kind of file: SQLite says "${message}")`;
  if (typeof errcode === 'number' && (errcode & 0xff) === SQLITE_CORRUPT)
    return `it is damaged (SQLite says "${message}")`;
  return `SQLite failed on it: ${message}`;
}
