/**
 * The pcap reader on captures built byte by byte here: both byte orders, Ethernet and
 * Linux cooked frames, out-of-order and retransmitted segments, keep-alive requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  httpRequestsFromPcap,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  parseHttpRequests,
  parseWebSocketFrames,
  readPcap,
  reassembleTcp,
  tcpSegments,
  webSocketsFromPcap,
} from './pcap.ts';

interface Segment {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly flags?: 'S' | 'A' | 'F' | 'R';
  readonly payload?: Uint8Array | string;
  /** Bytes after the IP packet, as Ethernet pads short frames. */
  readonly padding?: number;
}

const FLAG_BITS = { S: 0x02, A: 0x10, F: 0x11, R: 0x04 } as const;

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function tcpIpPacket(segment: Segment): Buffer {
  const payload =
    typeof segment.payload === 'string' ? Buffer.from(segment.payload) : Buffer.from(segment.payload ?? []);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 20 + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(ipBytes(segment.src)).copy(ip, 12);
  Buffer.from(ipBytes(segment.dst)).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(segment.sport, 0);
  tcp.writeUInt16BE(segment.dport, 2);
  tcp.writeUInt32BE(segment.seq >>> 0, 4);
  tcp[12] = 5 << 4;
  tcp[13] = FLAG_BITS[segment.flags ?? 'A'];
  return Buffer.concat([ip, tcp, payload, Buffer.alloc(segment.padding ?? 0)]);
}

function ethernet(packet: Buffer, etherType = 0x0800): Buffer {
  const header = Buffer.alloc(14);
  Buffer.from([2, 0x42, 0xac, 0x12, 0, 3]).copy(header, 0);
  Buffer.from([2, 0x42, 0xac, 0x12, 0, 2]).copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, packet]);
}

function linuxSll(packet: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt16BE(0, 0); // to us
  header.writeUInt16BE(1, 2); // ARPHRD_ETHER
  header.writeUInt16BE(6, 4);
  header.writeUInt16BE(0x0800, 14);
  return Buffer.concat([header, packet]);
}

function linuxSll2(packet: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0800, 0);
  header.writeUInt32BE(7, 4);
  header.writeUInt16BE(1, 8);
  header[11] = 6;
  return Buffer.concat([header, packet]);
}

interface PcapOptions {
  readonly littleEndian?: boolean;
  readonly nanoseconds?: boolean;
  readonly linkType?: number;
  readonly snapLength?: number;
}

/** A classic pcap file of `frames`, one per millisecond from t = 1000 s. */
function pcapFile(frames: readonly Buffer[], options: PcapOptions = {}): Buffer {
  const { littleEndian = true, nanoseconds = false, linkType = LINKTYPE_ETHERNET, snapLength = 262144 } = options;
  const u32 = (value: number) => {
    const b = Buffer.alloc(4);
    if (littleEndian) b.writeUInt32LE(value >>> 0);
    else b.writeUInt32BE(value >>> 0);
    return b;
  };
  const u16 = (value: number) => {
    const b = Buffer.alloc(2);
    if (littleEndian) b.writeUInt16LE(value);
    else b.writeUInt16BE(value);
    return b;
  };
  const parts: Buffer[] = [
    u32(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4),
    u16(2),
    u16(4),
    u32(0),
    u32(0),
    u32(snapLength),
    u32(linkType),
  ];
  frames.forEach((frame, i) => {
    const included = frame.subarray(0, snapLength);
    const fraction = (i * 1000 + 17) * (nanoseconds ? 1000 : 1);
    parts.push(u32(1000), u32(fraction), u32(included.length), u32(frame.length), included);
  });
  return Buffer.concat(parts);
}

const CLIENT = '172.18.0.5';
const SERVER = '172.18.0.3';

function post(path: string, body: Uint8Array, extraHeaders = ''): Buffer {
  return Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nhost: mix-2:8080\r\ncontent-type: application/octet-stream\r\n${extraHeaders}content-length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
}

/** A binary body that contains CRLFs and a blank line, to catch parsers that look for them. */
const BINARY = Buffer.concat([Buffer.from([0, 0, 0, 6]), Buffer.from('\r\n\r\nab'), Buffer.from([0xff, 0x00, 0x0d])]);

