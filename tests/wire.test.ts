/**
 * The wire, as a passive adversary on the compose network sees it: tcpdump on the
 * cascade's bridge while a client sends messages of varied lengths (under Sphinx, some
 * with acknowledgements too), then every HTTP request and every WebSocket push read back
 * from the capture and the sizes grouped by link.
 *
 * Every link between services carries link boxes (packages/service-kit/src/link-box.ts): the
 * capture holds no recipient key and no frame it can read there, only sizes and timing. Under
 * Sphinx every request of one link is one size (one packet from the gateway, a batch after
 * it), deliveries and acknowledgements included, and the observer's taps report exactly the
 * sizes the capture shows; under the onion baseline a request's size still says which
 * message it carries (its length plus a constant). The client's link never shows a message
 * in clear, and with TLS (the gateway's client port) no address either.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AcknowledgedSender, MixnetClient, type Subscription } from '@mixlab/client';
import { cryptoReady, generateKeyPair, toHex } from '@mixlab/crypto';
import { decodeFrames, defaultGeometry, type PacketFormatName, sphinx } from '@mixlab/packet';
import { linkBoxBytes, linkBoxSender } from '@mixlab/service-kit';
import { type Cascade, eventually, startCascade } from '@mixlab/testbed';
import { bridgeInterface, buildCaptureImage, type Capture, startCapture } from './capture/capture.ts';
import { httpRequestsFromPcap, readPcap, reassembleTcp, tcpSegments, webSocketsFromPcap } from './helpers/pcap.ts';

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
/** A packet framed (u32 length | packet). */
const FRAMED_PACKET_BYTES = SPHINX_PACKET_BYTES + 4;
/** The gateway's id in docker-compose.yml: exits name it in every delivery's routing. */
const GATEWAY_ID = 'gateway-1';
/** Mix nodes and the gateway's client port. */
const PORT = 8080;
/** The gateway's delivery listener (exit nodes, Prometheus, health checks). */
const DELIVERY_PORT = 8081;

/** The links between services that carry packets, in path order. */
const PACKET_LINKS = ['client-gateway→mix-1', 'mix-1→mix-2', 'mix-2→mix-3'] as const;
const DELIVERY_LINK = 'mix-3→client-gateway';
/** Every link between services that carries messages: each request on it is a link box. */
const SERVICE_LINKS = [...PACKET_LINKS, DELIVERY_LINK] as const;
/** `client` is the host, behind the published client port. */
const CLIENT_LINK = 'client→client-gateway';
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
  /** Request body sizes per link between services (link boxes), in capture order. */
  readonly bodies: Map<string, number[]>;
  /** What the observer's taps reported for the same links: bytes per request, sorted. */
  readonly tapped: Map<string, number[]>;
  /** Who is who: node ids by capture name (mix-1..3), for the link boxes' sizes. */
  readonly ids: Map<string, string>;
  /** Whether the client's connections to the gateway were TLS. */
  readonly clientTls: boolean;
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

/** Whether `bytes` holds `needle` anywhere. */
function holds(bytes: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(Buffer.from(needle));
}

