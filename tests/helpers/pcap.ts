/**
 * Just enough of a packet-capture reader for the wire test: classic libpcap files
 * (either byte order, micro- or nanosecond timestamps), Ethernet II / Linux cooked
 * (SLL, SLL2) / raw IPv4, TCP stream reassembly per direction, HTTP/1.1 request
 * parsing of each client→server stream (keep-alive: several requests per stream), and
 * the frames a server sends on a connection upgraded to WebSocket.
 */

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IP_PROTOCOL_TCP = 6;

export interface PcapRecord {
  /** Capture time, microseconds since the epoch. */
  readonly timestampMicros: number;
  /** Length on the wire; larger than `data.length` when the snapshot length cut the frame. */
  readonly originalLength: number;
  readonly data: Uint8Array;
}

export interface Pcap {
  readonly linkType: number;
  readonly snapLength: number;
  readonly records: PcapRecord[];
}

/** Parses a classic libpcap file (not pcapng). Throws on anything else. */
export function readPcap(file: Uint8Array): Pcap {
  if (file.length < 24) throw new Error(`a pcap file has a 24-byte header; got ${file.length} bytes`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicBig = view.getUint32(0, false);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicBig === 0xa1b2c3d4 || magicBig === 0xa1b23c4d) {
    littleEndian = false;
    nanoseconds = magicBig === 0xa1b23c4d;
  } else if (magicBig === 0xd4c3b2a1 || magicBig === 0x4d3cb2a1) {
    littleEndian = true;
    nanoseconds = magicBig === 0x4d3cb2a1;
  } else if (magicBig === 0x0a0d0d0a) {
    throw new Error('this is a pcapng file; capture with tcpdump -w (classic pcap)');
  } else {
    throw new Error(`not a pcap file (magic 0x${magicBig.toString(16)})`);
  }
  const snapLength = view.getUint32(16, littleEndian);
  // The upper bits of the link-type field may carry an FCS length; the type is the low 28 bits.
  const linkType = view.getUint32(20, littleEndian) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let offset = 24;
  while (offset < file.length) {
    if (offset + 16 > file.length) break; // a record header cut short by a capture killed mid-write
    const seconds = view.getUint32(offset, littleEndian);
    const fraction = view.getUint32(offset + 4, littleEndian);
    const includedLength = view.getUint32(offset + 8, littleEndian);
    const originalLength = view.getUint32(offset + 12, littleEndian);
    const start = offset + 16;
    if (start + includedLength > file.length) break; // likewise for the record's data
    records.push({
      timestampMicros: seconds * 1e6 + (nanoseconds ? Math.floor(fraction / 1000) : fraction),
      originalLength,
      data: file.subarray(start, start + includedLength),
    });
    offset = start + includedLength;
  }
  return { linkType, snapLength, records };
}

export interface TcpSegment {
  readonly timestampMicros: number;
  readonly srcIp: string;
  readonly dstIp: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly syn: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  readonly payload: Uint8Array;
}

function ipv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** The offset of the IPv4 header in a frame of `linkType`, or undefined when the frame is not IPv4. */
function ipv4Offset(linkType: number, frame: Uint8Array): number | undefined {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let offset = 12;
      if (frame.length < offset + 2) return undefined;
      let etherType = view.getUint16(offset);
      while (etherType === ETHERTYPE_VLAN && frame.length >= offset + 6) {
        offset += 4;
        etherType = view.getUint16(offset);
      }
      return etherType === ETHERTYPE_IPV4 ? offset + 2 : undefined;
    }
    case LINKTYPE_LINUX_SLL:
      // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
      return frame.length >= 16 && view.getUint16(14) === ETHERTYPE_IPV4 ? 16 : undefined;
    case LINKTYPE_LINUX_SLL2:
      // protocol(2) reserved(2) interface index(4) ARPHRD(2) packet type(1) address length(1) address(8)
      return frame.length >= 20 && view.getUint16(0) === ETHERTYPE_IPV4 ? 20 : undefined;
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      return frame.length > 0 && frame[0] !== undefined && frame[0] >> 4 === 4 ? 0 : undefined;
    default:
      throw new Error(`unsupported pcap link type ${linkType}`);
  }
}

/**
 * The TCP segments over IPv4 in a capture. Throws when a TCP segment was cut by the
 * snapshot length (its payload would be incomplete); skips IP fragments, which TCP
 * with path-MTU discovery does not produce.
 */
