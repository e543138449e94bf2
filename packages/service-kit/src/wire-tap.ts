/**
 * The wire tap: what a service reports to the anonymity observer each time it puts a request
 * on a link (or, at the gateway, takes one from a client). A datagram carries exactly what a
 * packet capture of that link shows (when, which endpoint to which, bytes, packets) and can
 * carry nothing else: the encoder takes only those five values, and the decoder refuses an
 * event with any other field. Fire and forget over UDP: a tap never blocks, delays or
 * fails the data path, and nothing is sent unless a tap address is configured. The events of
 * one turn of the event loop go in one datagram, a line each (under load, a service reports
 * several at once: one system call, not one per request), each stamped when it happened.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { WireEvent } from '@mixlab/anonymity';
import { ConfigError, type Env } from './env.ts';

/** An endpoint as a tap names it: host:port (an address, or a name the directory publishes). */
const ENDPOINT = /^[A-Za-z0-9._:[\]-]{1,100}$/;
/** The longest event a tap encodes or the observer reads. */
export const MAX_TAP_EVENT_BYTES = 512;
/** The longest datagram a tap sends or the observer reads: events of one turn, a line each, unfragmented on Ethernet. */
export const MAX_TAP_DATAGRAM_BYTES = 1400;
/** The only fields a tap datagram has, in its order. */
export const TAP_FIELDS = ['atMs', 'from', 'to', 'bytes', 'packets'] as const;

/** A datagram the observer cannot take; the message says why. */
export class TapDatagramError extends Error {
  override readonly name = 'TapDatagramError';
}

/** The datagram for one wire event; built from the five values alone, so it cannot carry more. */
export function encodeTapEvent(atMs: number, from: string, to: string, bytes: number, packets: number): Buffer {
  return Buffer.from(JSON.stringify({ atMs, from, to, bytes, packets }));
}

/**
 * Reads a tap datagram: one event per line. Throws TapDatagramError when the datagram is too
 * long or any line is not exactly the five fields, well formed (a datagram is taken whole or not at all).
 */
export function decodeTapEvents(datagram: Uint8Array): WireEvent[] {
  if (datagram.length > MAX_TAP_DATAGRAM_BYTES) {
    throw new TapDatagramError(`datagram of ${datagram.length} bytes exceeds ${MAX_TAP_DATAGRAM_BYTES}`);
  }
  return Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength)
    .toString('utf8')
    .split('\n')
    .map((line) => decodeTapEventText(line, Buffer.byteLength(line)));
}

