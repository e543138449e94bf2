import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_GATEWAY_ID_BYTES } from '../packet-format.ts';
import { createGeometry, defaultGeometry } from './geometry.ts';

describe('sphinx geometry', () => {
  it('computes the default sizes: 5 hops, 102-byte slots, 574-byte header, 2622-byte packet', () => {
    assert.equal(defaultGeometry.maxHops, 5);
    assert.equal(defaultGeometry.perHopRoutingInfoBytes, 102);
    assert.equal(defaultGeometry.routingInfoBytes, 510);
    assert.equal(defaultGeometry.headerBytes, 574);
    assert.equal(defaultGeometry.payloadBytes, 2048);
    assert.equal(defaultGeometry.packetBytes, 2622);
    assert.equal(defaultGeometry.macOffset, 542);
    assert.equal(defaultGeometry.payloadOffset, 574);
    assert.equal(defaultGeometry.replyBlockBytes, 767);
    assert.equal(defaultGeometry.replyCapacity, 2028);
    assert.equal(defaultGeometry.maxMessageBytes, 2048 - 53 - MAX_GATEWAY_ID_BYTES);
    assert.equal(defaultGeometry.messageCapacity(20), 2048 - 53 - 20);
  });

  it('scales the header with maxHops', () => {
    const g = createGeometry({ maxHops: 8, payloadBytes: 4096 });
    assert.equal(g.headerBytes, 32 + 8 * 102 + 32);
    assert.equal(g.packetBytes, g.headerBytes + 4096);
  });

  it('rejects parameters it cannot build', () => {
    assert.throws(() => createGeometry({ maxHops: 0 }), RangeError);
    assert.throws(() => createGeometry({ maxHops: 2.5 }), RangeError);
    assert.throws(() => createGeometry({ maxHops: 33 }), RangeError);
    assert.throws(() => createGeometry({ payloadBytes: 100 }), RangeError);
  });
});
