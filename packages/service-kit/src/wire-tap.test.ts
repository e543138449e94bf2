import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { decodeFrames } from '@mixlab/packet';
import { seededRandom } from '@mixlab/runtime';
import Fastify from 'fastify';
import { FrameSender } from './frame-sender.ts';
import { acceptOctetStream } from './http.ts';
import {
  decodeTapEvents,
  encodeTapEvent,
  endpointOf,
  envTapAddress,
  MAX_TAP_DATAGRAM_BYTES,
  MAX_TAP_EVENT_BYTES,
  peerEndpoint,
  serviceTap,
  TAP_FIELDS,
  TapDatagramError,
  UdpWireTap,
} from './wire-tap.ts';

const datagram = (value: unknown) => Buffer.from(JSON.stringify(value));
const WELL_FORMED = {
  atMs: 1_700_000_000_123.5,
  from: '10.0.0.7:8080',
  to: 'client-gateway:8080',
  bytes: 2640,
  packets: 1,
};

/** A UDP socket on a free loopback port that collects what arrives. */
async function listener() {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = (socket.address() as AddressInfo).port;
  const next = async (count: number) => {
    while (received.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    return received;
  };
  return { port, next, close: () => socket.close() };
}

describe('tap datagrams', () => {
  it('carry exactly atMs, from, to, bytes and packets', () => {
    const { atMs, from, to, bytes, packets } = WELL_FORMED;
    const encoded = encodeTapEvent(atMs, from, to, bytes, packets);
    assert.deepEqual(Object.keys(JSON.parse(encoded.toString('utf8'))), [...TAP_FIELDS]);
    assert.deepEqual(decodeTapEvents(encoded), [WELL_FORMED]);
  });

  it('refuses a datagram with any field a tap cannot see, whatever its name or value (fuzzed)', () => {
    const random = seededRandom(9);
    const values = [1, 'x', true, null, [1, 2], { id: 'abc' }, 'deadbeef'.repeat(4)];
    const names = ['id', 'packetId', 'route', 'nextHop', 'key', 'recipient', 'sender', 'pool', 'delay', 'layer', '_'];
    for (let trial = 0; trial < 300; trial++) {
      const name =
        random.int(3) === 0
          ? Array.from({ length: 1 + random.int(8) }, () => String.fromCharCode(97 + random.int(26))).join('')
          : (names[random.int(names.length)] as string);
      if ((TAP_FIELDS as readonly string[]).includes(name)) continue;
      const value = values[random.int(values.length)];
      const withExtra = { ...WELL_FORMED, [name]: value };
      assert.throws(() => decodeTapEvents(datagram(withExtra)), TapDatagramError, `extra field ${name}`);
    }
  });

  it('refuses missing fields, wrong types, bad endpoints, non-objects and oversized datagrams', () => {
    const bad: unknown[] = [
      { ...WELL_FORMED, atMs: undefined },
      { ...WELL_FORMED, atMs: -1 },
      { ...WELL_FORMED, atMs: '5' },
      { ...WELL_FORMED, from: '' },
      { ...WELL_FORMED, to: 'a b' },
      { ...WELL_FORMED, to: 7 },
      { ...WELL_FORMED, bytes: 1.5 },
      { ...WELL_FORMED, packets: -1 },
      [1, 2, 3],
      'text',
      null,
    ];
    for (const value of bad) assert.throws(() => decodeTapEvents(datagram(value)), TapDatagramError);
    assert.throws(() => decodeTapEvents(Buffer.from('{"atMs":')), /not JSON/);
    const padded = Buffer.alloc(MAX_TAP_EVENT_BYTES + 1, 0x20);
    assert.throws(() => decodeTapEvents(padded), /exceeds/);
  });

  it('carry the events of one turn a line each, and are refused whole when any line is not an event', () => {
    const { atMs, from, to, bytes, packets } = WELL_FORMED;
    const first = encodeTapEvent(atMs, from, to, bytes, packets);
    const second = encodeTapEvent(atMs + 1, to, from, 100, 0);
    assert.deepEqual(decodeTapEvents(Buffer.concat([first, Buffer.from('\n'), second])), [
      WELL_FORMED,
      { atMs: atMs + 1, from: to, to: from, bytes: 100, packets: 0 },
    ]);
    const withExtra = datagram({ ...WELL_FORMED, id: 'x' });
    assert.throws(() => decodeTapEvents(Buffer.concat([first, Buffer.from('\n'), withExtra])), TapDatagramError);
    assert.throws(() => decodeTapEvents(Buffer.concat([first, Buffer.from('\n')])), /not JSON/);
    assert.throws(() => decodeTapEvents(Buffer.alloc(MAX_TAP_DATAGRAM_BYTES + 1, 0x20)), /exceeds/);
  });

  it('names endpoints as host:port, the way the directory publishes URLs and a tap sees peers', () => {
    assert.equal(endpointOf('http://10.1.2.3:8080/v1/packets'), '10.1.2.3:8080');
    assert.equal(endpointOf('http://client-gateway/v1/deliveries'), 'client-gateway:80');
    assert.equal(peerEndpoint('::ffff:172.18.0.1', 40312), '172.18.0.1:40312');
    assert.equal(peerEndpoint('fd00::2', 5), '[fd00::2]:5');
    assert.equal(envTapAddress({}), undefined);
    assert.equal(envTapAddress({ TAP_ADDRESS: 'observer:9999' }), 'observer:9999');
    assert.throws(() => envTapAddress({ TAP_ADDRESS: 'http://observer:9999' }), /host:port/);
    assert.equal(serviceTap(undefined, 'http://10.0.0.7:8080'), undefined, 'no tap unless one is configured');
  });
});

describe('UdpWireTap', () => {
  it('starts a new datagram before one would pass MAX_TAP_DATAGRAM_BYTES, and one per turn', async () => {
    const observer = await listener();
    const tap = new UdpWireTap({ target: `127.0.0.1:${observer.port}`, self: '10.0.0.7:8080', now: () => 1 });
    await tap.connected;
    for (let i = 0; i < 40; i++) tap.sent(`10.0.0.${i}:8080`, 2640, 1);
    await new Promise(setImmediate);
    tap.sent('10.0.0.99:8080', 2640, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const datagrams = await observer.next(1);
    const counts = datagrams.map((d) => decodeTapEvents(d).length);
    assert.ok(
      datagrams.every((d) => d.length <= MAX_TAP_DATAGRAM_BYTES),
      `sizes ${datagrams.map((d) => d.length)}`,
    );
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      41,
    );
    assert.ok(counts.length >= 4 && counts.at(-1) === 1, `events per datagram ${counts}`);
    tap.close();
    observer.close();
  });

  it("sends a turn's events in one datagram, each stamped by its clock, naming itself on the right side", async () => {
    const observer = await listener();
    let now = 1000.25;
    const tap = new UdpWireTap({ target: `127.0.0.1:${observer.port}`, self: '10.0.0.7:8080', now: () => now });
    await tap.connected;
    tap.sent('10.0.0.8:8080', 2640, 1);
    now = 1001;
    tap.received('172.18.0.1:40312', 3600, 1);
    const [sent, received] = decodeTapEvents((await observer.next(1))[0] as Buffer);
    assert.deepEqual(sent, { atMs: 1000.25, from: '10.0.0.7:8080', to: '10.0.0.8:8080', bytes: 2640, packets: 1 });
    assert.deepEqual(received, { atMs: 1001, from: '172.18.0.1:40312', to: '10.0.0.7:8080', bytes: 3600, packets: 1 });
    tap.close();
    observer.close();
  });

  it('looks a named observer up when it is built, so the first events after start-up reach it', async () => {
    const observer = await listener();
    const tap = new UdpWireTap({ target: `localhost:${observer.port}`, self: 'a:1', now: () => 7 });
    await tap.connected;
    tap.sent('b:2', 10, 1);
    const [first] = decodeTapEvents((await observer.next(1))[0] as Buffer);
    assert.deepEqual(first, { atMs: 7, from: 'a:1', to: 'b:2', bytes: 10, packets: 1 });
    tap.close();
    observer.close();
  });

  it('never fails its caller when no observer listens, or the name does not resolve', () => {
    const nobody = new UdpWireTap({ target: '127.0.0.1:9', self: 'a:1', now: () => 0 });
    const unknown = new UdpWireTap({ target: 'no-such-observer.invalid:9999', self: 'a:1', now: () => 0 });
    for (let i = 0; i < 10; i++) {
      nobody.sent('b:2', 1, 1);
      unknown.received('c:3', 1, 1);
    }
    nobody.close();
    unknown.close();
  });

  it('hears every request a FrameSender puts on the wire: target endpoint, body bytes, packets', async () => {
    const observer = await listener();
    const app = Fastify();
    acceptOctetStream(app, 1 << 20);
    let frames = 0;
    app.post('/v1/packets', async (request) => {
      frames += decodeFrames(request.body as Buffer, 100).length;
      return {};
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const tap = new UdpWireTap({ target: `127.0.0.1:${observer.port}`, self: '10.0.0.7:8080', now: () => 5 });
    await tap.connected;
    const sender = new FrameSender({ connections: 1, attempts: 1, timeoutMs: 2_000, tap });
    await sender.send(`http://127.0.0.1:${port}/v1/packets`, [new Uint8Array(100), new Uint8Array(100)]);
    const [event] = decodeTapEvents((await observer.next(1))[0] as Buffer);
    assert.equal(frames, 2);
    // Two frames of 100 bytes, each with its length header.
    assert.ok(event && event.bytes > 200 && event.bytes < 220, `bytes ${event?.bytes}`);
    assert.deepEqual(
      { ...event, bytes: 0 },
      { atMs: 5, from: '10.0.0.7:8080', to: `127.0.0.1:${port}`, bytes: 0, packets: 2 },
    );
    await sender.close();
    await app.close();
    tap.close();
    observer.close();
  });
});
