/**
 * The directory's long-term Ed25519 key: it signs every topology, and clients pin its
 * public half. Kept in `${dataDir}/directory-key.json` (a @mixlab/runtime key file, mode
 * 0600) so that a restart keeps it; the public key is also written, as hex and a newline,
 * to `${dataDir}/directory.pub` for operators and scripts to read.
 */
import { join } from 'node:path';
import { type SigningKeyPair, toHex } from '@mixlab/crypto';
import { loadOrCreateKeyFile, writePublicFile } from '@mixlab/runtime';

export const DIRECTORY_KEY_FILE = 'directory-key.json';
export const DIRECTORY_PUBLIC_KEY_FILE = 'directory.pub';

export interface DirectoryKey {
  readonly keyPair: SigningKeyPair;
  /** The public key as clients pin it: 64 lowercase hex characters. */
  readonly publicKeyHex: string;
  /** True when this start created the key (there was none on the volume). */
  readonly created: boolean;
  /** True when the key file is in the format from before mixlab-key v1 (still read, not rewritten). */
  readonly legacy: boolean;
  /** True when the key file was readable by others and its mode was set back to 0600. */
  readonly permissionsTightened: boolean;
  readonly keyPath: string;
  readonly publicKeyPath: string;
}

/**
 * Loads the directory key from `dataDir`, creating the folder and the key on first start.
 * Two processes starting on one empty volume end up with the same key. Throws, saying what
 * to do, when the file exists but is not a key.
 */
export async function loadOrCreateDirectoryKey(dataDir: string): Promise<DirectoryKey> {
  const keyPath = join(dataDir, DIRECTORY_KEY_FILE);
  const publicKeyPath = join(dataDir, DIRECTORY_PUBLIC_KEY_FILE);
  const { keys, created, legacy, permissionsTightened } = await loadOrCreateKeyFile(keyPath, 'ed25519', {
    name: 'directory key',
    ifReplaced: 'every client must then pin the new public key',
  });
  const publicKeyHex = toHex(keys.publicKey);
  await writePublicFile(publicKeyPath, `${publicKeyHex}\n`);
  return { keyPair: keys, publicKeyHex, created, legacy, permissionsTightened, keyPath, publicKeyPath };
}
