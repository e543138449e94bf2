import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrames, encodeFrames, FRAME_HEADER_BYTES } from './framing.ts';

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 31) % 256);
}

describe('framing', () => {
  describe('round trip', () => {
    it('encodes no frames as an empty body and decodes it back to none', () => {
      const body = encodeFrames([]);
      assert.equal(body.length, 0);
      assert.deepEqual(decodeFrames(body, 10), []);
    });

    it('encodes one frame as a big-endian u32 length and its bytes', () => {
      const frame = bytes(300, 1);
      const body = encodeFrames([frame]);
      assert.equal(body.length, FRAME_HEADER_BYTES + frame.length);
      assert.deepEqual(body.subarray(0, FRAME_HEADER_BYTES), Uint8Array.from([0, 0, 300 >> 8, 300 & 0xff]));
      assert.deepEqual(body.subarray(FRAME_HEADER_BYTES), frame);
      assert.deepEqual(decodeFrames(body, 1), [frame]);
    });

    it('round-trips many frames of varied sizes, including empty frames, in order', () => {
      const frames = [new Uint8Array(0), bytes(1, 2), new Uint8Array(0), bytes(2048, 3), bytes(70_000, 4), bytes(5, 5)];
      frames.push(new Uint8Array(0));
      const body = encodeFrames(frames);
      const total = frames.reduce((sum, frame) => sum + FRAME_HEADER_BYTES + frame.length, 0);
      assert.equal(body.length, total);
      assert.deepEqual(decodeFrames(body, frames.length), frames);
    });

    it('round-trips a body made only of empty frames', () => {
      const frames = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
      const body = encodeFrames(frames);
      assert.deepEqual(body, new Uint8Array(3 * FRAME_HEADER_BYTES));
      assert.deepEqual(decodeFrames(body, 3), frames);
    });

    it('encodes frames that are views into a larger buffer by their own bytes only', () => {
      const backing = bytes(64, 9);
      const frame = backing.subarray(10, 20);
      assert.deepEqual(decodeFrames(encodeFrames([frame]), 1), [backing.slice(10, 20)]);
    });

    it('decodes a body that is itself a view at an offset in a larger buffer', () => {
      const frames = [bytes(7, 1), new Uint8Array(0), bytes(3, 2)];
      const body = encodeFrames(frames);
      const backing = new Uint8Array(body.length + 13).fill(0xff);
      backing.set(body, 5);
      assert.deepEqual(decodeFrames(backing.subarray(5, 5 + body.length), 3), frames);
    });
  });

  it('decodes frames as views of the input, not copies', () => {
    const backing = new Uint8Array(100);
    const body = encodeFrames([bytes(10, 1), bytes(20, 2)]);
    backing.set(body, 8);
    const input = backing.subarray(8, 8 + body.length);
    const [first, second] = decodeFrames(input, 2) as [Uint8Array, Uint8Array];
    assert.equal(first.buffer, backing.buffer);
    assert.equal(second.buffer, backing.buffer);
    assert.equal(first.byteOffset, 8 + FRAME_HEADER_BYTES);
    assert.equal(second.byteOffset, 8 + FRAME_HEADER_BYTES + 10 + FRAME_HEADER_BYTES);
    input[FRAME_HEADER_BYTES] = 0xaa;
    assert.equal(first[0], 0xaa, 'a write to the input shows through the decoded frame');
  });

  describe('malformed bodies', () => {
    it('throws RangeError on a truncated frame header', () => {
      const whole = encodeFrames([bytes(4, 1)]);
      for (const length of [1, 2, 3]) {
        assert.throws(() => decodeFrames(new Uint8Array(length), 10), {
          name: 'RangeError',
          message: /truncated frame header/,
        });
        const trailing = new Uint8Array(whole.length + length);
        trailing.set(whole);
        assert.throws(() => decodeFrames(trailing, 10), { name: 'RangeError', message: /truncated frame header/ });
      }
    });

    it('throws RangeError on a truncated frame body, naming the frame', () => {
      const body = encodeFrames([bytes(3, 1), bytes(10, 2)]);
      assert.throws(() => decodeFrames(body.subarray(0, body.length - 1), 10), {
        name: 'RangeError',
        message: /frame 1 is truncated/,
      });
      assert.throws(() => decodeFrames(body.subarray(0, FRAME_HEADER_BYTES + 2), 10), {
        name: 'RangeError',
        message: /frame 0 is truncated/,
      });
    });

    it('throws RangeError on a length header far beyond the body', () => {
      const body = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
      assert.throws(() => decodeFrames(body, 10), { name: 'RangeError', message: /frame 0 is truncated/ });
    });

    it('accepts exactly maxFrames frames and throws RangeError on more, naming the limit', () => {
      const frames = [bytes(2, 1), new Uint8Array(0), bytes(3, 3)];
      assert.deepEqual(decodeFrames(encodeFrames(frames), 3), frames);
      assert.throws(() => decodeFrames(encodeFrames(frames), 2), { name: 'RangeError', message: /more than 2 frames/ });
      assert.throws(() => decodeFrames(encodeFrames([new Uint8Array(0)]), 0), {
        name: 'RangeError',
        message: /more than 0 frames/,
      });
    });
  });
});
