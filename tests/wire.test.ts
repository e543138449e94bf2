/**
 * The wire, as a passive adversary on the compose network sees it: tcpdump on the
 * cascade's bridge while a client sends messages of varied lengths (under Sphinx, some
 * with acknowledgements too), then every HTTP request and every WebSocket push read back
 * from the capture and the sizes grouped by link.
 *
 * Under Sphinx every packet on every link is the same size, and so is every delivery from
 * the exit to the gateway and every push from the gateway to a client, whether it carries a
 * message or an acknowledgement; under the onion baseline a packet's size says which layer
 * it is on (and, hop to hop, which packet it is), and a delivery's size the message's length.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AcknowledgedSender, MixnetClient, type Subscription } from '@mixlab/client';
import { cryptoReady, generateKeyPair, toHex } from '@mixlab/crypto';
import { decodeFrames, defaultGeometry, type PacketFormatName, sphinx } from '@mixlab/packet';
import { type Cascade, eventually, startCascade } from '@mixlab/testbed';
import { bridgeInterface, buildCaptureImage, type Capture, startCapture } from './capture/capture.ts';
import { httpRequestsFromPcap, type WireRequest, webSocketsFromPcap } from './helpers/pcap.ts';

const THRESHOLD = 4;
/**
 * The same lengths for both formats: 1 to 1450 bytes (a Sphinx payload holds them all).
 * No two differ by exactly one or two onion layers (68 or 136 bytes with compose's node ids),
 * so under onion the size sets of different links cannot overlap by accident.
 */
const MESSAGE_LENGTHS = [1, 40, 97, 180, 256, 333, 480, 640, 777, 1000, 1234, 1450];
/** Sphinx only (onion has no reply blocks): acknowledged messages, one batch; up to 1146 bytes fit beside a reply block. */
const ACKNOWLEDGED_LENGTHS = [5, 300, 700, 1100];
const SPHINX_PACKET_BYTES = 2622;
/** The gateway's id in docker-compose.yml: exits name it in every delivery's routing. */
const GATEWAY_ID = 'gateway-1';
const PORT = 8080;

/** The links that carry packets, in path order; `client` is the host, behind the published port. */
const PACKET_LINKS = ['client→client-gateway', 'client-gateway→mix-1', 'mix-1→mix-2', 'mix-2→mix-3'] as const;
const DELIVERY_LINK = 'mix-3→client-gateway';
const PUSH_LINK = 'client-gateway→client (WebSocket)';
/** Compose service → the name it has in the link labels (one node per layer here). */
const SERVICES: Record<string, string> = {
  'client-gateway': 'client-gateway',
  'mix-layer-1': 'mix-1',
  'mix-layer-2': 'mix-2',
  'mix-layer-3': 'mix-3',
  directory: 'directory',
  prometheus: 'prometheus',
};

interface Observation {
  /** Packet sizes per link, in capture order. */
  readonly packets: Map<string, number[]>;
  /** Delivery sizes (recipient | sealed message or reply | padding) mix-3 hands to the gateway. */
  readonly deliveries: number[];
  /** Wire sizes of the WebSocket frames the gateway pushed to the recipient and to the sender (its acknowledgements). */
  readonly pushes: { readonly recipient: number[]; readonly sender: number[] };
  readonly requestsPerLink: Map<string, number>;
  readonly captureSummary: string;
  readonly seconds: number;
}

const observations = new Map<PacketFormatName, Observation>();
/** Clean-ups of what `observe` started, for `after` to run should a test time out mid-way. */
const pending = new Set<() => Promise<void>>();

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Packet sizes in one captured request: JSON with base64 packets from the client, frames between nodes. */
function packetSizes(request: WireRequest, link: string): number[] {
  const contentType = request.headers['content-type'] ?? '';
  if (link === 'client→client-gateway') {
    assert.match(contentType, /^application\/json/, `${link} carries JSON`);
    const { packets } = JSON.parse(Buffer.from(request.body).toString('utf8')) as { packets: { packet: string }[] };
    return packets.map(({ packet }) => Buffer.from(packet, 'base64').length);
  }
  assert.equal(contentType, 'application/octet-stream', `${link} carries frames`);
  return decodeFrames(request.body, Number.MAX_SAFE_INTEGER).map((frame) => frame.length);
}

