import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, randomBytes } from '@mixlab/crypto';
import { LIONESS_KEY_BYTES, lionessDecrypt, lionessEncrypt } from './lioness.ts';

before(cryptoReady);

function differingBytes(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('LIONESS', () => {
  it('decrypts what it encrypts, also in place', () => {
    const key = randomBytes(LIONESS_KEY_BYTES);
    const block = randomBytes(2048);
    const sealed = lionessEncrypt(key, block);
    assert.notDeepEqual(sealed, block);
    assert.deepEqual(lionessDecrypt(key, sealed), block);
    const copy = block.slice();
    lionessEncrypt(key, copy, copy);
    assert.deepEqual(copy, sealed);
    lionessDecrypt(key, copy, copy);
    assert.deepEqual(copy, block);
  });

  it('scrambles the whole block when one ciphertext bit changes (wide block)', () => {
    const key = randomBytes(LIONESS_KEY_BYTES);
    const block = new Uint8Array(2048);
    const sealed = lionessEncrypt(key, block);
    for (const position of [0, 31, 32, 1000, 2047]) {
      const tagged = sealed.slice();
      tagged[position] = (tagged[position] as number) ^ 0x01;
      const opened = lionessDecrypt(key, tagged);
      assert.ok(differingBytes(opened.subarray(0, 32), block.subarray(0, 32)) > 24, `left half at ${position}`);
      assert.ok(differingBytes(opened.subarray(32), block.subarray(32)) > 1900, `right half at ${position}`);
    }
  });

  it('rejects wrong key and block sizes', () => {
    assert.throws(() => lionessEncrypt(new Uint8Array(64), new Uint8Array(100)), RangeError);
    assert.throws(() => lionessEncrypt(new Uint8Array(LIONESS_KEY_BYTES), new Uint8Array(32)), RangeError);
  });
});