export function tcpSegments(pcap: Pcap): TcpSegment[] {
  const segments: TcpSegment[] = [];
  for (const [index, record] of pcap.records.entries()) {
    const frame = record.data;
    const ip = ipv4Offset(pcap.linkType, frame);
    if (ip === undefined || frame.length < ip + 20) continue;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const versionAndLength = frame[ip] as number;
    if (versionAndLength >> 4 !== 4) continue;
    const ipHeaderBytes = (versionAndLength & 0x0f) * 4;
    const totalLength = view.getUint16(ip + 2);
    const fragment = view.getUint16(ip + 6);
    if ((fragment & 0x2000) !== 0 || (fragment & 0x1fff) !== 0) continue; // more fragments, or not the first
    if (frame[ip + 9] !== IP_PROTOCOL_TCP) continue;
    const tcp = ip + ipHeaderBytes;
    if (record.originalLength > frame.length || frame.length < ip + totalLength) {
      throw new Error(`packet ${index} was truncated by the capture (snapshot length ${pcap.snapLength})`);
    }
    const tcpHeaderBytes = ((frame[tcp + 12] as number) >> 4) * 4;
    const flags = frame[tcp + 13] as number;
    segments.push({
      timestampMicros: record.timestampMicros,
      srcIp: ipv4(frame, ip + 12),
      dstIp: ipv4(frame, ip + 16),
      srcPort: view.getUint16(tcp),
      dstPort: view.getUint16(tcp + 2),
      seq: view.getUint32(tcp + 4),
      fin: (flags & 0x01) !== 0,
      syn: (flags & 0x02) !== 0,
      rst: (flags & 0x04) !== 0,
      // The IP total length, not the frame length: Ethernet pads short frames.
      payload: frame.subarray(tcp + tcpHeaderBytes, ip + totalLength),
    });
  }
  return segments;
}

export interface TcpStream {
  readonly srcIp: string;
  readonly srcPort: number;
  readonly dstIp: string;
  readonly dstPort: number;
  /** Whether the capture saw the SYN, so `data` starts at the stream's first byte. */
  readonly fromStart: boolean;
  /** Whether bytes are missing somewhere (a segment the capture lost); `data` stops at the gap. */
  readonly gap: boolean;
  /** Capture time of the stream's first segment, microseconds since the epoch. */
  readonly firstSeenMicros: number;
  readonly data: Uint8Array;
}

/** Signed distance from sequence number `from` to `to`, modulo 2^32. */
function seqDistance(from: number, to: number): number {
  return ((to - from) | 0) as number;
}

/**
 * Reassembles each direction of each TCP connection (src ip:port → dst ip:port) in
 * sequence order, dropping retransmitted and overlapping bytes. A SYN with a new
 * initial sequence number on a 4-tuple already seen starts a new stream (port reuse).
 */
export function reassembleTcp(segments: readonly TcpSegment[]): TcpStream[] {
  interface Building {
    readonly first: TcpSegment;
    isn: number | undefined;
    readonly parts: TcpSegment[];
  }
  const open = new Map<string, Building>();
  const all: Building[] = [];
  for (const segment of segments) {
    const key = `${segment.srcIp}:${segment.srcPort}>${segment.dstIp}:${segment.dstPort}`;
    let stream = open.get(key);
    if (segment.syn && stream && stream.isn !== undefined && stream.isn !== segment.seq) stream = undefined;
    if (!stream) {
      stream = { first: segment, isn: undefined, parts: [] };
      open.set(key, stream);
      all.push(stream);
    }
    if (segment.syn) stream.isn = segment.seq;
    if (segment.payload.length > 0) stream.parts.push(segment);
  }
  return all.map(({ first, isn, parts }) => {
    // The first data byte is ISN + 1 when the SYN was seen; else the lowest sequence number seen.
    let base: number;
    if (isn !== undefined) base = (isn + 1) >>> 0;
    else {
      base = parts[0]?.seq ?? 0;
      for (const part of parts) if (seqDistance(base, part.seq) < 0) base = part.seq;
    }
    const ordered = parts
      .map((part) => ({ offset: seqDistance(base, part.seq), payload: part.payload }))
      .filter((part) => part.offset + part.payload.length > 0)
      .sort((a, b) => a.offset - b.offset);
    const chunks: Uint8Array[] = [];
    let next = 0;
    let gap = false;
    for (const { offset, payload } of ordered) {
      if (offset > next) {
        gap = true;
        break;
      }
      const end = offset + payload.length;
      if (end <= next) continue; // a retransmission of bytes we have
      chunks.push(payload.subarray(next - offset));
      next = end;
    }
    return {
      srcIp: first.srcIp,
      srcPort: first.srcPort,
      dstIp: first.dstIp,
      dstPort: first.dstPort,
      fromStart: isn !== undefined,
      gap,
      firstSeenMicros: first.timestampMicros,
      data: Buffer.concat(chunks),
    };
  });
}