/** One event's text (`length` bytes in UTF-8): exactly the five fields, well formed, or TapDatagramError. */
function decodeTapEventText(text: string, length: number): WireEvent {
  if (length > MAX_TAP_EVENT_BYTES) {
    throw new TapDatagramError(`event of ${length} bytes exceeds ${MAX_TAP_EVENT_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TapDatagramError('datagram is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TapDatagramError('datagram is not a JSON object');
  }
  const keys = Object.keys(value);
  const extra = keys.filter((key) => !(TAP_FIELDS as readonly string[]).includes(key));
  if (extra.length > 0) throw new TapDatagramError(`datagram has fields a tap cannot see: ${extra.join(', ')}`);
  const missing = TAP_FIELDS.filter((key) => !keys.includes(key));
  if (missing.length > 0) throw new TapDatagramError(`datagram lacks ${missing.join(', ')}`);
  const { atMs, from, to, bytes, packets } = value as Record<string, unknown>;
  if (typeof atMs !== 'number' || !(Number.isFinite(atMs) && atMs >= 0)) {
    throw new TapDatagramError('atMs must be a time in ms >= 0');
  }
  for (const [name, endpoint] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (typeof endpoint !== 'string' || !ENDPOINT.test(endpoint)) {
      throw new TapDatagramError(`${name} must be an endpoint host:port`);
    }
  }
  for (const [name, count] of [
    ['bytes', bytes],
    ['packets', packets],
  ] as const) {
    if (typeof count !== 'number' || !(Number.isSafeInteger(count) && count >= 0)) {
      throw new TapDatagramError(`${name} must be a whole number >= 0`);
    }
  }
  return { atMs, from: from as string, to: to as string, bytes: bytes as number, packets: packets as number };
}

/** `host:port` of a URL, as a tap names the endpoint it reaches (the port made explicit). */
export function endpointOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return `${parsed.hostname}:${port}`;
}

/** `address:port` of a TCP peer, as a tap on that connection names it. */
export function peerEndpoint(address: string | undefined, port: number | undefined): string {
  const host = address?.startsWith('::ffff:') ? address.slice(7) : (address ?? 'unknown');
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`;
}

/** TAP_ADDRESS, the observer's tap as host:port; undefined (no tap) when unset. */
export function envTapAddress(env: Env): string | undefined {
  const value = env.TAP_ADDRESS?.trim();
  if (!value) return undefined;
  if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(value)) throw new ConfigError(`TAP_ADDRESS must be host:port, got "${value}"`);
  return value;
}

/** Where a service reports what it puts on the wire. */
export interface WireTap {
  /** This service sent `packets` packets in `bytes` bytes to `to` (an endpoint). */
  sent(to: string, bytes: number, packets: number): void;
  /** This service received them from `from` (a client's connection). */
  received(from: string, bytes: number, packets: number): void;
}

export interface UdpWireTapOptions {
  /** The observer's tap address, `host:port`. */
  readonly target: string;
  /** This service's own endpoint, as others reach it (host:port of its advertised URL). */
  readonly self: string;
  /** Wall-clock ms (shared by every container of the host), fractional where the clock allows. */
  readonly now: () => number;
}

/**
 * A service's tap, named by its advertised URL (as the directory publishes it) and stamped
 * with the wall clock every container shares; none when `address` (TAP_ADDRESS) is unset.
 */
export function serviceTap(address: string | undefined, advertisedUrl: string): UdpWireTap | undefined {
  return address === undefined
    ? undefined
    : new UdpWireTap({ target: address, self: endpointOf(advertisedUrl), now: Date.now });
}

/** How long a tap keeps the observer's address before it looks the name up again (it may restart elsewhere). */
const RESOLVE_EVERY_MS = 10_000;

/**
 * Sends each event as one UDP datagram; errors are ignored (the tap is best effort by design).
 * The socket is connected to the observer's address: a send then costs the kernel no route
 * look-up and Node no address resolution (about half the CPU of an unconnected send, measured).
 */
export class UdpWireTap implements WireTap {
  readonly #socket: Socket;
  readonly #host: string;
  readonly #port: number;
  readonly #self: string;
  readonly #now: () => number;
  /** The address the socket is connected (or connecting) to, looked up at most every RESOLVE_EVERY_MS. */
  #address: string | undefined;
  #connected = false;
  #resolvedAt = Number.NEGATIVE_INFINITY;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #firstConnect = Promise.withResolvers<void>();
  /** This turn's events, encoded, and their bytes with the line breaks between them. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(options: UdpWireTapOptions) {
    const { hostname, port } = new URL(`udp://${options.target}`);
    if (!hostname || !port) throw new RangeError(`a tap target is host:port, got "${options.target}"`);
    this.#host = hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(port);
    this.#self = options.self;
    this.#now = options.now;
    this.#socket = createSocket(this.#host.includes(':') ? 'udp6' : 'udp4');
    // A connected UDP socket reports the observer's absence (ICMP port unreachable) as an error: ignored.
    this.#socket.on('error', () => {});
    this.#socket.unref();
    // Connected now, not at the first event: the first packets a service sends are tapped too.
    if (isIP(this.#host)) this.#connect(this.#host);
    else this.#resolve();
  }

  /** Resolves once the socket is first connected: events before that are not sent (a service starts its tap long before its first packet). */
  get connected(): Promise<void> {
    return this.#firstConnect.promise;
  }

  sent(to: string, bytes: number, packets: number): void {
    this.#send(encodeTapEvent(this.#now(), this.#self, to, bytes, packets));
  }

  received(from: string, bytes: number, packets: number): void {
    this.#send(encodeTapEvent(this.#now(), from, this.#self, bytes, packets));
  }

  #send(event: Buffer): void {
    // Until the socket is connected, events are not sent: a tap loses, it never waits.
    if (!this.#connected) {
      this.#refreshAddress();
      return;
    }
    if (this.#pending.length > 0 && this.#pendingBytes + 1 + event.length > MAX_TAP_DATAGRAM_BYTES) this.#flush();
    if (this.#pending.push(event) === 1) setImmediate(() => this.#flush());
    this.#pendingBytes += (this.#pending.length > 1 ? 1 : 0) + event.length;
  }

  /** Sends this turn's events in one datagram, a line each. */
  #flush(): void {
    if (this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#refreshAddress();
    if (!this.#connected) return;
    this.#socket.send(events.length === 1 ? (events[0] as Buffer) : Buffer.concat(joinLines(events)));
  }

  #refreshAddress(): void {
    const stale = this.#retry === undefined && performance.now() - this.#resolvedAt > RESOLVE_EVERY_MS;
    if (stale && !isIP(this.#host)) this.#resolve();
  }

  /** Connects the socket to `address` (again, when the observer's name now resolves elsewhere). */
  #connect(address: string): void {
    if (this.#closed || address === this.#address) return;
    this.#address = address;
    if (this.#connected) {
      this.#connected = false;
      this.#socket.disconnect();
    }
    try {
      this.#socket.connect(this.#port, address, () => {
        if (this.#address === address && !this.#closed) {
          this.#connected = true;
          this.#firstConnect.resolve();
        }
      });
    } catch {
      this.#address = undefined; // a connect already under way: the next look-up tries again
    }
  }

  /** Looks the target up; until it answers (the observer may start after this service), again every second. */
  #resolve(): void {
    if (this.#closed) return;
    this.#resolvedAt = performance.now();
    lookup(this.#host, { family: 4 }).then(
      ({ address }) => this.#connect(address),
      () => {
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          this.#resolve();
        }, 1_000);
        this.#retry.unref();
      },
    );
  }

  close(): void {
    this.#pending = [];
    this.#closed = true;
    this.#connected = false;
    clearTimeout(this.#retry);
    this.#socket.close();
  }
}

const NEWLINE = Buffer.from('\n');

/** The events with a line break between each two. */
function joinLines(events: readonly Buffer[]): Buffer[] {
  const parts: Buffer[] = [];
  for (const event of events) {
    if (parts.length > 0) parts.push(NEWLINE);
    parts.push(event);
  }
  return parts;
}
