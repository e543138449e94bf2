/**
 * Long-term keys on disk, one format for every kind:
 *   {"format":"mixlab-key","version":1,"kind":"x25519"|"ed25519","secret":"<64 hex>","publicKey":"<64 hex>"}
 * `secret` is the X25519 private key or the Ed25519 seed; `publicKey` is checked against it on load.
 * A key file is created once, atomically (two processes starting together end up with one key),
 * with mode 0600, and is never replaced: a file that cannot be used is an error naming what to do.
 * The formats the CLI, the mix node and the directory wrote before this one still load.
 */
import { type FileHandle, link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  cryptoReady,
  fromHex,
  type KeyPair,
  publicKeyOf,
  randomBytes,
  type SigningKeyPair,
  signingKeyPairFromSeed,
  toHex,
} from '@mixlab/crypto';

export type KeyKind = 'x25519' | 'ed25519';

/** The key pair each kind loads to: sealed boxes (X25519) or signatures (Ed25519). */
export interface KeysOfKind {
  x25519: KeyPair;
  ed25519: SigningKeyPair;
}

export interface KeyFileOptions {
  /** What the key is, for error messages, e.g. 'node identity key' (default '<kind> key'). */
  readonly name?: string;
  /** What a new key means for its owner, said when the file cannot be used. */
  readonly ifReplaced?: string;
}

export interface LoadedKeyFile<K extends KeyKind> {
  readonly keys: KeysOfKind[K];
  readonly path: string;
  /** True when this call created the key (there was no file). */
  readonly created: boolean;
  /** True when the file is in a format from before `mixlab-key` v1; it is loaded as it is, not rewritten. */
  readonly legacy: boolean;
  /** True when the file was readable or writable by group or others and its mode was set back to 0600. */
  readonly permissionsTightened: boolean;
}

const FORMAT = 'mixlab-key';
const VERSION = 1;
const SECRET_BYTES = 32;
const PRIVATE_MODE = 0o600;
const PUBLIC_MODE = 0o644;

/**
 * Loads the `kind` key kept at `path`, or creates it there (and its folder, 0700) when there is
 * no file. Throws, naming the path and what to do, when the file exists but holds no such key.
 */
