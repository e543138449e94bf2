/**
 * Durable commits without blocking the event loop, for a database opened with durability
 * 'normal' (WAL journal): a commit at synchronous NORMAL writes its frames to the WAL file but
 * does not fsync it; `sync()` then fdatasyncs that file on libuv's thread pool, and once it
 * resolves every commit made before the call survives a power cut, as a FULL commit would
 * (SQLite's recovery replays every WAL frame up to the last whole commit). FULL would hold the
 * event loop for each fsync: node:sqlite is synchronous.
 *
 * Group commit: a caller whose commit came while a sync was under way waits for the next one
 * (the running one may have started before its frames were written), and everyone waiting then
 * shares it. The WAL file stays the same file while a connection has the database open (SQLite
 * removes it only when the last connection closes), so one descriptor serves throughout.
 */
import { closeSync, fdatasync, fsync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** fdatasync or fsync of a descriptor, on the thread pool; injected in tests. */
export type Datasync = (fd: number, kind: 'file' | 'folder') => Promise<void>;

const datasyncOnThreadPool: Datasync = (fd, kind) =>
  new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null) => (error ? reject(error) : resolve());
    // The folder once, so that the WAL file's own entry is durable (SQLite would at its first sync).
    if (kind === 'folder') fsync(fd, done);
    else fdatasync(fd, done);
  });

export class WalSync {
  readonly #wal: number;
  readonly #folder: number;
  readonly #datasync: Datasync;
  #folderSynced = false;
  #running: Promise<void> | undefined;
  /** The sync that starts once the running one ends: it covers every commit made meanwhile. */
  #next: Promise<void> | undefined;
  #closed = false;

  /** For the database at `path`, opened in WAL mode and read at least once (so that its -wal file exists). */
  constructor(path: string, datasync: Datasync = datasyncOnThreadPool) {
    this.#wal = openSync(`${path}-wal`, 'r');
    try {
      this.#folder = openSync(dirname(path), 'r');
    } catch (error) {
      closeSync(this.#wal);
      throw error;
    }
    this.#datasync = datasync;
  }

  /** Resolves once every commit made before this call is on disk; rejects when the disk says it is not. */
  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the WAL file is closed'));
    if (this.#next) return this.#next;
    const running = this.#running;
    if (!running) return this.#start();
    this.#next = running
      .catch(() => {})
      .then(() => {
        this.#next = undefined;
        return this.#start();
      });
    return this.#next;
  }

  /** Closes the descriptors once the syncs under way are over; later syncs are refused. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#running && !this.#next) this.#release();
  }

  #start(): Promise<void> {
    const run = this.#syncOnce().finally(() => {
      if (this.#running === run) this.#running = undefined;
      if (this.#closed && !this.#running && !this.#next) this.#release();
    });
    this.#running = run;
    return run;
  }

  async #syncOnce(): Promise<void> {
    if (!this.#folderSynced) {
      await this.#datasync(this.#folder, 'folder');
      this.#folderSynced = true;
    }
    await this.#datasync(this.#wal, 'file');
  }

  #release(): void {
    closeSync(this.#wal);
    closeSync(this.#folder);
  }
}