/** Starts a cascade in `format`, captures its bridge while the messages go through, and stops both. */
async function observe(format: PacketFormatName): Promise<Observation> {
  const started = Date.now();
  let cascade: Cascade | undefined;
  let capture: Capture | undefined;
  const subscriptions: Subscription[] = [];
  let cleanedUp = false;
  const cleanUp = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    pending.delete(cleanUp);
    for (const subscription of subscriptions) subscription.close();
    await capture?.dispose().catch((error) => console.error(`removing the capture container: ${error}`));
    await cascade?.stop();
  };
  pending.add(cleanUp);
  try {
    cascade = await startCascade({ MIXLAB_PACKET_FORMAT: format, MIXLAB_STRATEGY: `threshold:n=${THRESHOLD}` });
    if (cleanedUp) {
      await cascade.stop(); // the test timed out meanwhile and `after` has run
      throw new Error('cancelled');
    }
    const gatewayContainer = cascade.environment.getContainer('client-gateway-1');
    const networkName = gatewayContainer.getNetworkNames().find((name) => name.startsWith(cascade?.projectName ?? ''));
    assert.ok(networkName, `the gateway is on no network of project ${cascade.projectName}`);
    const names = new Map<string, string>();
    for (const [service, name] of Object.entries(SERVICES)) {
      names.set(cascade.environment.getContainer(`${service}-1`).getIpAddress(networkName), name);
    }
    const iface = await bridgeInterface(gatewayContainer.getNetworkId(networkName));
    capture = await startCapture(iface, `tcp port ${PORT}`);
    if (cleanedUp) {
      await capture.dispose();
      throw new Error('cancelled');
    }

    const recipient = generateKeyPair();
    const expected = new Map<string, Uint8Array>();
    const arrived = new Map<string, Uint8Array>();
    const errors: Error[] = [];
    const receiver = new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey });
    const subscription = receiver.receive(
      recipient,
      (message) => {
        arrived.set(message.id, message.body);
      },
      { onError: (error) => errors.push(error) },
    );
    subscriptions.push(subscription);
    await subscription.opened;
    const sender = new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey });
    const senderKeys = generateKeyPair();
    for (const length of MESSAGE_LENGTHS) {
      const body = new Uint8Array(randomBytes(length));
      const receipt = await sender.send(recipient.publicKey, body);
      expected.set(receipt.messageId, body);
    }
    await eventually(
      `all ${MESSAGE_LENGTHS.length} ${format} messages to arrive`,
      async () => (arrived.size === expected.size ? true : undefined),
      30_000,
      200,
    );
    assert.deepEqual(errors, []);
    for (const [id, body] of expected) assert.deepEqual(new Uint8Array(arrived.get(id) ?? []), body, `message ${id}`);

    if (format === 'sphinx') {
      // One batch of acknowledged messages: their deliveries, and then the acknowledgements
      // (each after its own drawn delay), go over the same links at the same sizes.
      const ackErrors: Error[] = [];
      const acknowledged = new AcknowledgedSender(sender, senderKeys, {
        ackTimeoutMs: 60_000,
        maxAttempts: 1,
        onError: (error) => ackErrors.push(error),
      });
      const acks = sender.receive(senderKeys, () => assert.fail('the sender receives only acknowledgements'), {
        onReply: acknowledged.handleReply,
        onError: (error) => ackErrors.push(error),
      });
      subscriptions.push(acks);
      await acks.opened;
      const sent = await Promise.all(
        ACKNOWLEDGED_LENGTHS.map((length) =>
          acknowledged.send(recipient.publicKey, new Uint8Array(randomBytes(length))),
        ),
      );
      const outcomes = await Promise.all(sent.map(({ outcome }) => outcome));
      assert.deepEqual(
        outcomes,
        ACKNOWLEDGED_LENGTHS.map(() => 'acknowledged'),
      );
      assert.deepEqual(errors, []);
      assert.equal(arrived.size, MESSAGE_LENGTHS.length + ACKNOWLEDGED_LENGTHS.length);
    }

    const { pcap, summary } = await capture.stop();
    capture = undefined;
    assert.doesNotMatch(summary, /[1-9]\d* packets dropped by kernel/, `tcpdump dropped packets: ${summary}`);

    const { requests, unreadable } = httpRequestsFromPcap(pcap, PORT);
    // The host reaches the published port through the bridge's gateway address.
    const nameOf = (ip: string) => names.get(ip) ?? 'client';
    const packetLinks = new Set<string>(PACKET_LINKS);
    // Streams the capture joined late are older keep-alive connections (scrapes, topology
    // look-ups); none may be a link that carries packets or messages.
    const missed = unreadable.filter((stream) => {
      const link = `${nameOf(stream.srcIp)}→${nameOf(stream.dstIp)}`;
      return packetLinks.has(link) || link === DELIVERY_LINK;
    });
    assert.deepEqual(missed, [], 'streams of packet links the capture could not read');

    const packets = new Map<string, number[]>(PACKET_LINKS.map((link) => [link, []]));
    const deliveries: number[] = [];
    const requestsPerLink = new Map<string, number>();
    for (const request of requests) {
      if (request.method !== 'POST') continue;
      const link = `${nameOf(request.srcIp)}→${nameOf(request.dstIp)}`;
      if (request.path === '/v1/packets') {
        assert.ok(packetLinks.has(link), `packets on an unexpected link ${link}`);
        packets.get(link)?.push(...packetSizes(request, link));
      } else if (request.path === '/v1/deliveries') {
        assert.equal(link, DELIVERY_LINK);
        deliveries.push(...decodeFrames(request.body, Number.MAX_SAFE_INTEGER).map((frame) => frame.length));
      } else continue;
      requestsPerLink.set(link, (requestsPerLink.get(link) ?? 0) + 1);
    }
    // The gateway's pushes: frames on the two mailbox sockets, uncompressed, so sizes are the payloads'.
    const { sockets, unreadable: unreadableSockets } = webSocketsFromPcap(pcap, PORT);
    assert.deepEqual(unreadableSockets, [], 'WebSocket streams the capture could not read');
    const pushesTo = (keys: { publicKey: Uint8Array }) => {
      const socket = sockets.find(({ path }) => path === `/v1/mailboxes/${toHex(keys.publicKey)}/ws`);
      assert.ok(socket, `no WebSocket for ${toHex(keys.publicKey)} in the capture`);
      assert.ok(
        socket.frames.every((frame) => frame.rsv === 0 && frame.opcode === 1),
        'uncompressed text frames',
      );
      return socket.frames.map((frame) => frame.wireBytes);
    };
    const pushes = { recipient: pushesTo(recipient), sender: format === 'sphinx' ? pushesTo(senderKeys) : [] };
    return {
      packets,
      deliveries,
      pushes,
      requestsPerLink,
      captureSummary: summary,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await cleanUp();
  }
}

