import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enrollSelf } from './self-enrollment.ts';

describe('enrollSelf', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mixlab-enroll-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('writes the key as hex to <dir>/<id>.pub, readable by others, and replaces an older one', async () => {
    const dir = join(root, 'enrollment');
    const path = await enrollSelf(dir, 'gateway-1', new Uint8Array(32).fill(0xab));
    assert.equal(path, join(dir, 'gateway-1.pub'));
    assert.equal(await readFile(path, 'utf8'), `${'ab'.repeat(32)}\n`);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    await enrollSelf(dir, 'gateway-1', new Uint8Array(32).fill(0x01));
    assert.equal(await readFile(path, 'utf8'), `${'01'.repeat(32)}\n`);
  });
});
