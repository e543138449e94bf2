/**
 * The directory's long-term Ed25519 key: it signs every topology, and clients pin its
 * public half. Kept in `${dataDir}/directory-key.json` (mode 0600; only the seed is
 * secret) so that a restart keeps it; the public key is also written, as hex and a
 * newline, to `${dataDir}/directory.pub` for operators and scripts to read.
 */
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fromHex, randomBytes, type SigningKeyPair, signingKeyPairFromSeed, toHex } from '@mixlab/crypto';

export const DIRECTORY_KEY_FILE = 'directory-key.json';
export const DIRECTORY_PUBLIC_KEY_FILE = 'directory.pub';

/** What `directory-key.json` holds. */
interface DirectoryKeyFile {
  readonly type: 'ed25519';
  /** The 32-byte seed, 64 lowercase hex characters: the secret. */
  readonly seed: string;
  /** The public key of that seed, to catch a damaged file. */
  readonly publicKey: string;
}

export interface DirectoryKey {
  readonly keyPair: SigningKeyPair;
  /** The public key as clients pin it: 64 lowercase hex characters. */
  readonly publicKeyHex: string;
  /** True when this start created the key (there was none on the volume). */
  readonly created: boolean;
  /** True when the key file was readable by others and its mode was set back to 0600. */
  readonly permissionsTightened: boolean;
  readonly keyPath: string;
  readonly publicKeyPath: string;
}

/**
 * Loads the directory key from `dataDir`, creating the directory and the key on first
 * start. Two processes starting on one empty volume end up with the same key (the file is
 * created exclusively). Throws, saying what to do, when the file exists but is not a key.
 * `cryptoReady()` must have been awaited.
 */
export async function loadOrCreateDirectoryKey(dataDir: string): Promise<DirectoryKey> {
  await mkdir(dataDir, { recursive: true });
  const keyPath = join(dataDir, DIRECTORY_KEY_FILE);
  const publicKeyPath = join(dataDir, DIRECTORY_PUBLIC_KEY_FILE);
  const created = await createKeyFileIfMissing(keyPath);
  const permissionsTightened = await tightenPermissions(keyPath);
  const keyPair = parseKeyFile(await readFile(keyPath, 'utf8'), keyPath);
  const publicKeyHex = toHex(keyPair.publicKey);
  await writeAtomically(publicKeyPath, `${publicKeyHex}\n`, 0o644);
  return { keyPair, publicKeyHex, created, permissionsTightened, keyPath, publicKeyPath };
}

async function createKeyFileIfMissing(keyPath: string): Promise<boolean> {
  try {
    await stat(keyPath);
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const seed = randomBytes(32);
  const keyPair = signingKeyPairFromSeed(seed);
  const content: DirectoryKeyFile = { type: 'ed25519', seed: toHex(seed), publicKey: toHex(keyPair.publicKey) };
  // Written in full to a private temporary file, then linked into place: the key file is
  // never seen half-written, and link() refuses to replace a key another process created.
  const temporary = temporaryPathFor(keyPath);
  await writeNewFileSynced(temporary, `${JSON.stringify(content, null, 2)}\n`, 0o600);
  try {
    await link(temporary, keyPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

async function tightenPermissions(keyPath: string): Promise<boolean> {
  const { mode } = await stat(keyPath);
  if ((mode & 0o077) === 0) return false;
  await chmod(keyPath, 0o600);
  return true;
}

function parseKeyFile(text: string, keyPath: string): SigningKeyPair {
  const damaged = (why: string) =>
    new Error(
      `${keyPath} is not a directory key (${why}). Restore it from a backup; deleting it makes the directory ` +
        'create a new key, which every client must then pin again.',
    );
  let content: Partial<DirectoryKeyFile>;
  try {
    content = JSON.parse(text);
  } catch {
    throw damaged('not JSON');
  }
  if (content?.type !== 'ed25519') throw damaged('type must be "ed25519"');
  const seed = typeof content.seed === 'string' && /^[0-9a-f]{64}$/.test(content.seed) ? fromHex(content.seed) : null;
  if (!seed) throw damaged('seed must be 64 lowercase hex characters');
  const keyPair = signingKeyPairFromSeed(seed);
  if (content.publicKey !== toHex(keyPair.publicKey)) throw damaged('publicKey does not belong to the seed');
  return keyPair;
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = temporaryPathFor(path);
  try {
    await writeNewFileSynced(temporary, content, mode);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
}

/** A name next to `path` that no other process or call picks. */
function temporaryPathFor(path: string): string {
  return `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
}

/** Creates `path` (failing if it exists) with exactly `mode`, and syncs it to disk. */
async function writeNewFileSynced(path: string, content: string, mode: number): Promise<void> {
  const file = await open(path, 'wx', mode);
  try {
    await file.writeFile(content);
    // The umask may have narrowed `mode`; set it exactly.
    await file.chmod(mode);
    await file.sync();
  } finally {
    await file.close();
  }
}