/** A keep-alive connection carrying two POSTs, split into segments, some out of order or sent twice. */
function keepAliveConnection(isn: number, sport = 40_000): Segment[] {
  const stream = Buffer.concat([post('/v1/packets', BINARY), post('/v1/packets', Buffer.alloc(300, 7))]);
  const c = (seq: number, payload?: Buffer, flags?: Segment['flags']): Segment => ({
    src: CLIENT,
    dst: SERVER,
    sport,
    dport: 8080,
    seq: (isn + seq) >>> 0,
    ...(payload ? { payload } : {}),
    ...(flags ? { flags } : {}),
  });
  const s = (seq: number, payload?: Buffer, flags?: Segment['flags']): Segment => ({
    src: SERVER,
    dst: CLIENT,
    sport: 8080,
    dport: sport,
    seq,
    ...(payload ? { payload } : {}),
    ...(flags ? { flags } : {}),
  });
  const at = (from: number, to?: number) => stream.subarray(from, to);
  return [
    c(0, undefined, 'S'),
    s(5000, undefined, 'S'),
    c(1, at(0, 50)),
    c(1 + 120, at(120, 200)), // arrives before the bytes in front of it
    c(1 + 50, at(50, 120)),
    c(1 + 50, at(50, 120)), // retransmitted
    s(5001, Buffer.from('HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n')),
    c(1 + 100, at(100, 260)), // overlaps bytes already seen
    c(1 + 260, at(260)),
    c(1 + stream.length, undefined, 'F'),
  ];
}

describe('pcap reader', () => {
  it('reads both byte orders and nanosecond timestamps alike', () => {
    const frames = keepAliveConnection(1000).map((segment) => ethernet(tcpIpPacket(segment)));
    const little = readPcap(pcapFile(frames, { littleEndian: true }));
    const big = readPcap(pcapFile(frames, { littleEndian: false }));
    const nano = readPcap(pcapFile(frames, { littleEndian: false, nanoseconds: true }));
    assert.equal(little.linkType, LINKTYPE_ETHERNET);
    assert.equal(big.linkType, LINKTYPE_ETHERNET);
    assert.equal(little.records.length, frames.length);
    assert.deepEqual(big, little);
    assert.deepEqual(nano, little);
    assert.equal(little.records[1]?.timestampMicros, 1000 * 1e6 + 1017);
  });

  it('rejects files that are not classic pcap', () => {
    assert.throws(() => readPcap(Buffer.alloc(10)), /24-byte header/);
    assert.throws(() => readPcap(Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff', 'hex')), /pcapng/);
    assert.throws(() => readPcap(Buffer.alloc(24, 1)), /not a pcap file/);
  });

  it('ignores a record cut short at the end of the file', () => {
    const frames = keepAliveConnection(1000).map((segment) => ethernet(tcpIpPacket(segment)));
    const file = pcapFile(frames);
    assert.equal(readPcap(file.subarray(0, file.length - 5)).records.length, frames.length - 1);
  });

  it('reads IPv4/TCP from Ethernet, ignoring ARP, UDP and padding', () => {
    const udp = tcpIpPacket({ src: CLIENT, dst: SERVER, sport: 1, dport: 2, seq: 0, payload: 'xx' });
    udp[9] = 17;
    const frames = [
      ethernet(Buffer.alloc(28), 0x0806),
      ethernet(udp),
      ethernet(
        tcpIpPacket({ src: CLIENT, dst: SERVER, sport: 40_000, dport: 8080, seq: 7, payload: 'hi', padding: 4 }),
      ),
    ];
    const segments = tcpSegments(readPcap(pcapFile(frames)));
    assert.equal(segments.length, 1);
    const [segment] = segments;
    assert.equal(segment?.srcIp, CLIENT);
    assert.equal(segment?.dstIp, SERVER);
    assert.equal(segment?.srcPort, 40_000);
    assert.equal(segment?.dstPort, 8080);
    assert.equal(segment?.seq, 7);
    assert.equal(Buffer.from(segment?.payload ?? []).toString(), 'hi');
  });

  it('reads Linux cooked captures (SLL and SLL2)', () => {
    for (const [linkType, wrap] of [
      [LINKTYPE_LINUX_SLL, linuxSll],
      [LINKTYPE_LINUX_SLL2, linuxSll2],
    ] as const) {
      const frames = keepAliveConnection(1000).map((segment) => wrap(tcpIpPacket(segment)));
      const { requests, unreadable } = httpRequestsFromPcap(pcapFile(frames, { linkType }), 8080);
      assert.deepEqual(unreadable, []);
      assert.equal(requests.length, 2, `link type ${linkType}`);
    }
  });

  it('refuses TCP segments cut by the snapshot length', () => {
    const frames = keepAliveConnection(1000).map((segment) => ethernet(tcpIpPacket(segment)));
    assert.throws(() => tcpSegments(readPcap(pcapFile(frames, { snapLength: 96 }))), /truncated by the capture/);
  });
});

describe('TCP reassembly', () => {
  it('orders segments by sequence number and drops retransmitted and overlapping bytes', () => {
    const segments = keepAliveConnection(1000);
    const streams = reassembleTcp(
      tcpSegments(readPcap(pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))))),
    );
    assert.equal(streams.length, 2); // one per direction
    const [request, response] = streams;
    assert.equal(request?.srcIp, CLIENT);
    assert.equal(request?.dstPort, 8080);
    assert.equal(request?.fromStart, true);
    assert.equal(request?.gap, false);
    assert.deepEqual(
      Buffer.from(request?.data ?? []),
      Buffer.concat([post('/v1/packets', BINARY), post('/v1/packets', Buffer.alloc(300, 7))]),
    );
    assert.equal(response?.srcPort, 8080);
    assert.match(Buffer.from(response?.data ?? []).toString(), /^HTTP\/1.1 202/);
  });

  it('handles sequence numbers that wrap around 2^32', () => {
    const segments = keepAliveConnection(2 ** 32 - 70);
    const [request] = reassembleTcp(
      tcpSegments(readPcap(pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))))),
    );
    assert.equal(request?.gap, false);
    assert.equal(parseHttpRequests(request?.data ?? new Uint8Array()).requests.length, 2);
  });

  it('stops at a hole and says so', () => {
    const segments = keepAliveConnection(1000).filter((segment) => segment.seq !== 1000 + 1 + 50);
    const [request] = reassembleTcp(
      tcpSegments(readPcap(pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))))),
    );
    assert.equal(request?.gap, true);
    assert.equal(request?.data.length, 50);
  });

  it('starts a new stream when a 4-tuple is reused with a new SYN', () => {
    const segments = [...keepAliveConnection(1000), ...keepAliveConnection(900_000)];
    const streams = reassembleTcp(
      tcpSegments(readPcap(pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))))),
    ).filter((stream) => stream.dstPort === 8080);
    assert.equal(streams.length, 2);
    for (const stream of streams) assert.equal(parseHttpRequests(stream.data).requests.length, 2);
  });

  it('reports streams whose start the capture missed as unreadable', () => {
    const segments = keepAliveConnection(1000).filter((segment) => segment.flags !== 'S');
    const { requests, unreadable } = httpRequestsFromPcap(
      pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))),
      8080,
    );
    assert.deepEqual(requests, []);
    assert.equal(unreadable.length, 1);
    assert.match(unreadable[0]?.reason ?? '', /mid-connection/);
  });
});