function range(values: readonly number[]): string {
  if (values.length === 0) return '-';
  const s = sorted(values);
  const distinct = new Set(s).size;
  return distinct === 1 ? `all ${s[0]}` : `${s[0]}..${s.at(-1)} (${distinct} distinct)`;
}

function printTable(): void {
  const rows: string[][] = [['format', 'link', 'requests', 'packets', 'sizes (bytes)']];
  for (const [format, observation] of observations) {
    for (const [link, sizes] of observation.packets) {
      rows.push([format, link, String(observation.requestsPerLink.get(link) ?? 0), String(sizes.length), range(sizes)]);
    }
    rows.push([
      format,
      `${DELIVERY_LINK} (deliveries)`,
      String(observation.requestsPerLink.get(DELIVERY_LINK) ?? 0),
      String(observation.deliveries.length),
      range(observation.deliveries),
    ]);
    const { recipient, sender } = observation.pushes;
    rows.push([format, `${PUSH_LINK}, messages`, '-', String(recipient.length), range(recipient)]);
    if (sender.length > 0) rows.push([format, `${PUSH_LINK}, acks`, '-', String(sender.length), range(sender)]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
  const details = [...observations].flatMap(([format, observation]) => [
    `${format}: ${observation.seconds.toFixed(1)} s, tcpdump: ${observation.captureSummary}`,
    ...(format === 'onion'
      ? [...observation.packets].map(([link, sizes]) => `  ${link}: ${sorted(sizes).join(' ')}`)
      : []),
  ]);
  console.log(
    [
      `wire sizes per link, ${MESSAGE_LENGTHS.length} messages of ${MESSAGE_LENGTHS[0]}..${MESSAGE_LENGTHS.at(-1)} bytes ` +
        `(sphinx: and ${ACKNOWLEDGED_LENGTHS.length} acknowledged), threshold ${THRESHOLD}`,
      ...lines,
      ...details,
    ].join('\n'),
  );
}

describe('the wire, as a passive adversary on the compose network sees it', { timeout: 300_000 }, () => {
  before(async () => {
    await cryptoReady();
    await buildCaptureImage();
  });

  after(async () => {
    if (observations.size > 0) printTable();
    for (const cleanUp of pending) await cleanUp();
  });

  it('onion: packet sizes differ per layer, and each layer strips a constant', async () => {
    const observation = await observe('onion');
    observations.set('onion', observation);
    const [client, first, second, third] = PACKET_LINKS.map((link) => observation.packets.get(link) ?? []);
    for (const [link, sizes] of observation.packets) {
      assert.equal(sizes.length, MESSAGE_LENGTHS.length, `packets on ${link}`);
    }
    assert.equal(observation.deliveries.length, MESSAGE_LENGTHS.length, 'messages delivered');
    assert.equal(new Set(observation.deliveries).size, MESSAGE_LENGTHS.length, 'a delivery is as long as its message');
    // The gateway forwards what the client hands it, byte for byte.
    assert.deepEqual(sorted(first ?? []), sorted(client ?? []));
    // No size is seen on two layers...
    const layers = [
      ['client-gateway→mix-1', first],
      ['mix-1→mix-2', second],
      ['mix-2→mix-3', third],
    ] as const;
    for (const [i, [linkA, sizesA]] of layers.entries()) {
      for (const [linkB, sizesB] of layers.slice(i + 1)) {
        const shared = [...new Set(sizesA)].filter((size) => sizesB?.includes(size));
        assert.deepEqual(shared, [], `sizes seen on both ${linkA} and ${linkB}`);
      }
    }
    // ...and the leak is sharper than that: sizes are the message lengths plus a constant on
    // the first link, and each hop takes a constant off, so sizes link packets across a mix.
    const offset = (sizes: readonly number[], from: readonly number[]) => {
      const differences = sorted(sizes).map((size, i) => size - (sorted(from)[i] ?? 0));
      assert.equal(new Set(differences).size, 1, `not a constant shift: ${differences.join(' ')}`);
      return differences[0] ?? 0;
    };
    assert.ok(offset(first ?? [], MESSAGE_LENGTHS) > 0);
    const shrink1 = offset(first ?? [], second ?? []);
    const shrink2 = offset(second ?? [], third ?? []);
    assert.ok(shrink1 > 0 && shrink2 > 0, `layers shrink by ${shrink1} and ${shrink2} bytes`);
  });

  it('sphinx: every packet, delivery and push is one size on its link, messages and acknowledgements alike', async () => {
    const observation = await observe('sphinx');
    observations.set('sphinx', observation);
    assert.equal(defaultGeometry.packetBytes, SPHINX_PACKET_BYTES);
    // The plain messages, the acknowledged ones, and their acknowledgements.
    const packets = MESSAGE_LENGTHS.length + 2 * ACKNOWLEDGED_LENGTHS.length;
    for (const [link, sizes] of observation.packets) {
      assert.equal(sizes.length, packets, `packets on ${link}`);
      assert.deepEqual(new Set(sizes), new Set([SPHINX_PACKET_BYTES]), `packet sizes on ${link}`);
    }
    assert.equal(observation.deliveries.length, packets, 'messages and acknowledgements delivered');
    // Past the exit too: senders pad every message to the packet's capacity, and the exit pads
    // every delivery (a message, or a reply with its reply id) to the format's one delivery size.
    const capacity = sphinx.payloadCapacity({ gateway: GATEWAY_ID, recipient: new Uint8Array(32) });
    assert.ok(capacity < sphinx.deliveryPayloadBytes);
    assert.deepEqual(
      new Set(observation.deliveries),
      new Set([32 + sphinx.deliveryPayloadBytes]),
      `delivery sizes on ${DELIVERY_LINK}`,
    );
    // And to the clients: a message and an acknowledgement are pushed as frames of one size.
    const { recipient, sender } = observation.pushes;
    assert.equal(recipient.length, MESSAGE_LENGTHS.length + ACKNOWLEDGED_LENGTHS.length, 'pushes to the recipient');
    assert.equal(sender.length, ACKNOWLEDGED_LENGTHS.length, 'pushes (acknowledgements) to the sender');
    assert.equal(new Set([...recipient, ...sender]).size, 1, `push sizes: ${range([...recipient, ...sender])}`);
    // Batching: one request per packet into mix-1, one per batch after it.
    assert.equal(observation.requestsPerLink.get('mix-1→mix-2'), packets / THRESHOLD);
    assert.equal(observation.requestsPerLink.get('mix-2→mix-3'), packets / THRESHOLD);
  });
});
