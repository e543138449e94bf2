/**
 * Per-client rate limits at the gateway: a token bucket per client key, one token per
 * submitted packet. A bucket holds at most `burst` tokens and refills at `perSecond`.
 *
 * The key is what the gateway can tell clients apart by, which is weaker than it looks:
 * clients on the Docker host reach the published port through docker-proxy, so they all
 * arrive from its one address and share one bucket; clients behind one NAT do too. Behind a
 * proxy the gateway trusts, `forwarded-for` keys on the first X-Forwarded-For entry instead
 * (anyone else can write that header, so only there). None of this holds a client with many
 * addresses back: the gateway's bound on work in flight is the limit that always holds.
 */

export const RATE_LIMIT_KEYS = ['address', 'forwarded-for', 'off'] as const;
/** address: the TCP peer's; forwarded-for: X-Forwarded-For's first entry (trusted proxies only); off: no limit. */
export type RateLimitKey = (typeof RATE_LIMIT_KEYS)[number];

export interface RateLimit {
  /** Packets per second a client may submit over time. */
  readonly perSecond: number;
  /** Packets it may submit at once after a quiet spell (the bucket's size). */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  /** Clock time of the last refill, ms. */
  at: number;
}

/** The key of the client a request came from, by the configured rule. */
export function clientKey(
  rule: Exclude<RateLimitKey, 'off'>,
  address: string,
  forwardedFor: string | string[] | undefined,
): string {
  if (rule === 'address') return address;
  const header = Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor;
  const first = header?.split(',')[0]?.trim();
  return first ? first : address;
}

export class TokenBuckets {
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #maxClients: number;
  readonly #buckets = new Map<string, Bucket>();
  #sweptAt: number;

  /** `now` in milliseconds; at most `maxClients` buckets are kept (full ones are forgotten). */
  constructor(limit: RateLimit, now: () => number, maxClients = 100_000) {
    this.#limit = limit;
    this.#now = now;
    this.#maxClients = maxClients;
    this.#sweptAt = now();
  }

  /**
   * Takes `cost` tokens from `key`'s bucket (at most the whole bucket: a request larger than
   * the burst waits for a full one). Returns 0 when they were taken, else the seconds until
   * they will be there; nothing is taken then.
   */
  take(key: string, cost: number): number {
    const now = this.#now();
    const { perSecond, burst } = this.#limit;
    if (now - this.#sweptAt >= this.#refillMs()) this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      // Too many clients at once to remember: the newcomer waits until a sweep makes room.
      if (this.#buckets.size >= this.#maxClients) return this.#refillMs() / 1000;
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    const needed = Math.min(cost, burst);
    if (bucket.tokens >= needed) {
      bucket.tokens -= needed;
      return 0;
    }
    return (needed - bucket.tokens) / perSecond;
  }

  /** Buckets kept, for tests: clients seen within the time a bucket takes to refill. */
  get clients(): number {
    return this.#buckets.size;
  }

  #refillMs(): number {
    return (this.#limit.burst / this.#limit.perSecond) * 1000;
  }

  /** Forgets buckets that have refilled: a new one for the same client starts full alike. */
  #sweep(now: number): void {
    const { perSecond, burst } = this.#limit;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.#buckets.delete(key);
    }
    this.#sweptAt = now;
  }
}