describe('HTTP/1.1 request parser', () => {
  it('reads keep-alive requests with content-length bodies, binary bytes included', () => {
    const { requests, leftoverBytes } = parseHttpRequests(
      Buffer.concat([
        post('/v1/packets', BINARY, 'X-Twice: a\r\nx-twice: b\r\n'),
        post('/v1/deliveries', Buffer.alloc(0)),
      ]),
    );
    assert.equal(leftoverBytes, 0);
    assert.equal(requests.length, 2);
    const [first, second] = requests;
    assert.equal(first?.method, 'POST');
    assert.equal(first?.path, '/v1/packets');
    assert.equal(first?.version, 'HTTP/1.1');
    assert.equal(first?.headers['content-type'], 'application/octet-stream');
    assert.equal(first?.headers['x-twice'], 'a, b');
    assert.deepEqual(Buffer.from(first?.body ?? []), BINARY);
    assert.equal(second?.path, '/v1/deliveries');
    assert.equal(second?.body.length, 0);
  });

  it('reads GETs without a body and chunked bodies', () => {
    const stream = Buffer.from(
      'GET /metrics HTTP/1.1\r\nhost: mix-1:8080\r\n\r\n' +
        'POST /v1/packets HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n' +
        'GET /health HTTP/1.1\r\n\r\n',
    );
    const { requests, leftoverBytes } = parseHttpRequests(stream);
    assert.equal(leftoverBytes, 0);
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, Buffer.from(r.body).toString()]),
      [
        ['GET', '/metrics', ''],
        ['POST', '/v1/packets', 'abcdefg'],
        ['GET', '/health', ''],
      ],
    );
  });

  it('leaves a request the capture cut short as leftover bytes', () => {
    const whole = post('/v1/packets', BINARY);
    const { requests, leftoverBytes } = parseHttpRequests(Buffer.concat([whole, whole.subarray(0, whole.length - 3)]));
    assert.equal(requests.length, 1);
    assert.equal(leftoverBytes, whole.length - 3);
  });

  it('stops at a protocol upgrade and leaves the bytes of the other protocol alone', () => {
    const handshake =
      'GET /v1/mailboxes/ab/socket HTTP/1.1\r\nhost: gateway\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n';
    const frames = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6d, 0x67, 0x6e]);
    const { requests, leftoverBytes, upgradedBytes } = parseHttpRequests(
      Buffer.concat([Buffer.from(handshake), frames]),
    );
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, r.headers.upgrade]),
      [['GET', '/v1/mailboxes/ab/socket', 'websocket']],
    );
    assert.equal(leftoverBytes, 0);
    assert.equal(upgradedBytes, frames.length);
  });

  it('throws on bytes that are not HTTP', () => {
    assert.throws(() => parseHttpRequests(Buffer.from('\x16\x03\x01 hello\r\n\r\n')), /not an HTTP request line/);
  });

  it('gives each request its addresses in a whole capture', () => {
    const segments = [...keepAliveConnection(1000, 40_000), ...keepAliveConnection(7, 40_001)];
    const { requests, unreadable } = httpRequestsFromPcap(
      pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))),
      8080,
    );
    assert.deepEqual(unreadable, []);
    assert.deepEqual(
      requests.map((r) => [r.srcIp, r.srcPort, r.dstIp, r.dstPort, r.path, r.body.length]),
      [
        [CLIENT, 40_000, SERVER, 8080, '/v1/packets', BINARY.length],
        [CLIENT, 40_000, SERVER, 8080, '/v1/packets', 300],
        [CLIENT, 40_001, SERVER, 8080, '/v1/packets', BINARY.length],
        [CLIENT, 40_001, SERVER, 8080, '/v1/packets', 300],
      ],
    );
  });
});