export async function loadOrCreateKeyFile<K extends KeyKind>(
  path: string,
  kind: K,
  options: KeyFileOptions = {},
): Promise<LoadedKeyFile<K>> {
  await cryptoReady();
  const existing = await loadKeyFile(path, kind, options);
  if (existing) return existing;

  const secret = randomBytes(SECRET_BYTES);
  const keys = keysOf(kind, secret);
  const file = { format: FORMAT, version: VERSION, kind, secret: toHex(secret), publicKey: toHex(keys.publicKey) };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written in full to a private temporary file, then linked into place: the key file is never
  // seen half-written, and link() refuses to replace a key another process created meanwhile.
  const temporary = temporaryPathFor(path);
  try {
    await writeNewFileSynced(temporary, `${JSON.stringify(file, null, 2)}\n`, PRIVATE_MODE);
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const theirs = await loadKeyFile(path, kind, options);
    if (theirs) return theirs;
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
  await syncFolder(path);
  return { keys, path, created: true, legacy: false, permissionsTightened: false };
}

/** Replaces `path` atomically (temporary file + rename) with `text`, mode 0644: for public keys others read. */
export async function writePublicFile(path: string, text: string): Promise<void> {
  const temporary = temporaryPathFor(path);
  try {
    await writeNewFileSynced(temporary, text, PUBLIC_MODE);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncFolder(path);
}

/** The key at `path`, or undefined when there is no file. */
async function loadKeyFile<K extends KeyKind>(
  path: string,
  kind: K,
  options: KeyFileOptions,
): Promise<LoadedKeyFile<K> | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let text: string;
  let permissionsTightened = false;
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw unusable(path, kind, options, 'it is not a regular file');
    // Tightened through the open handle, so it is the file just read, whatever happens to the name.
    if ((stats.mode & 0o077) !== 0) {
      await handle.chmod(PRIVATE_MODE);
      permissionsTightened = true;
    }
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  const parsed = parseKeyFile(text, kind);
  if (typeof parsed === 'string') throw unusable(path, kind, options, parsed);
  return { ...parsed, path, created: false, permissionsTightened };
}

/** The keys in `text`, or why there are none. */
function parseKeyFile<K extends KeyKind>(text: string, kind: K): { keys: KeysOfKind[K]; legacy: boolean } | string {
  let content: Record<string, unknown>;
  try {
    content = JSON.parse(text);
  } catch {
    return text.trim() === '' ? 'the file is empty' : 'not JSON (truncated or damaged)';
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) return 'not a mixlab key file';
  const fields = fieldsOf(content);
  if (typeof fields === 'string') return fields;
  if (fields.kind !== kind) return `it holds an ${fields.kind} key, not an ${kind} key`;
  const secret = hex32(content[fields.secretField]);
  if (!secret) return `${fields.secretField} must be 64 hex characters`;
  const keys = keysOf(kind, secret);
  const publicKey = content[fields.publicField];
  if (publicKey === undefined && fields.legacy) return { keys, legacy: true }; // the node's first files could omit it
  const claimed = hex32(publicKey);
  if (!claimed) return `${fields.publicField} must be 64 hex characters`;
  if (toHex(claimed) !== toHex(keys.publicKey)) return `${fields.publicField} does not belong to ${fields.secretField}`;
  return { keys, legacy: fields.legacy };
}

/** Where the secret and public key are in each format, and which kind it holds. */
function fieldsOf(
  content: Record<string, unknown>,
): { kind: KeyKind; secretField: string; publicField: string; legacy: boolean } | string {
  if (content.format === FORMAT) {
    if (content.version !== VERSION) return `format version ${String(content.version)} is not ${VERSION}`;
    if (content.kind !== 'x25519' && content.kind !== 'ed25519') return `unknown kind ${JSON.stringify(content.kind)}`;
    return { kind: content.kind, secretField: 'secret', publicField: 'publicKey', legacy: false };
  }
  // Before v1: the directory's key, the mix node's identity, the CLI's key.
  if (content.type === 'ed25519')
    return { kind: 'ed25519', secretField: 'seed', publicField: 'publicKey', legacy: true };
  if (content.version === 1 && 'seed' in content)
    return { kind: 'ed25519', secretField: 'seed', publicField: 'identityKey', legacy: true };
  if ('privateKey' in content)
    return { kind: 'x25519', secretField: 'privateKey', publicField: 'publicKey', legacy: true };
  return 'not a mixlab key file';
}

function hex32(value: unknown): Uint8Array | null {
  return typeof value === 'string' && value.length === 2 * SECRET_BYTES ? fromHex(value) : null;
}

function keysOf<K extends KeyKind>(kind: K, secret: Uint8Array): KeysOfKind[K] {
  const keys: KeysOfKind[KeyKind] =
    kind === 'x25519' ? { privateKey: secret, publicKey: publicKeyOf(secret) } : signingKeyPairFromSeed(secret);
  return keys as KeysOfKind[K];
}

function unusable(path: string, kind: KeyKind, options: KeyFileOptions, why: string): Error {
  const name = options.name ?? `${kind} key`;
  const consequence = options.ifReplaced ?? 'whoever knows the old public key will not know the new one';
  return new Error(
    `${path} is not a usable ${name} file: ${why}. Restore it from a backup, or move it away so that ` +
      `a new ${name} is created (${consequence}).`,
  );
}

/** A name next to `path` that no other process or call picks. */
function temporaryPathFor(path: string): string {
  return `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
}

/** Creates `path` (failing if it exists) with exactly `mode`, whatever the umask, and syncs it to disk. */
async function writeNewFileSynced(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Syncs the folder holding `path`, so the new name survives a crash too. */
async function syncFolder(path: string): Promise<void> {
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
