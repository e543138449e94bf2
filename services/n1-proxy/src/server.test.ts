import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrames, sphinx } from '@mixlab/packet';
import { LINK_BOX_MAX_OVERHEAD_BYTES } from '@mixlab/service-kit';
import { Registry } from 'prom-client';
import { N1Attack } from './n1-attack.ts';
import { buildServer, sphinxPacketsIn } from './server.ts';

function setUp() {
  const passed: { path: string; bytes: number }[] = [];
  const attack = new N1Attack({
    threshold: 2,
    pass: async (path, body) => {
      passed.push({ path, bytes: body.length });
    },
    inject: async () => {},
  });
  const app = buildServer({
    attack,
    registry: new Registry(),
    ownRecipient: 'ab'.repeat(32),
    maxRequestBytes: 1 << 20,
    packetsIn: (bytes) => sphinxPacketsIn(bytes, 10),
  });
  const post = (url: string, payload?: Uint8Array) =>
    app.inject({
      method: 'POST',
      url,
      ...(payload ? { payload: Buffer.from(payload), headers: { 'content-type': 'application/octet-stream' } } : {}),
    });
  return { app, passed, post };
}

describe('n1-proxy server', () => {
  it('passes packet requests on while idle, unread, counting packets by the body size', async () => {
    const { passed, post } = setUp();
    // Two 10-byte packets framed, in a link box that adds less than one framed packet.
    const body = new Uint8Array(2 * 14 + 13);
    const response = await post('/v1/packets', body);
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.json(), { received: 2 });
    assert.deepEqual(passed, [{ path: '/v1/packets', bytes: body.length }]);
  });

  it('counts Sphinx packets in a link box exactly, whatever the ids in it', () => {
    const { packetBytes } = sphinx.geometry;
    assert.ok(LINK_BOX_MAX_OVERHEAD_BYTES < packetBytes + 4, 'a box adds less than one framed packet');
    for (const packets of [1, 2, 100]) {
      for (const overhead of [0, 200, LINK_BOX_MAX_OVERHEAD_BYTES]) {
        assert.equal(sphinxPacketsIn(packets * (packetBytes + 4) + overhead, packetBytes), packets);
      }
    }
  });

  it('refuses a target before the attack started', async () => {
    const { passed, post } = setUp();
    assert.equal((await post('/attack/target')).statusCode, 400);
    assert.deepEqual(passed, []);
  });

  it('holds while attacking and reports its status with its own recipient', async () => {
    const { passed, post } = setUp();
    assert.equal((await post('/attack/start')).statusCode, 200);
    await post('/v1/deliveries', encodeFrames([new Uint8Array(5)]));
    const status = (await post('/attack/stop')).json();
    assert.equal(status.phase, 'idle');
    assert.equal(status.ownRecipient, 'ab'.repeat(32));
    assert.deepEqual(
      passed.map(({ path }) => path),
      ['/v1/deliveries'],
      'released on stop',
    );
  });

  it('starts the round-based attack from a JSON plan, and refuses a bad one', async () => {
    const { app } = setUp();
    const start = (payload: object) => app.inject({ method: 'POST', url: '/attack/start', payload });
    const refused = await start({ perRound: 0, roundMs: 1000 });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.json().message ?? refused.body, /perRound/);
    // This attack has no clock and no watch: refused as such, so the plan did reach it.
    const noWatch = await start({ perRound: 5, roundMs: 1000 });
    assert.equal(noWatch.statusCode, 400);
    assert.match(noWatch.body, /needs a clock and a watch/);
  });
});