/** A TLS handshake record (content type 22, version 3.x) opens the stream. */
function startsTls(data: Uint8Array): boolean {
  return data[0] === 0x16 && data[1] === 0x03;
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
    capture = await startCapture(iface, `tcp port ${PORT} or tcp port ${DELIVERY_PORT}`);
    if (cleanedUp) {
      await capture.dispose();
      throw new Error('cancelled');
    }

    // Node ids as the topology publishes them: link boxes name them, taps report them.
    const topology = await new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey }).topology();
    const ids = new Map<string, string>(
      topology.layers.map((nodes, i) => [`mix-${i + 1}`, nodes[0]?.id ?? `mix-${i + 1}`] as const),
    );
    ids.set('client-gateway', GATEWAY_ID);
    const traceStart = (await (await fetch(`${cascade.observerUrl}/v1/trace?since=0&limit=1`)).json()) as {
      next: number;
    };

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

    const { requests: clientPortRequests, unreadable } = httpRequestsFromPcap(pcap, PORT);
    const { requests: deliveryRequests, unreadable: unreadableDeliveries } = httpRequestsFromPcap(pcap, DELIVERY_PORT);
    // The host reaches the published port through the bridge's gateway address.
    const nameOf = (ip: string) => names.get(ip) ?? 'client';
    const serviceLinks = new Set<string>(SERVICE_LINKS);
    // Streams the capture joined late are older keep-alive connections (scrapes, topology
    // look-ups); none may be a link that carries packets or messages.
    const missed = [...unreadable, ...unreadableDeliveries].filter((stream) =>
      serviceLinks.has(`${nameOf(stream.srcIp)}→${nameOf(stream.dstIp)}`),
    );
    assert.deepEqual(missed, [], 'streams of packet links the capture could not read');

    // Between services: link boxes only, naming their sender in clear and nothing else readable.
    const keys = [recipient.publicKey, senderKeys.publicKey];
    const bodies = new Map<string, number[]>(SERVICE_LINKS.map((link) => [link, []]));
    for (const request of [...clientPortRequests, ...deliveryRequests]) {
      if (request.method !== 'POST' || !['/v1/packets', '/v1/deliveries'].includes(request.path)) continue;
      const link = `${nameOf(request.srcIp)}→${nameOf(request.dstIp)}`;
      if (link === CLIENT_LINK) continue;
      assert.ok(serviceLinks.has(link), `${request.path} on an unexpected link ${link}`);
      assert.equal(request.path, link === DELIVERY_LINK ? '/v1/deliveries' : '/v1/packets', link);
      assert.equal(request.headers['content-type'], 'application/octet-stream', `${link} carries bytes`);
      const [from] = link.split('→') as [string];
      assert.equal(linkBoxSender(request.body), ids.get(from), `a link box from ${from}`);
      for (const key of keys) {
        assert.ok(!holds(request.body, key), `a recipient key in clear on ${link}`);
        assert.ok(!holds(request.body, Buffer.from(toHex(key))), `a recipient address in clear on ${link}`);
      }
      for (const body of expected.values()) {
        if (body.length >= 16) assert.ok(!holds(request.body, body), `message bytes in clear on ${link}`);
      }
      // No frame to read: the old format's u32 length | packet, read off a box, runs past its end.
      assert.throws(() => decodeFrames(request.body, Number.MAX_SAFE_INTEGER), /truncated/, `frames on ${link}`);
      bodies.get(link)?.push(request.body.length);
    }
    for (const [link, sizes] of bodies) assert.ok(sizes.length > 0, `no requests captured on ${link}`);

    // The client's link: never a message in clear; with TLS, no address either (and no HTTP to read).
    const clientStreams = reassembleTcp(tcpSegments(readPcap(pcap))).filter(
      (stream) =>
        (stream.dstPort === PORT && nameOf(stream.dstIp) === 'client-gateway' && nameOf(stream.srcIp) === 'client') ||
        (stream.srcPort === PORT && nameOf(stream.srcIp) === 'client-gateway' && nameOf(stream.dstIp) === 'client'),
    );
    assert.ok(clientStreams.length > 0, 'the capture holds the client link');
    const opened = clientStreams.filter(
      (stream) => stream.dstPort === PORT && stream.fromStart && stream.data.length > 0,
    );
    assert.ok(opened.length > 0, 'the capture saw client connections open');
    const clientTls = opened.every((stream) => startsTls(stream.data));
    for (const stream of clientStreams) {
      for (const body of expected.values()) {
        if (body.length >= 16) assert.ok(!holds(stream.data, body), 'message bytes in clear on the client link');
      }
      for (const key of keys) {
        assert.ok(!holds(stream.data, key), 'a raw recipient key on the client link');
        if (clientTls) assert.ok(!holds(stream.data, Buffer.from(toHex(key))), 'an address in clear under TLS');
      }
    }

    // What the taps told the observer about the same links (it records them after its slack).
    const linkOf = new Map(
      SERVICE_LINKS.map((link) => [
        link
          .split('→')
          .map((name) => ids.get(name))
          .join('→'),
        link,
      ]),
    );
    const tapped = await eventually(
      'the observer to record every tapped request',
      async () => {
        const url = `${(cascade as Cascade).observerUrl}/v1/trace?since=${traceStart.next}&limit=100000`;
        const trace = (await (await fetch(url)).json()) as { events: { from: string; to: string; bytes: number }[] };
        const byLink = new Map<string, number[]>(SERVICE_LINKS.map((link) => [link, []]));
        for (const event of trace.events) byLink.get(linkOf.get(`${event.from}→${event.to}`) ?? '')?.push(event.bytes);
        for (const sizes of byLink.values()) sizes.sort((x, y) => x - y);
        return [...bodies].every(([link, sizes]) => (byLink.get(link)?.length ?? 0) >= sizes.length)
          ? byLink
          : undefined;
      },
      30_000,
      500,
    );

    const requestsPerLink = new Map([...bodies].map(([link, sizes]) => [link, sizes.length]));
    // The gateway's pushes: frames on the two mailbox sockets (readable only without TLS).
    const pushesTo = (keys: { publicKey: Uint8Array }) => {
      if (clientTls) return [];
      const { sockets, unreadable: unreadableSockets } = webSocketsFromPcap(pcap, PORT);
      assert.deepEqual(unreadableSockets, [], 'WebSocket streams the capture could not read');
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
      bodies,
      tapped,
      ids,
      clientTls,
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
  const rows: string[][] = [['format', 'link', 'requests', 'sizes (bytes)']];
  for (const [format, observation] of observations) {
    for (const [link, sizes] of observation.bodies) {
      const label = link === DELIVERY_LINK ? `${link} (deliveries)` : link;
      rows.push([format, label, String(sizes.length), range(sizes)]);
    }
    const { recipient, sender } = observation.pushes;
    if (recipient.length > 0) rows.push([format, `${PUSH_LINK}, messages`, String(recipient.length), range(recipient)]);
    if (sender.length > 0) rows.push([format, `${PUSH_LINK}, acks`, String(sender.length), range(sender)]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
  const details = [...observations].flatMap(([format, observation]) => [
    `${format}: ${observation.seconds.toFixed(1)} s, client link ${observation.clientTls ? 'TLS' : 'plain HTTP'}, tcpdump: ${observation.captureSummary}`,
    ...(format === 'onion'
      ? [...observation.bodies].map(([link, sizes]) => `  ${link}: ${sorted(sizes).join(' ')}`)
      : []),
  ]);
  console.log(
    [
      `request sizes per link between services (link boxes), ${MESSAGE_LENGTHS.length} messages of ` +
        `${MESSAGE_LENGTHS[0]}..${MESSAGE_LENGTHS.at(-1)} bytes (sphinx: and ${ACKNOWLEDGED_LENGTHS.length} acknowledged), threshold ${THRESHOLD}`,
      ...lines,
      ...details,
    ].join('\n'),
  );
}

/** The captured sizes of every link are the ones its sender's tap reported, request for request. */
function assertTapsMatch(observation: Observation): void {
  for (const [link, sizes] of observation.bodies) {
    assert.deepEqual(observation.tapped.get(link), sorted(sizes), `tapped sizes on ${link}`);
  }
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

  it('onion: link boxes hide what packets hold, not their size: a request on the first link is its message plus a constant', async () => {
    const observation = await observe('onion');
    observations.set('onion', observation);
    assertTapsMatch(observation);
    // The gateway passes on each submission alone: one packet per request into layer 1.
    const first = observation.bodies.get('client-gateway→mix-1') ?? [];
    assert.equal(first.length, MESSAGE_LENGTHS.length, 'requests into layer 1');
    const differences = sorted(first).map((size, i) => size - (MESSAGE_LENGTHS[i] ?? 0));
    assert.equal(new Set(differences).size, 1, `not a constant shift: ${differences.join(' ')}`);
    // And past the exit a delivery's size is its message's length: every one differs.
    const deliveries = observation.bodies.get(DELIVERY_LINK) ?? [];
    assert.equal(new Set(deliveries).size, deliveries.length, 'a delivery request is as long as its messages');
  });

  it('sphinx: every request between services is a link box of one size per link, as the taps report it', async () => {
    const observation = await observe('sphinx');
    observations.set('sphinx', observation);
    assert.equal(defaultGeometry.packetBytes, SPHINX_PACKET_BYTES);
    assertTapsMatch(observation);
    // The plain messages, the acknowledged ones, and their acknowledgements.
    const packets = MESSAGE_LENGTHS.length + 2 * ACKNOWLEDGED_LENGTHS.length;
    const id = (name: string) => observation.ids.get(name) as string;
    const box = (link: string, perRequest: number, itemBytes: number) => {
      const [from, to] = link.split('→') as [string, string];
      return linkBoxBytes(id(from), id(to), perRequest * itemBytes);
    };
    // One packet per request into layer 1 (each submission alone), one batch per request after it.
    const expectedSize: Record<string, number> = {
      'client-gateway→mix-1': box('client-gateway→mix-1', 1, FRAMED_PACKET_BYTES),
      'mix-1→mix-2': box('mix-1→mix-2', THRESHOLD, FRAMED_PACKET_BYTES),
      'mix-2→mix-3': box('mix-2→mix-3', THRESHOLD, FRAMED_PACKET_BYTES),
      // Past the exit too: every delivery (recipient | padded payload) is one size, messages and acknowledgements alike.
      [DELIVERY_LINK]: box(DELIVERY_LINK, THRESHOLD, 4 + 32 + sphinx.deliveryPayloadBytes),
    };
    for (const [link, sizes] of observation.bodies) {
      assert.deepEqual(new Set(sizes), new Set([expectedSize[link]]), `request sizes on ${link}`);
    }
    assert.equal(observation.requestsPerLink.get('client-gateway→mix-1'), packets);
    assert.equal(observation.requestsPerLink.get('mix-1→mix-2'), packets / THRESHOLD);
    assert.equal(observation.requestsPerLink.get('mix-2→mix-3'), packets / THRESHOLD);
    assert.equal(observation.requestsPerLink.get(DELIVERY_LINK), packets / THRESHOLD);
    const capacity = sphinx.payloadCapacity({ gateway: GATEWAY_ID, recipient: new Uint8Array(32) });
    assert.ok(capacity < sphinx.deliveryPayloadBytes);
    // To the clients (readable while the client port is plain HTTP): one push size for messages and acknowledgements.
    const { recipient, sender } = observation.pushes;
    if (!observation.clientTls) {
      assert.equal(recipient.length, MESSAGE_LENGTHS.length + ACKNOWLEDGED_LENGTHS.length, 'pushes to the recipient');
      assert.equal(sender.length, ACKNOWLEDGED_LENGTHS.length, 'pushes (acknowledgements) to the sender');
      assert.equal(new Set([...recipient, ...sender]).size, 1, `push sizes: ${range([...recipient, ...sender])}`);
    }
  });
});
