import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DatabaseFileError, type DatabaseSchema, inTransaction, openDatabase } from './database.ts';

const SCHEMA: DatabaseSchema = {
  application: 'mixlab-test-notes',
  version: 2,
  create: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)',
};
const OPTIONS = { durability: 'full', ifReplaced: 'the notes are lost' } as const;

describe('openDatabase', () => {
  let root: string;
  let count = 0;
  /** A path in a folder of its own that does not exist yet. */
  const fresh = () => join(root, `case-${++count}`, 'state', 'notes.sqlite');
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mixlab-database-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** The error openDatabase throws for `path`, checked to be a DatabaseFileError naming the file. */
  const refusal = (path: string, schema = SCHEMA): string => {
    try {
      openDatabase(path, schema, OPTIONS).db.close();
    } catch (error) {
      assert.ok(error instanceof DatabaseFileError, `expected a DatabaseFileError, got ${error}`);
      assert.ok(error.message.startsWith(`${path} cannot be used as ${schema.application} state: `), error.message);
      assert.match(error.message, /the notes are lost/);
      return error.message;
    }
    assert.fail(`${path} was opened`);
  };

  it('creates the folder (0700) and a 0600 file in WAL mode with the schema, and reads back what was committed', async () => {
    const path = fresh();
    const first = openDatabase(path, SCHEMA, OPTIONS);
    assert.deepEqual([first.created, first.permissionsTightened], [true, false]);
    assert.equal(first.db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
    assert.equal(first.db.prepare('PRAGMA synchronous').get()?.synchronous, 2, 'FULL');
    inTransaction(first.db, () => first.db.prepare('INSERT INTO notes (text) VALUES (?)').run('kept'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(`${path}-wal`)).mode & 0o777, 0o600, 'SQLite gives the WAL the mode of the file');
    assert.equal((await stat(join(path, '..'))).mode & 0o777, 0o700);
    first.db.close();

    const again = openDatabase(path, SCHEMA, { ...OPTIONS, durability: 'normal' });
    assert.equal(again.created, false);
    assert.equal(again.db.prepare('PRAGMA synchronous').get()?.synchronous, 1, 'NORMAL');
    assert.deepEqual(
      again.db
        .prepare('SELECT text FROM notes')
        .all()
        .map((row) => row.text),
      ['kept'],
    );
    again.db.close();
  });

  it('rolls a failed transaction back whole', () => {
    const { db } = openDatabase(fresh(), SCHEMA, OPTIONS);
    assert.throws(
      () =>
        inTransaction(db, () => {
          db.prepare('INSERT INTO notes (text) VALUES (?)').run('half');
          db.prepare('INSERT INTO notes (text) VALUES (?)').run(null);
        }),
      /NOT NULL/,
    );
    assert.equal(db.prepare('SELECT count(*) AS n FROM notes').get()?.n, 0);
    assert.equal(db.isTransaction, false);
    db.close();
  });

  it('sets a file readable by others back to 0600 and says so', async () => {
    const path = fresh();
    openDatabase(path, SCHEMA, OPTIONS).db.close();
    await chmod(path, 0o644);
    const opened = openDatabase(path, SCHEMA, OPTIONS);
    assert.equal(opened.permissionsTightened, true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    opened.db.close();
  });

  it('refuses a file that is not a database, and leaves it as it was', async () => {
    const path = fresh();
    await mkdir(join(path, '..'), { recursive: true });
    const garbage = Buffer.from('{"format":"mixlab-key"} and then some more bytes that are not SQLite at all');
    await writeFile(path, garbage);
    assert.match(refusal(path), /it is not a SQLite database/);
    assert.deepEqual(await readFile(path), garbage);
  });

  it('refuses a damaged database (a page overwritten)', async () => {
    const path = fresh();
    const { db } = openDatabase(path, SCHEMA, OPTIONS);
    inTransaction(db, () => {
      for (let i = 0; i < 200; i++) db.prepare('INSERT INTO notes (text) VALUES (?)').run('x'.repeat(100));
    });
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = await readFile(path);
    bytes.fill(0xa5, 4096 * 2, 4096 * 3); // the third page: part of the notes table's b-tree
    await writeFile(path, bytes);
    assert.match(refusal(path), /it is damaged \(SQLite says "database disk image is malformed"\)/);
  });

  it("refuses another application's SQLite file, and a database with no mixlab_schema", async () => {
    const path = fresh();
    openDatabase(path, { ...SCHEMA, application: 'mixlab-other' }, OPTIONS).db.close();
    assert.match(
      refusal(path),
      /it holds mixlab-other state, not mixlab-test-notes\. Point this service at its own file/,
    );

    const foreign = fresh();
    await mkdir(join(foreign, '..'), { recursive: true });
    const db = new DatabaseSync(foreign);
    db.exec('CREATE TABLE moz_places (id INTEGER)');
    db.close();
    assert.match(refusal(foreign), /a SQLite database of something else \(tables moz_places; no mixlab_schema\)/);
  });

  it('refuses a newer schema version (run the newer mixlab) and an older one without migration', () => {
    const path = fresh();
    openDatabase(path, { ...SCHEMA, version: 3 }, OPTIONS).db.close();
    assert.match(
      refusal(path),
      /written by a newer mixlab \(schema version 3; this one reads version 2\)\. Run the newer version/,
    );
    const older = fresh();
    openDatabase(older, { ...SCHEMA, version: 1 }, OPTIONS).db.close();
    assert.match(refusal(older), /schema version 1 is older than 2, and there is no migration/);
  });

  it('migrates an older version in one commit, keeping its rows', () => {
    const path = fresh();
    const { db } = openDatabase(path, { ...SCHEMA, version: 1 }, OPTIONS);
    db.prepare('INSERT INTO notes (text) VALUES (?)').run('kept');
    db.close();
    const migrated = { ...SCHEMA, migrations: { 1: 'ALTER TABLE notes ADD COLUMN author TEXT' } };
    const opened = openDatabase(path, migrated, OPTIONS);
    assert.deepEqual(
      opened.db
        .prepare('SELECT text, author FROM notes')
        .all()
        .map((row) => ({ ...row })),
      [{ text: 'kept', author: null }],
    );
    assert.equal((opened.db.prepare('SELECT version FROM mixlab_schema').get() as { version: number }).version, 2);
    opened.db.close();
    // A failing step leaves the file as it was: still version 1.
    const other = fresh();
    openDatabase(other, { ...SCHEMA, version: 1 }, OPTIONS).db.close();
    assert.throws(() =>
      openDatabase(other, { ...SCHEMA, migrations: { 1: 'ALTER TABLE missing ADD COLUMN x' } }, OPTIONS),
    );
    const check = new DatabaseSync(other);
    assert.equal((check.prepare('SELECT version FROM mixlab_schema').get() as { version: number }).version, 1);
    check.close();
  });

  it('refuses a folder in place of the file', async () => {
    const path = fresh();
    await mkdir(path, { recursive: true });
    assert.match(refusal(path), /it is not a regular file/);
  });

  it('refuses a folder it cannot write, naming the user and the -wal and -shm files', async () => {
    const path = fresh();
    await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
    await chmod(join(path, '..'), 0o755);
    await chmod(root, 0o755);
    // Root writes anywhere, so as root the opening runs in a child process as nobody (65534).
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const script = `import { openDatabase } from ${JSON.stringify(import.meta.resolve('./database.ts'))};
      try { openDatabase(process.argv[1], { application: 'a', version: 1, create: '' }, { durability: 'full', ifReplaced: '-' }); }
      catch (error) { console.log(error.message); }`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, path],
      asNobody,
    );
    assert.match(
      stdout,
      /the folder .* is not writable by this process \(uid \d+\); SQLite also writes .*-wal and .*-shm/,
    );
    assert.match(stdout, /Give the folder and its files to the user the service runs as/);
  });

  it('loads node:sqlite without an ExperimentalWarning on this Node', async () => {
    const { stderr } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '-e',
      "const { DatabaseSync } = await import('node:sqlite'); new DatabaseSync(':memory:').close();",
    ]);
    assert.equal(stderr, '');
  });
});
