import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { loadOrCreateDirectoryKey } from './directory-key.ts';

describe('loadOrCreateDirectoryKey', () => {
  let root: string;
  before(async () => {
    await cryptoReady();
    root = await mkdtemp(join(tmpdir(), 'mixlab-directory-key-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('creates the key on first start (0600) with directory.pub, and keeps it afterwards', async () => {
    const dataDir = join(root, 'keep', 'data');
    const first = await loadOrCreateDirectoryKey(dataDir);
    assert.equal(first.created, true);
    assert.match(first.publicKeyHex, /^[0-9a-f]{64}$/);
    assert.equal(toHex(first.keyPair.publicKey), first.publicKeyHex);
    assert.equal((await stat(first.keyPath)).mode & 0o777, 0o600);
    assert.equal(await readFile(join(dataDir, 'directory.pub'), 'utf8'), `${first.publicKeyHex}\n`);
    const again = await loadOrCreateDirectoryKey(dataDir);
    assert.equal(again.created, false);
    assert.equal(again.publicKeyHex, first.publicKeyHex);
    assert.deepEqual(again.keyPair.secretKey, first.keyPair.secretKey);
  });

  it('gives one key to two starts racing on an empty volume', async () => {
    const dataDir = join(root, 'race');
    const [a, b] = await Promise.all([loadOrCreateDirectoryKey(dataDir), loadOrCreateDirectoryKey(dataDir)]);
    assert.equal(a.publicKeyHex, b.publicKeyHex);
    assert.equal([a.created, b.created].filter(Boolean).length, 1);
  });

  it('sets a key file readable by others back to 0600', async () => {
    const dataDir = join(root, 'loose');
    const { keyPath } = await loadOrCreateDirectoryKey(dataDir);
    await chmod(keyPath, 0o644);
    const loaded = await loadOrCreateDirectoryKey(dataDir);
    assert.equal(loaded.permissionsTightened, true);
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
  });

  it('refuses a damaged key file rather than replace it', async () => {
    const dataDir = join(root, 'damaged');
    const { keyPath } = await loadOrCreateDirectoryKey(dataDir);
    const content = JSON.parse(await readFile(keyPath, 'utf8'));
    await writeFile(keyPath, JSON.stringify({ ...content, publicKey: 'ab'.repeat(32) }));
    await assert.rejects(loadOrCreateDirectoryKey(dataDir), /publicKey does not belong to secret/);
    await writeFile(keyPath, '{"type":');
    await assert.rejects(
      loadOrCreateDirectoryKey(dataDir),
      /not a usable directory key file: not JSON.*every client must then pin the new public key/,
    );
    assert.equal(await readFile(keyPath, 'utf8'), '{"type":', 'the damaged file is left as it was');
  });
});
