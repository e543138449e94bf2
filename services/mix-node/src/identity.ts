/**
 * The node's long-term Ed25519 identity key: its name to the directory, which binds
 * the node id to it on first registration. Only the 32-byte seed is kept, at
 * `${dataDir}/${nodeId}/identity.json` (mode 0600), created on first start; a restart
 * reads it back, so the node keeps its identity. A file that cannot be read is an
 * error, never silently replaced: a new identity would be refused as a conflict.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ED25519_SEED_BYTES, randomBytes, type SigningKeyPair, signingKeyPairFromSeed, toHex } from '@mixlab/crypto';

interface IdentityFile {
  readonly version: 1;
  /** Ed25519 seed, 64 lowercase hex characters: the secret. */
  readonly seed: string;
  /** The public key of that seed, for operators; checked on load. */
  readonly identityKey: string;
}

export function identityPath(dataDir: string, nodeId: string): string {
  return join(dataDir, nodeId, 'identity.json');
}

/** Reads the identity at `path`, or creates one there (and its folder) when there is none. */
export async function loadOrCreateIdentity(path: string): Promise<{ keys: SigningKeyPair; created: boolean }> {
  const existing = await readIdentity(path);
  if (existing) return { keys: existing, created: false };
  const seed = randomBytes(ED25519_SEED_BYTES);
  const keys = signingKeyPairFromSeed(seed);
  const file: IdentityFile = { version: 1, seed: toHex(seed), identityKey: toHex(keys.publicKey) };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrite; if another process created it meanwhile, use that one.
    await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = await readIdentity(path);
    if (raced) return { keys: raced, created: false };
    throw error;
  }
  return { keys, created: true };
}

async function readIdentity(path: string): Promise<SigningKeyPair | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const broken = (why: string) =>
    new Error(`identity file ${path} is unusable (${why}): restore it, or delete it to start as a new identity`);
  let file: Partial<IdentityFile>;
  try {
    file = JSON.parse(text) as Partial<IdentityFile>;
  } catch {
    throw broken('not JSON');
  }
  if (typeof file?.seed !== 'string' || !/^[0-9a-f]{64}$/.test(file.seed))
    throw broken('seed is not 64 hex characters');
  const keys = signingKeyPairFromSeed(Buffer.from(file.seed, 'hex'));
  if (file.identityKey !== undefined && file.identityKey !== toHex(keys.publicKey)) {
    throw broken('identityKey does not belong to the seed');
  }
  return keys;
}