/** A server's unmasked frame: FIN, `opcode`, the payload length in 7, 7+16 or 7+64 bits. */
function serverFrame(payload: Buffer, opcode = 1): Buffer {
  const n = payload.length;
  const header =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 127]),
            Buffer.from(new BigUint64Array([BigInt(n)]).buffer).reverse(),
          ]);
  return Buffer.concat([header, payload]);
}

describe('WebSocket frames', () => {
  it('reads short, 16-bit and 64-bit lengths, unmasks client frames, and leaves a cut frame over', () => {
    const mask = [1, 2, 3, 4];
    const masked = Buffer.from([
      0x81,
      0x85,
      ...mask,
      ...Buffer.from('hello').map((byte, i) => byte ^ (mask[i % 4] as number)),
    ]);
    const stream = Buffer.concat([
      serverFrame(Buffer.from('hi')),
      serverFrame(Buffer.alloc(300, 0x61)),
      serverFrame(Buffer.alloc(70_000, 0x62), 2),
      masked,
      serverFrame(Buffer.alloc(10)).subarray(0, 6),
    ]);
    const { frames, leftoverBytes } = parseWebSocketFrames(stream);
    assert.deepEqual(
      frames.map((f) => [f.fin, f.opcode, f.wireBytes, f.payload.length]),
      [
        [true, 1, 4, 2],
        [true, 1, 304, 300],
        [true, 2, 70_010, 70_000],
        [true, 1, 11, 5],
      ],
    );
    assert.equal(Buffer.from(frames[3]?.payload ?? []).toString(), 'hello');
    assert.equal(leftoverBytes, 6);
  });

  it("finds a capture's upgraded connections and the frames their server sent", () => {
    const handshake =
      'GET /v1/mailboxes/ab/ws HTTP/1.1\r\nhost: gateway\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n';
    const switched = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n';
    const pushes = Buffer.concat([serverFrame(Buffer.alloc(200, 0x7b)), serverFrame(Buffer.alloc(200, 0x7d))]);
    const segments: Segment[] = [
      { src: CLIENT, dst: SERVER, sport: 41_000, dport: 8080, seq: 100, flags: 'S' },
      { src: SERVER, dst: CLIENT, sport: 8080, dport: 41_000, seq: 900, flags: 'S' },
      { src: CLIENT, dst: SERVER, sport: 41_000, dport: 8080, seq: 101, payload: handshake },
      { src: SERVER, dst: CLIENT, sport: 8080, dport: 41_000, seq: 901, payload: switched },
      { src: SERVER, dst: CLIENT, sport: 8080, dport: 41_000, seq: 901 + switched.length, payload: pushes },
      ...keepAliveConnection(5, 40_000), // plain HTTP: no socket
    ];
    const { sockets, unreadable } = webSocketsFromPcap(
      pcapFile(segments.map((segment) => ethernet(tcpIpPacket(segment)))),
      8080,
    );
    assert.deepEqual(unreadable, []);
    assert.deepEqual(
      sockets.map((socket) => [socket.serverIp, socket.clientIp, socket.clientPort, socket.path]),
      [[SERVER, CLIENT, 41_000, '/v1/mailboxes/ab/ws']],
    );
    assert.deepEqual(
      sockets[0]?.frames.map((frame) => frame.wireBytes),
      [204, 204],
    );
  });
});