export interface HttpRequest {
  readonly method: string;
  /** The request target as sent, e.g. `/v1/packets`. */
  readonly path: string;
  readonly version: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface ParsedRequests {
  readonly requests: HttpRequest[];
  /** Bytes after the last whole request (a request the capture cut short), 0 when none. */
  readonly leftoverBytes: number;
  /**
   * Bytes after a request that asked to switch protocols (`connection: upgrade`, e.g. a
   * WebSocket): they are the other protocol's, not HTTP, and are left unparsed.
   */
  readonly upgradedBytes: number;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** Decodes a chunked body starting at `offset`; undefined when the data ends before the last chunk. */
function readChunked(data: Buffer, offset: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let at = offset;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const sizeText = data.subarray(at, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size "${sizeText}"`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailers, then an empty line.
      const trailerEnd = data.indexOf(CRLF, at);
      if (trailerEnd < 0) return undefined;
      if (trailerEnd === at) return { body: Buffer.concat(chunks), end: at + 2 };
      const end = data.indexOf(HEADER_END, at);
      return end < 0 ? undefined : { body: Buffer.concat(chunks), end: end + 4 };
    }
    if (at + size + 2 > data.length) return undefined;
    chunks.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

/**
 * Parses the HTTP/1.1 requests in a client→server byte stream, one after another
 * (keep-alive). Bodies by content-length or chunked transfer encoding; requests
 * without either have no body. Stops after a protocol upgrade (a WebSocket handshake).
 * Throws on bytes that are not a request.
 */
export function parseHttpRequests(stream: Uint8Array): ParsedRequests {
  const data = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  const requests: HttpRequest[] = [];
  let offset = 0;
  while (offset < data.length) {
    const headEnd = data.indexOf(HEADER_END, offset);
    if (headEnd < 0) break;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const requestLine = lines[0] ?? '';
    const match = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(requestLine);
    if (!match)
      throw new Error(`not an HTTP request line at byte ${offset}: ${JSON.stringify(requestLine.slice(0, 80))}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    let body: Buffer;
    let end: number;
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const chunked = readChunked(data, bodyStart);
      if (!chunked) break;
      ({ body, end } = chunked);
    } else {
      const lengthText = headers['content-length'] ?? '0';
      if (!/^\d+$/.test(lengthText)) throw new Error(`bad content-length "${lengthText}"`);
      end = bodyStart + Number(lengthText);
      if (end > data.length) break;
      body = data.subarray(bodyStart, end);
    }
    requests.push({
      method: match[1] as string,
      path: match[2] as string,
      version: match[3] as string,
      headers,
      body,
    });
    offset = end;
    if (/\bupgrade\b/i.test(headers.connection ?? '') && headers.upgrade !== undefined) {
      return { requests, leftoverBytes: 0, upgradedBytes: data.length - offset };
    }
  }
  return { requests, leftoverBytes: data.length - offset, upgradedBytes: 0 };
}

export interface WireRequest extends HttpRequest {
  readonly srcIp: string;
  readonly srcPort: number;
  readonly dstIp: string;
  readonly dstPort: number;
}

export interface WireRequests {
  readonly requests: WireRequest[];
  /** Client→server streams that could not be read whole: no SYN seen, a gap, a cut request, or not HTTP. */
  readonly unreadable: UnreadableStream[];
}

export interface UnreadableStream {
  readonly srcIp: string;
  readonly dstIp: string;
  /** `src ip:port → dst ip:port` */
  readonly stream: string;
  readonly reason: string;
}

/**
 * Every HTTP/1.1 request in a capture, from streams toward `serverPort` (e.g. 8080),
 * in the order their connections started and, within one, as sent.
 */
export function httpRequestsFromPcap(file: Uint8Array, serverPort: number): WireRequests {
  const streams = reassembleTcp(tcpSegments(readPcap(file)))
    .filter((stream) => stream.dstPort === serverPort)
    .sort((a, b) => a.firstSeenMicros - b.firstSeenMicros);
  const requests: WireRequest[] = [];
  const unreadable: UnreadableStream[] = [];
  for (const stream of streams) {
    const note = (reason: string) =>
      unreadable.push({
        srcIp: stream.srcIp,
        dstIp: stream.dstIp,
        stream: `${stream.srcIp}:${stream.srcPort} → ${stream.dstIp}:${stream.dstPort}`,
        reason,
      });
    if (!stream.fromStart) {
      if (stream.data.length > 0) note('the capture started mid-connection');
      continue;
    }
    let parsed: ParsedRequests;
    try {
      parsed = parseHttpRequests(stream.data);
    } catch (error) {
      note((error as Error).message);
      continue;
    }
    if (stream.gap) note('bytes missing from the capture');
    if (parsed.leftoverBytes > 0) {
      note(`${parsed.leftoverBytes} bytes after the last whole request`);
    }
    for (const request of parsed.requests) {
      requests.push({
        ...request,
        srcIp: stream.srcIp,
        srcPort: stream.srcPort,
        dstIp: stream.dstIp,
        dstPort: stream.dstPort,
      });
    }
  }
  return { requests, unreadable };
}

/** One WebSocket frame (RFC 6455) as it crossed the wire. */
export interface WebSocketFrame {
  readonly fin: boolean;
  /** RSV1..3; RSV1 set means a compressed (permessage-deflate) payload. */
  readonly rsv: number;
  /** 1 text, 2 binary, 8 close, 9 ping, 10 pong, 0 continuation. */
  readonly opcode: number;
  /** Header and payload: the frame's size on the wire. */
  readonly wireBytes: number;
  /** Unmasked. */
  readonly payload: Uint8Array;
}

/** The WebSocket frames in a byte stream, one after another; a frame cut short is left over. */
export function parseWebSocketFrames(stream: Uint8Array): { frames: WebSocketFrame[]; leftoverBytes: number } {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const frames: WebSocketFrame[] = [];
  let offset = 0;
  while (offset + 2 <= stream.length) {
    const first = stream[offset] as number;
    const second = stream[offset + 1] as number;
    let length = second & 0x7f;
    let header = 2;
    if (length === 126) {
      if (offset + 4 > stream.length) break;
      length = view.getUint16(offset + 2);
      header = 4;
    } else if (length === 127) {
      if (offset + 10 > stream.length) break;
      length = Number(view.getBigUint64(offset + 2));
      header = 10;
    }
    const masked = (second & 0x80) !== 0;
    const mask = masked ? stream.subarray(offset + header, offset + header + 4) : undefined;
    if (masked) header += 4;
    const end = offset + header + length;
    if (end > stream.length) break;
    const payload = Uint8Array.from(stream.subarray(offset + header, end));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
    frames.push({
      fin: (first & 0x80) !== 0,
      rsv: (first >> 4) & 0x7,
      opcode: first & 0x0f,
      wireBytes: end - offset,
      payload,
    });
    offset = end;
  }
  return { frames, leftoverBytes: stream.length - offset };
}

export interface WireWebSocket {
  /** The server's end. */
  readonly serverIp: string;
  readonly clientIp: string;
  readonly clientPort: number;
  /** The path the client upgraded, e.g. `/v1/mailboxes/<address>/ws`. */
  readonly path: string;
  /** What the server sent after the handshake. */
  readonly frames: WebSocketFrame[];
}

const SWITCHING_PROTOCOLS = Buffer.from('HTTP/1.1 101 ');

/**
 * Every connection to `serverPort` that the capture saw upgraded to WebSocket, with the
 * frames the server sent on it. Connections the capture cannot read whole are unreadable.
 */
export function webSocketsFromPcap(
  file: Uint8Array,
  serverPort: number,
): { sockets: WireWebSocket[]; unreadable: UnreadableStream[] } {
  const streams = reassembleTcp(tcpSegments(readPcap(file)));
  const sockets: WireWebSocket[] = [];
  const unreadable: UnreadableStream[] = [];
  for (const request of streams) {
    if (request.dstPort !== serverPort || !request.fromStart) continue;
    let upgrade: HttpRequest | undefined;
    try {
      upgrade = parseHttpRequests(request.data).requests.findLast(
        (r) => r.headers.upgrade?.toLowerCase() === 'websocket',
      );
    } catch {
      continue; // not HTTP: httpRequestsFromPcap reports it
    }
    if (!upgrade) continue;
    const note = (reason: string) =>
      unreadable.push({
        srcIp: request.dstIp,
        dstIp: request.srcIp,
        stream: `${request.dstIp}:${serverPort} → ${request.srcIp}:${request.srcPort}`,
        reason,
      });
    const answer = streams.find(
      (s) =>
        s.srcIp === request.dstIp &&
        s.srcPort === serverPort &&
        s.dstIp === request.srcIp &&
        s.dstPort === request.srcPort &&
        s.fromStart,
    );
    if (!answer) {
      note('the server side of the connection is not in the capture');
      continue;
    }
    const data = Buffer.from(answer.data.buffer, answer.data.byteOffset, answer.data.byteLength);
    const status = data.indexOf(SWITCHING_PROTOCOLS);
    const headEnd = status < 0 ? -1 : data.indexOf(HEADER_END, status);
    if (headEnd < 0) {
      note('the server did not switch protocols');
      continue;
    }
    const { frames, leftoverBytes } = parseWebSocketFrames(data.subarray(headEnd + 4));
    if (answer.gap) note('bytes missing from the capture');
    if (leftoverBytes > 0) note(`${leftoverBytes} bytes after the last whole frame`);
    sockets.push({
      serverIp: request.dstIp,
      clientIp: request.srcIp,
      clientPort: request.srcPort,
      path: upgrade.path,
      frames,
    });
  }
  return { sockets, unreadable };
}
