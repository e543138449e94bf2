import assert from 'node:assert/strict';
import { existsSync, fstatSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from './database.ts';
import { type Datasync, WalSync } from './wal-sync.ts';

const SCHEMA = { application: 'mixlab-wal-sync-test', version: 1, create: 'CREATE TABLE t (v INTEGER)' };

let root: string;
let files = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mixlab-wal-sync-'));
});
after(() => rm(root, { recursive: true, force: true }));

function database() {
  const path = join(root, `${++files}.sqlite`);
  const { db } = openDatabase(path, SCHEMA, { durability: 'normal', ifReplaced: 'nothing' });
  return { db, path };
}

/** A datasync that records what it was asked for and ends each file sync when the test says. */
function heldDatasync() {
  const asked: ('file' | 'folder')[] = [];
  const pending: (() => void)[] = [];
  const datasync: Datasync = async (fd, kind) => {
    asked.push(kind);
    if (kind === 'file') await new Promise<void>((resolve) => pending.push(resolve));
    fstatSync(fd); // EBADF had the descriptor been closed meanwhile
  };
  const end = async () => {
    for (let turn = 0; turn < 5 && pending.length === 0; turn++) await new Promise(setImmediate);
    const next = pending.shift();
    assert.ok(next, 'a sync is under way');
    next();
    await new Promise(setImmediate);
  };
  return { asked, pending, datasync, end };
}

describe('WalSync', () => {
  it('syncs the WAL file of a real database with the default system calls, and refuses to once closed', async () => {
    const { db, path } = database();
    assert.ok(existsSync(`${path}-wal`));
    const wal = new WalSync(path);
    db.exec('INSERT INTO t VALUES (1)');
    await wal.sync();
    db.exec('INSERT INTO t VALUES (2)');
    await wal.sync();
    wal.close();
    await assert.rejects(wal.sync(), /closed/);
    db.close();
  });

  it('refuses a database without a WAL file, naming it', () => {
    assert.throws(() => new WalSync(join(root, 'missing.sqlite')), /missing\.sqlite-wal/);
  });

  it('makes a caller that came during a sync wait for the next one, which every such caller shares', async () => {
    const { db, path } = database();
    const { asked, datasync, end } = heldDatasync();
    const wal = new WalSync(path, datasync);
    const done: string[] = [];
    const first = wal.sync().then(() => done.push('first'));
    await new Promise(setImmediate);
    const second = wal.sync().then(() => done.push('second'));
    const third = wal.sync().then(() => done.push('third'));
    await end();
    assert.deepEqual(done, ['first'], 'the running sync may have started before their commits');
    await end();
    await Promise.all([first, second, third]);
    assert.deepEqual(done, ['first', 'second', 'third']);
    assert.deepEqual(asked, ['folder', 'file', 'file'], 'the folder once; one file sync for the two that waited');
    wal.close();
    db.close();
  });

  it('a failed sync fails its callers; the next sync is tried afresh', async () => {
    const { db, path } = database();
    let fail = true;
    const wal = new WalSync(path, async (_fd, kind) => {
      if (kind === 'file' && fail) throw new Error('EIO: i/o error, fdatasync');
    });
    await assert.rejects(wal.sync(), /EIO/);
    fail = false;
    await wal.sync();
    wal.close();
    db.close();
  });

  it('closes its descriptors only once the syncs under way are over', async () => {
    const { db, path } = database();
    const { datasync, end } = heldDatasync();
    const wal = new WalSync(path, datasync);
    const running = wal.sync();
    await new Promise(setImmediate);
    const next = wal.sync();
    wal.close();
    await end();
    await end();
    await Promise.all([running, next]);
    db.close();
  });
});
