import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cryptoReady, publicKeyOf, signingKeyPairFromSeed, toHex } from '@mixlab/crypto';
import { type KeyKind, loadOrCreateKeyFile, writePublicFile } from './key-file.ts';

// Awaited here: the suites below derive their cases from SEED while they are collected.
await cryptoReady();
const SEED = new Uint8Array(32).fill(0x11);
const SEED_HEX = toHex(SEED);

describe('loadOrCreateKeyFile', () => {
  let root: string;
  let count = 0;
  /** A path in a folder of its own that does not exist yet. */
  const fresh = () => join(root, `case-${++count}`, 'keys', 'key.json');
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mixlab-key-file-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  for (const kind of ['x25519', 'ed25519'] as const) {
    it(`creates an ${kind} key once (file 0600, folder 0700) and loads the same key afterwards`, async () => {
      const path = fresh();
      const first = await loadOrCreateKeyFile(path, kind);
      assert.deepEqual(
        { created: first.created, legacy: first.legacy, permissionsTightened: first.permissionsTightened },
        { created: true, legacy: false, permissionsTightened: false },
      );
      assert.equal(first.path, path);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(path, '..'))).mode & 0o077, 0, 'the folder is private too');
      const file = JSON.parse(await readFile(path, 'utf8'));
      assert.deepEqual(Object.keys(file), ['format', 'version', 'kind', 'secret', 'publicKey']);
      assert.deepEqual([file.format, file.version, file.kind], ['mixlab-key', 1, kind]);
      assert.equal(file.publicKey, toHex(first.keys.publicKey));
      const secret = 'privateKey' in first.keys ? first.keys.privateKey : first.keys.secretKey.subarray(0, 32);
      assert.equal(file.secret, toHex(secret));

      const again = await loadOrCreateKeyFile(path, kind);
      assert.equal(again.created, false);
      assert.equal(again.legacy, false);
      assert.deepEqual(again.keys, first.keys);
      assert.notDeepEqual((await loadOrCreateKeyFile(fresh(), kind)).keys, first.keys, 'a new file, a new key');
    });
  }

  it('gives one key to concurrent calls on an empty folder, and leaves no temporary file', async () => {
    const path = fresh();
    const loaded = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateKeyFile(path, 'ed25519')));
    assert.equal(loaded.filter((one) => one.created).length, 1);
    for (const one of loaded) assert.deepEqual(one.keys, loaded[0]!.keys);
    assert.deepEqual(await readdir(join(path, '..')), ['key.json']);
  });

  it('gives one key to two processes starting together', async () => {
    const path = fresh();
    const script =
      `const { loadOrCreateKeyFile } = await import(${JSON.stringify(new URL('./key-file.ts', import.meta.url).href)});` +
      `const loaded = await loadOrCreateKeyFile(process.argv[1], 'x25519');` +
      "console.log(JSON.stringify({ created: loaded.created, publicKey: Buffer.from(loaded.keys.publicKey).toString('hex') }));";
    const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, path]);
    const outputs = (await Promise.all([run(), run()])).map(({ stdout }) => JSON.parse(stdout));
    assert.equal(outputs.filter((output) => output.created).length, 1);
    assert.equal(outputs[0].publicKey, outputs[1].publicKey);
    assert.equal(outputs[0].publicKey, toHex((await loadOrCreateKeyFile(path, 'x25519')).keys.publicKey));
  });

  it('creates the file with mode 0600 exactly, whatever the umask', async () => {
    for (const umask of [0o000, 0o377]) {
      const path = fresh();
      await mkdir(join(path, '..'), { recursive: true });
      const previous = process.umask(umask);
      try {
        await loadOrCreateKeyFile(path, 'x25519');
      } finally {
        process.umask(previous);
      }
      assert.equal((await stat(path)).mode & 0o777, 0o600, `umask ${umask.toString(8)}`);
    }
  });

  it('sets a key file readable by others back to 0600 and says so', async () => {
    const path = fresh();
    await loadOrCreateKeyFile(path, 'ed25519');
    await chmod(path, 0o644);
    const loaded = await loadOrCreateKeyFile(path, 'ed25519');
    assert.equal(loaded.permissionsTightened, true);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await loadOrCreateKeyFile(path, 'ed25519')).permissionsTightened, false);
  });

  describe('refuses a file it cannot use, says why and what to do, and leaves the file as it was', () => {
    const good = { format: 'mixlab-key', version: 1, kind: 'ed25519', secret: SEED_HEX };
    const publicKey = toHex(signingKeyPairFromSeed(SEED).publicKey);
    const cases: [string, string, RegExp][] = [
      ['empty', '', /the file is empty/],
      ['truncated', JSON.stringify({ ...good, publicKey }).slice(0, 40), /not JSON \(truncated or damaged\)/],
      ['not JSON', 'seed=1111', /not JSON/],
      ['foreign JSON', JSON.stringify({ name: 'something else' }), /not a mixlab key file/],
      ['a JSON array', '[]', /not a mixlab key file/],
      [
        'another kind',
        JSON.stringify({ ...good, kind: 'x25519', publicKey }),
        /holds an x25519 key, not an ed25519 key/,
      ],
      ['an unknown kind', JSON.stringify({ ...good, kind: 'rsa', publicKey }), /unknown kind "rsa"/],
      ['a newer version', JSON.stringify({ ...good, version: 2, publicKey }), /format version 2 is not 1/],
      ['a short secret', JSON.stringify({ ...good, secret: SEED_HEX.slice(2), publicKey }), /secret must be 64 hex/],
      ['a non-hex secret', JSON.stringify({ ...good, secret: 'zz'.repeat(32), publicKey }), /secret must be 64 hex/],
      ['a long public key', JSON.stringify({ ...good, publicKey: `${publicKey}00` }), /publicKey must be 64 hex/],
      ['no public key', JSON.stringify(good), /publicKey must be 64 hex/],
      ['a mismatched public key', JSON.stringify({ ...good, publicKey: 'ab'.repeat(32) }), /publicKey does not belong/],
      [
        'a legacy file of another kind',
        JSON.stringify({ publicKey: toHex(publicKeyOf(SEED)), privateKey: SEED_HEX }),
        /holds an x25519 key, not an ed25519 key/,
      ],
      [
        'a legacy file with a mismatched public key',
        JSON.stringify({ type: 'ed25519', seed: SEED_HEX, publicKey: 'ab'.repeat(32) }),
        /publicKey does not belong to seed/,
      ],
    ];
    for (const [name, text, why] of cases) {
      it(name, async () => {
        const path = fresh();
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, text, { mode: 0o600 });
        const options = { name: 'test key', ifReplaced: 'tests must be told' };
        const error: Error = await loadOrCreateKeyFile(path, 'ed25519', options).then(
          () => assert.fail('loaded'),
          (thrown) => thrown,
        );
        assert.match(error.message, why);
        assert.ok(error.message.startsWith(`${path} is not a usable test key file: `), error.message);
        assert.match(error.message, /Restore it from a backup, or move it away so that a new test key is created/);
        assert.match(error.message, /\(tests must be told\)\.$/);
        assert.equal(await readFile(path, 'utf8'), text, 'left as it was');
      });
    }
  });

  describe('loads the formats from before v1 as they are', () => {
    const ed25519 = signingKeyPairFromSeed(SEED);
    const x25519 = { privateKey: SEED, publicKey: publicKeyOf(SEED) };
    const legacy: [string, KeyKind, object, object][] = [
      ['the CLI key', 'x25519', { publicKey: toHex(x25519.publicKey), privateKey: SEED_HEX }, x25519],
      ['the node identity', 'ed25519', { version: 1, seed: SEED_HEX, identityKey: toHex(ed25519.publicKey) }, ed25519],
      ['an early node identity without identityKey', 'ed25519', { version: 1, seed: SEED_HEX }, ed25519],
      [
        'the directory key',
        'ed25519',
        { type: 'ed25519', seed: SEED_HEX, publicKey: toHex(ed25519.publicKey) },
        ed25519,
      ],
    ];
    for (const [name, kind, content, keys] of legacy) {
      it(`${name} (${kind})`, async () => {
        const path = fresh();
        await mkdir(join(path, '..'), { recursive: true });
        const text = `${JSON.stringify(content, null, 2)}\n`;
        await writeFile(path, text, { mode: 0o600 });
        const loaded = await loadOrCreateKeyFile(path, kind);
        assert.deepEqual([loaded.created, loaded.legacy], [false, true]);
        assert.deepEqual(loaded.keys, keys);
        assert.equal(await readFile(path, 'utf8'), text, 'not rewritten');

        const current = fresh();
        await mkdir(join(current, '..'), { recursive: true });
        const file = {
          format: 'mixlab-key',
          version: 1,
          kind,
          secret: SEED_HEX,
          publicKey: toHex(loaded.keys.publicKey),
        };
        await writeFile(current, JSON.stringify(file), { mode: 0o600 });
        assert.deepEqual((await loadOrCreateKeyFile(current, kind)).keys, loaded.keys, 'the same key pair as v1');
      });
    }
  });
});

describe('writePublicFile', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mixlab-public-file-'));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('writes and replaces the file whole, mode 0644, leaving no temporary file', async () => {
    const path = join(folder, 'directory.pub');
    await writePublicFile(path, 'one\n');
    assert.equal(await readFile(path, 'utf8'), 'one\n');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    await chmod(path, 0o600);
    await writePublicFile(path, 'two\n');
    assert.equal(await readFile(path, 'utf8'), 'two\n');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(folder), ['directory.pub']);
  });
});
