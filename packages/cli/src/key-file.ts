import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromHex, generateKeyPair, type KeyPair, publicKeyOf, toHex } from '@mixlab/crypto';

/** Loads the X25519 key pair kept at `path`, or creates one there (mode 0600). */
export async function loadOrCreateKey(path: string): Promise<{ keys: KeyPair; created: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const keys = generateKeyPair();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = { publicKey: toHex(keys.publicKey), privateKey: toHex(keys.privateKey) };
    await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return { keys, created: true };
  }
  const parsed = JSON.parse(text) as { privateKey?: unknown };
  const privateKey = typeof parsed.privateKey === 'string' ? fromHex(parsed.privateKey) : null;
  if (privateKey?.length !== 32) {
    throw new Error(`${path} holds no 32-byte privateKey in hex; move it away to create a new key`);
  }
  return { keys: { privateKey, publicKey: publicKeyOf(privateKey) }, created: false };
}
