import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { identityPath, loadOrCreateIdentity } from './identity.ts';

describe('node identity', () => {
  let dataDir: string;
  before(async () => {
    await cryptoReady();
    dataDir = await mkdtemp(join(tmpdir(), 'mixlab-identity-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is created on first start (mode 0600, under the node id) and kept across restarts', async () => {
    const path = identityPath(dataDir, 'mix-1');
    assert.equal(path, join(dataDir, 'mix-1', 'identity.json'));
    const first = await loadOrCreateIdentity(path);
    assert.equal(first.created, true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const file = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual([file.format, file.kind], ['mixlab-key', 'ed25519']);
    assert.equal(file.publicKey, toHex(first.keys.publicKey));

    const again = await loadOrCreateIdentity(path);
    assert.equal(again.created, false);
    assert.deepEqual(again.keys, first.keys);

    const other = await loadOrCreateIdentity(identityPath(dataDir, 'mix-2'));
    assert.notDeepEqual(other.keys.publicKey, first.keys.publicKey, 'one identity per node id');
  });

  it('refuses a damaged file rather than replace the identity', async () => {
    const path = identityPath(dataDir, 'mix-3');
    await loadOrCreateIdentity(path);
    const file = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...file, publicKey: '00'.repeat(32) }));
    await assert.rejects(loadOrCreateIdentity(path), /publicKey does not belong to secret/);
    await writeFile(path, '{ not json');
    await assert.rejects(
      loadOrCreateIdentity(path),
      /mix-3\/identity.json is not a usable node identity key file: not JSON.*conflicting/,
    );
    assert.equal(await readFile(path, 'utf8'), '{ not json', 'left as it was');
  });
});
