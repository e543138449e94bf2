/**
 * Several packets in one HTTP body: each frame is a u32 big-endian length and
 * that many bytes. Used mix node to mix node and exit node to gateway.
 */
export const FRAME_HEADER_BYTES = 4;

export function encodeFrames(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const frame of frames) total += FRAME_HEADER_BYTES + frame.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const frame of frames) {
    view.setUint32(offset, frame.length);
    out.set(frame, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + frame.length;
  }
  return out;
}

/** Splits a body into frames (views, not copies); throws RangeError when the body is not whole frames. */
export function decodeFrames(body: Uint8Array, maxFrames: number): Uint8Array[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const frames: Uint8Array[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (frames.length === maxFrames) throw new RangeError(`more than ${maxFrames} frames`);
    if (offset + FRAME_HEADER_BYTES > body.length) throw new RangeError('truncated frame header');
    const length = view.getUint32(offset);
    const start = offset + FRAME_HEADER_BYTES;
    if (start + length > body.length) throw new RangeError(`frame ${frames.length} is truncated`);
    frames.push(body.subarray(start, start + length));
    offset = start + length;
  }
  return frames;
}
