/**
 * Mailbox sessions: the proof that a client holds the private key behind an address. The
 * gateway draws a random token, seals it to the address (an X25519 public key, so only its
 * owner opens it) and keeps only the token's SHA-256, the address and an expiry. Reading,
 * subscribing to and acknowledging that address's mailbox then take the token as a bearer
 * credential. Held in memory: a restart costs each client one renewal. Bounded: when the table
 * is full the oldest session goes (its client renews on `session_expired`), so a flood of
 * sessions costs honest clients a round trip, not their mailboxes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fromHex, seal } from '@mixlab/crypto';

/** How long a session lasts. */
export const SESSION_TTL_MS = 10 * 60_000;
export const SESSION_TOKEN_BYTES = 32;

/** Why a request was refused its mailbox (each an error code of service-kit's errors.ts). */
export type SessionRefusal = 'session_required' | 'session_expired' | 'wrong_mailbox';

export type SessionCheck = { readonly address: string } | { readonly refused: SessionRefusal };

export interface SessionOptions {
  readonly maxSessions: number;
  readonly ttlMs?: number;
  /** ms since the Unix epoch; injected in tests. */
  readonly now?: () => number;
}

const BEARER = /^Bearer ([0-9a-f]{64})$/i;
const digest = (token: Uint8Array) => createHash('sha256').update(token).digest('hex');

export class Sessions {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** By token digest, in order of opening: with one lifetime for all, that is also the order of expiry. */
  readonly #byDigest = new Map<string, { readonly address: string; readonly expiresAt: number }>();

  constructor(options: SessionOptions) {
    this.#max = options.maxSessions;
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /**
   * A new session for `address` (64 hex characters): the token sealed to it, and when it
   * expires. `evicted` tells that the oldest live session made room for it.
   */
  open(address: string): { sealedToken: Uint8Array; expiresAt: number; evicted: boolean } {
    const publicKey = fromHex(address);
    if (publicKey?.length !== 32) throw new RangeError(`an address is 64 hex characters, got "${address}"`);
    const now = this.#now();
    this.#dropExpired(now);
    let evicted = false;
    if (this.#byDigest.size >= this.#max) {
      const oldest = this.#byDigest.keys().next().value as string;
      this.#byDigest.delete(oldest);
      evicted = true;
    }
    const token = randomBytes(SESSION_TOKEN_BYTES);
    const expiresAt = now + this.#ttlMs;
    this.#byDigest.set(digest(token), { address, expiresAt });
    return { sealedToken: seal(token, publicKey), expiresAt, evicted };
  }

  /**
   * The address whose mailbox `authorization` (the request's header) opens, checked against
   * `address` when given. An unknown token and an expired one are alike (only digests are
   * kept, and an evicted session leaves nothing): both ask the client to open a new session.
   */
  check(authorization: string | undefined, address?: string): SessionCheck {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token === undefined) return { refused: 'session_required' };
    const key = digest(Buffer.from(token, 'hex'));
    const session = this.#byDigest.get(key);
    if (!session) return { refused: 'session_expired' };
    if (session.expiresAt <= this.#now()) {
      this.#byDigest.delete(key);
      return { refused: 'session_expired' };
    }
    if (address !== undefined && session.address !== address) return { refused: 'wrong_mailbox' };
    return { address: session.address };
  }

  #dropExpired(now: number): void {
    for (const [key, { expiresAt }] of this.#byDigest) {
      if (expiresAt > now) return;
      this.#byDigest.delete(key);
    }
  }
}
