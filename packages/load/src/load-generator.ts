/**
 * A load generator: N simulated clients, each with its own key pair and mailbox
 * subscription, each sending at Poisson rate R (messages per second, per client, as
 * Loopix clients do) to a random other simulated client for a while, then waiting for
 * stragglers. Sender and recipient are this one process, so it keeps every message's send
 * time itself (by message id) and measures end-to-end latency exactly on one clock, and
 * reports it to the gateway; nothing in a message says when it was sent.
 *
 * The arithmetic (percentiles, tallies) is pure and tested; `runLoad` wires it to real
 * clients, clocks and timers. A run is seeded end to end from one number, or not at all.
 */
import {
  type CoverClient,
  type CoverCounts,
  CoverTraffic,
  newMessageId,
  type ReceiveOptions,
  type Subscription,
} from '@mixlab/client';
import type { KeyPair } from '@mixlab/crypto';
import {
  type Clock,
  poissonSchedule,
  type Random,
  secureRandom,
  seededRandom,
  sleep,
  wallClock,
} from '@mixlab/runtime';

/**
 * The p-th percentile (0 < p <= 100) of values sorted ascending, by the nearest-rank
 * method: the smallest value with at least p% of the values at or below it, so it is
 * always one of the measured values. p = 0 gives the minimum.
 */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) throw new RangeError('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAscending.length));
  return sortedAscending[rank - 1] as number;
}

export interface LatencyStats {
  readonly count: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** Percentiles of latencies in any order; undefined when there are none. */
export function latencyStats(latenciesMs: readonly number[]): LatencyStats | undefined {
  if (latenciesMs.length === 0) return undefined;
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    minMs: sorted[0] as number,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] as number,
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
  };
}

export interface LoadSettings {
  readonly clients: number;
  /** Messages per second, per simulated client. */
  readonly ratePerClient: number;
  readonly durationMs: number;
  /** Longest wait for stragglers after the last send. */
  readonly drainMs: number;
  /** What the network runs (the mixing strategy), for the summary only. */
  readonly strategy?: string | undefined;
  /** Loopix cover per simulated client, per second: drops to the sink and loops to itself. */
  readonly dropRatePerClient?: number;
  readonly loopRatePerClient?: number;
  /**
   * Seeds every choice of the run (send schedules, recipients, routes and hop delays, cover
   * timing), each from its own stream, so that one number reproduces the traffic pattern.
   * Unseeded runs use the CSPRNG. Packet key material is never seeded.
   */
  readonly seed?: number | undefined;
}

/** Cover the simulated clients sent, and what came of their loops. */
export interface CoverSummary {
  readonly drops: number;
  readonly loopsSent: number;
  readonly loopsReturned: number;
  /** Not back within the loop time-out. */
  readonly loopsLost: number;
  /** Still out when the run ended (neither back nor timed out). */
  readonly loopsOutstanding: number;
  readonly loopRoundTripMs: LatencyStats | null;
}

export interface LoadProgress {
  readonly phase: 'sending' | 'draining';
  readonly elapsedMs: number;
  readonly sent: number;
  readonly delivered: number;
  readonly inFlight: number;
  readonly p50Ms: number | undefined;
}

export interface LoadSummary {
  readonly strategy: string | null;
  readonly clients: number;
  readonly ratePerClient: number;
  /** clients × ratePerClient, messages per second. */
  readonly offeredRate: number;
  readonly durationSeconds: number;
  readonly drainSeconds: number;
  /** Messages the gateway accepted. */
  readonly sent: number;
  /** Sends that failed (not counted in sent). */
  readonly sendErrors: number;
  /** Distinct sent messages received. */
  readonly delivered: number;
  /** Sent but not received by the end of the drain. */
  readonly lost: number;
  /** Receipts of a message already received. */
  readonly duplicates: number;
  /** Messages received that this run did not send, or that failed to open. */
  readonly unexpected: number;
  /** End to end, send to receipt, of every first receipt; null when nothing arrived. */
  readonly latencyMs: LatencyStats | null;
  /**
   * Delivered messages per second: delivered / max(duration, first to last delivery), so
   * a network that keeps up scores the rate it was offered (minus losses), and one that
   * falls behind scores the rate at which messages actually came out.
   */
  readonly throughput: number;
  readonly elapsedSeconds: number;
  readonly startedAt: string;
  /** Present when the run sent cover. */
  readonly cover?: CoverSummary;
}

/**
 * What one run saw, message by message. Receipts may be counted before their send
 * resolves (a fast network), so sent and received ids are matched either way round; the
 * send time is recorded before the send starts, so a receipt always finds it.
 */
export class LoadTally {
  readonly startedAt: number;
  readonly latenciesMs: number[] = [];
  readonly #sendTimes = new Map<string, number>();
  #sent = new Set<string>();
  #received = new Set<string>();
  #delivered = 0;
  #sendErrors = 0;
  #duplicates = 0;
  #unreadable = 0;
  #firstDeliveryAt: number | undefined;
  #lastDeliveryAt: number | undefined;

  constructor(startedAt: number) {
    this.startedAt = startedAt;
  }

  get sent(): number {
    return this.#sent.size;
  }
  get delivered(): number {
    return this.#delivered;
  }
  get inFlight(): number {
    return this.#sent.size - this.#delivered;
  }

  /** A send about to start, at `sentAt` on the run's clock. */
  recordSending(messageId: string, sentAt: number): void {
    this.#sendTimes.set(messageId, sentAt);
  }

  /** When this run sent `messageId`, or undefined when it did not. */
  sendTimeOf(messageId: string): number | undefined {
    return this.#sendTimes.get(messageId);
  }

  /** The gateway accepted the message. */
  recordSent(messageId: string): void {
    if (this.#sent.has(messageId)) return;
    this.#sent.add(messageId);
    if (this.#received.has(messageId)) this.#delivered++;
  }

  recordSendError(messageId: string): void {
    this.#sendTimes.delete(messageId);
    this.#sendErrors++;
  }

  /** A message that did not open or could not be read. */
  recordUnreadable(): void {
    this.#unreadable++;
  }

  /** A receipt; its latency counts when this run sent the message. */
  recordReceived(messageId: string, receivedAt: number): void {
    if (this.#received.has(messageId)) {
      this.#duplicates++;
      return;
    }
    this.#received.add(messageId);
    const sentAt = this.#sendTimes.get(messageId);
    if (sentAt !== undefined) this.latenciesMs.push(Math.max(0, receivedAt - sentAt));
    this.#firstDeliveryAt = Math.min(this.#firstDeliveryAt ?? receivedAt, receivedAt);
    this.#lastDeliveryAt = Math.max(this.#lastDeliveryAt ?? receivedAt, receivedAt);
    if (this.#sent.has(messageId)) this.#delivered++;
  }

  progress(phase: LoadProgress['phase'], now: number): LoadProgress {
    const stats = latencyStats(this.latenciesMs);
    return {
      phase,
      elapsedMs: now - this.startedAt,
      sent: this.sent,
      delivered: this.delivered,
      inFlight: this.inFlight,
      p50Ms: stats?.p50Ms,
    };
  }

  summary(settings: LoadSettings, endedAt: number): LoadSummary {
    const stats = latencyStats(this.latenciesMs);
    const unexpected = this.#received.size - this.#delivered + this.#unreadable;
    const deliverySpanMs = (this.#lastDeliveryAt ?? 0) - (this.#firstDeliveryAt ?? 0);
    const spanMs = Math.max(settings.durationMs, deliverySpanMs);
    return {
      strategy: settings.strategy ?? null,
      clients: settings.clients,
      ratePerClient: settings.ratePerClient,
      offeredRate: settings.clients * settings.ratePerClient,
      durationSeconds: settings.durationMs / 1000,
      drainSeconds: settings.drainMs / 1000,
      sent: this.sent,
      sendErrors: this.#sendErrors,
      delivered: this.#delivered,
      lost: this.sent - this.#delivered,
      duplicates: this.#duplicates,
      unexpected,
      latencyMs: stats ?? null,
      throughput: spanMs > 0 ? this.#delivered / (spanMs / 1000) : 0,
      elapsedSeconds: (endedAt - this.startedAt) / 1000,
      startedAt: new Date(this.startedAt).toISOString(),
    };
  }
}

/** The part of MixnetClient a simulated client uses. */
export interface LoadClient extends CoverClient {
  receive(
    keys: KeyPair,
    onMessage: (message: { readonly id: string }) => void | Promise<void>,
    options?: ReceiveOptions,
  ): Subscription;
}

export interface LoadOptions extends LoadSettings {
  /**
   * A client for one simulated client (each gets its own, as separate users would), which
   * picks its routes and hop delays with `random` (a MixnetClient's `random` option).
   */
  readonly connect: (random: Random) => LoadClient;
  readonly generateKeys: () => KeyPair;
  /** The clock send times and receipts are read on (one process, so any clock will do). */
  readonly clock?: Clock;
  readonly onProgress?: (progress: LoadProgress) => void;
  readonly progressIntervalMs?: number;
  /** Called with each failed send or receive (they are counted, not thrown). */
  readonly onError?: (error: Error) => void;
  /** Aborting stops sending and skips the rest of the drain. */
  readonly signal?: AbortSignal;
  /**
   * Message body size in bytes (default 32), or a range every body's size is drawn from
   * uniformly (seeded like the rest), so that sizes vary as real messages' do.
   */
  readonly bodyBytes?: number | { readonly min: number; readonly max: number };
  /**
   * Danezis' model for the statistical disclosure attack: simulated client `client` sends
   * only to `friends` others, drawn uniformly once (seeded) and each message to one of them
   * uniformly; every other client sends to a uniform recipient among all N (itself
   * included). Without it, everyone sends to a uniform other client.
   */
  readonly plantedTarget?: PlantedTarget;
}

/** The target of a statistical disclosure run: who it is and how many friends it has. */
export interface PlantedTarget {
  /** Simulated client index (0-based). */
  readonly client: number;
  /** m, the number of friends: 1 to clients − 1. */
  readonly friends: number;
}

/** One message of the run as only its sender and recipient know it: who sent it to whom, and when. */
export interface TruthMessage {
  /** Simulated client indices (0-based). */
  readonly from: number;
  readonly to: number;
  /** When the sender handed it to its client (just before the packet was built and submitted), on the run's clock. */
  readonly sentAtMs: number;
  /** Its first receipt at the recipient, or null when it never came. */
  readonly receivedAtMs: number | null;
  /**
   * 1-based position of that receipt among all the run's first receipts (null: never came):
   * orders receipts within one millisecond, where a batch's pushes land together.
   */
  readonly receivedOrder?: number | null;
}

/**
 * The ground truth of a run, for scoring attacks afterwards: every message the gateway
 * accepted, in send order. An attack never reads it (it sees the wire); a scorer joins the two.
 */
export interface LoadTruth {
  readonly clients: number;
  readonly messages: readonly TruthMessage[];
  /** Drop cover the clients sent (never delivered), in send order; present when the run sent drop cover. */
  readonly cover?: readonly { readonly from: number; readonly sentAtMs: number }[];
  /** With a planted target: the target and its friends (simulated client indices, ascending). */
  readonly target?: { readonly client: number; readonly friends: readonly number[] };
}

/**
 * Every send's recipient, drawn up front from `random` (one stream per sender): uniform
 * among the others, or Danezis' model with a planted target (see LoadOptions.plantedTarget).
 */
export function drawRecipients(
  sends: readonly number[],
  clients: number,
  stream: (name: string) => Random,
  planted?: PlantedTarget,
): { recipients: number[][]; friends?: number[] } {
  if (!planted) {
    const recipients = sends.map((count, self) => {
      const random = stream(`recipients/${self}`);
      return Array.from({ length: count }, () =>
        clients === 1 ? self : (self + 1 + random.int(clients - 1)) % clients,
      );
    });
    return { recipients };
  }
  const { client: target, friends: m } = planted;
  if (!(Number.isSafeInteger(target) && target >= 0 && target < clients)) {
    throw new RangeError(`the planted target must be a client index in [0, ${clients - 1}], got ${target}`);
  }
  if (!(Number.isSafeInteger(m) && m >= 1 && m <= clients - 1)) {
    throw new RangeError(`the planted target's friends must be a whole number in [1, ${clients - 1}], got ${m}`);
  }
  const pick = stream('friends');
  const others = Array.from({ length: clients }, (_, i) => i).filter((i) => i !== target);
  const friends: number[] = [];
  for (let i = 0; i < m; i++) friends.push(others.splice(pick.int(others.length), 1)[0] as number);
  friends.sort((a, b) => a - b);
  const recipients = sends.map((count, self) => {
    const random = stream(`recipients/${self}`);
    return Array.from({ length: count }, () =>
      self === target ? (friends[random.int(m)] as number) : random.int(clients),
    );
  });
  return { recipients, friends };
}

export interface LoadResult {
  readonly summary: LoadSummary;
  /** Every first receipt's end-to-end latency, in arrival order. */
  readonly latenciesMs: readonly number[];
  readonly truth: LoadTruth;
}

/** Runs the load described by `options` and returns what it measured. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { clients, ratePerClient, durationMs, drainMs, signal } = options;
  if (!Number.isInteger(clients) || clients < 1)
    throw new RangeError(`clients must be a whole number >= 1, got ${clients}`);
  if (!(durationMs > 0)) throw new RangeError(`duration must be > 0 ms, got ${durationMs}`);
  if (!(drainMs >= 0)) throw new RangeError(`drain must be >= 0 ms, got ${drainMs}`);
  const clock = options.clock ?? wallClock;
  const seeded = options.seed === undefined ? undefined : seededRandom(options.seed);
  /** An independent stream per use, so that no consumer's draws shift another's. */
  const stream = (name: string): Random => seeded?.fork(name) ?? secureRandom;
  const onError = options.onError ?? (() => {});
  const bodyRange =
    typeof options.bodyBytes === 'object'
      ? options.bodyBytes
      : { min: options.bodyBytes ?? 32, max: options.bodyBytes ?? 32 };
  if (!(Number.isSafeInteger(bodyRange.min) && bodyRange.min >= 0 && bodyRange.max >= bodyRange.min)) {
    throw new RangeError(
      `body sizes must be whole numbers with 0 <= min <= max, got ${bodyRange.min}..${bodyRange.max}`,
    );
  }
  const body = new Uint8Array(bodyRange.max);

  const members = Array.from({ length: clients }, (_, index) => ({
    client: options.connect(stream(`routes/${index}`)),
    keys: options.generateKeys(),
  }));
  const schedules = members.map((_, index) => poissonSchedule(ratePerClient, durationMs, stream(`schedule/${index}`)));
  // Drawn up front, so a seeded run sends the same pattern whatever the network does.
  const { recipients, friends } = drawRecipients(
    schedules.map((schedule) => schedule.length),
    clients,
    stream,
    options.plantedTarget,
  );
  const bodySizes = schedules.map((schedule, self) => {
    const random = stream(`bodies/${self}`);
    const spread = bodyRange.max - bodyRange.min + 1;
    return schedule.map(() => (spread === 1 ? bodyRange.min : bodyRange.min + random.int(spread)));
  });

  let tally = new LoadTally(clock.now());
  /** Who sent each message to whom (by id), and when it came; kept apart from the tally. */
  const truth = new Map<
    string,
    { from: number; to: number; sentAtMs: number; receivedAtMs: number | null; receivedOrder: number | null }
  >();
  let receipts = 0;
  /** Drop cover sent, for the truth: a cover packet's submission is a send like any other on the wire. */
  const dropsSent: { from: number; sentAtMs: number }[] = [];
  const covers = members.map(({ client, keys }, index) =>
    (options.dropRatePerClient ?? 0) > 0 || (options.loopRatePerClient ?? 0) > 0
      ? new CoverTraffic(recordingDrops(client, index, clock, dropsSent), keys, {
          dropRate: options.dropRatePerClient ?? 0,
          loopRate: options.loopRatePerClient ?? 0,
          loopTimeoutMs: Math.max(drainMs, 10_000),
          bodyBytes: bodyRange.max,
          random: stream(`cover/${index}`),
          onError,
        })
      : undefined,
  );
  const subscriptions = members.map(({ client, keys }, index) =>
    client.receive(
      keys,
      (message) => {
        const now = clock.now();
        tally.recordReceived(message.id, now);
        const record = truth.get(message.id);
        if (record && record.to === index && record.receivedAtMs === null) {
          record.receivedAtMs = now;
          record.receivedOrder = ++receipts;
        }
      },
      {
        // Measurement: latencies from this run's own send times go to the gateway.
        reportLatency: true,
        sendTimeOf: (message) => tally.sendTimeOf(message.id),
        now: () => clock.now(),
        onLoop: covers[index]?.handleLoop,
        onError: (error) => {
          tally.recordUnreadable();
          onError(error);
        },
      },
    ),
  );
  try {
    await Promise.all(subscriptions.map((subscription) => subscription.opened));
    tally = new LoadTally(clock.now());
    for (const cover of covers) cover?.start();
    const startedAt = tally.startedAt;
    let phase: LoadProgress['phase'] = 'sending';
    const finished = new AbortController();
    const stopReporting = signal ? AbortSignal.any([signal, finished.signal]) : finished.signal;

    const pending = new Set<Promise<void>>();
    const sendOne = (from: number, to: number, bytes: number) => {
      const { client } = members[from] as (typeof members)[number];
      const recipient = (members[to] as (typeof members)[number]).keys.publicKey;
      const messageId = newMessageId();
      const sentAtMs = clock.now();
      tally.recordSending(messageId, sentAtMs);
      truth.set(messageId, { from, to, sentAtMs, receivedAtMs: null, receivedOrder: null });
      const sending = client.send(recipient, body.subarray(0, bytes), { messageId }).then(
        (receipt) => tally.recordSent(receipt.messageId),
        (error: Error) => {
          tally.recordSendError(messageId);
          truth.delete(messageId);
          onError(error);
        },
      );
      pending.add(sending);
      sending.finally(() => pending.delete(sending));
    };
    const sender = async (index: number) => {
      const schedule = schedules[index] as number[];
      const targets = recipients[index] as number[];
      for (const [i, offset] of schedule.entries()) {
        await sleep(clock, startedAt + offset - clock.now(), signal);
        if (signal?.aborted) return;
        sendOne(index, targets[i] as number, (bodySizes[index] as number[])[i] as number);
      }
    };
    const reporter = async () => {
      const interval = options.progressIntervalMs ?? 1000;
      while (!stopReporting.aborted) {
        await sleep(clock, interval, stopReporting);
        if (!stopReporting.aborted) options.onProgress?.(tally.progress(phase, clock.now()));
      }
    };
    const reporting = options.onProgress ? reporter() : Promise.resolve();

    await Promise.all(members.map((_, index) => sender(index)));
    await sleep(clock, startedAt + durationMs - clock.now(), signal);
    phase = 'draining';
    for (const cover of covers) cover?.stopSending();
    while (pending.size > 0) await Promise.all(pending);
    const drainUntil = clock.now() + drainMs;
    // The drain waits for loops too: a loop cut off here would count as neither returned nor lost.
    const loopsOutstanding = () =>
      covers.reduce(
        (sum, cover) =>
          sum + (cover ? cover.counts.loopsSent - cover.counts.loopsReturned - cover.counts.loopsLost : 0),
        0,
      );
    while ((tally.inFlight > 0 || loopsOutstanding() > 0) && clock.now() < drainUntil && !signal?.aborted) {
      await sleep(clock, Math.min(100, drainUntil - clock.now()), signal);
    }
    finished.abort();
    await reporting;
    const summary = tally.summary(options, clock.now());
    const cover = covers.some(Boolean) ? coverSummary(covers) : undefined;
    return {
      summary: cover ? { ...summary, cover } : summary,
      latenciesMs: [...tally.latenciesMs],
      truth: {
        clients,
        messages: [...truth.values()].map((record) => ({ ...record })),
        ...((options.dropRatePerClient ?? 0) > 0 ? { cover: dropsSent } : {}),
        ...(friends && options.plantedTarget ? { target: { client: options.plantedTarget.client, friends } } : {}),
      },
    };
  } finally {
    for (const cover of covers) cover?.stop();
    for (const subscription of subscriptions) subscription.close();
  }
}

/** `client` for cover, telling `sent` of each drop as it starts (as real sends are recorded). */
function recordingDrops(
  client: LoadClient,
  from: number,
  clock: Clock,
  sent: { from: number; sentAtMs: number }[],
): CoverClient {
  return {
    send: (...args) => client.send(...args),
    sendDrop: (...args) => {
      const record = { from, sentAtMs: clock.now() };
      sent.push(record);
      return client.sendDrop(...args).catch((error: Error) => {
        sent.splice(sent.indexOf(record), 1);
        throw error;
      });
    },
  };
}

function coverSummary(covers: readonly (CoverTraffic | undefined)[]): CoverSummary {
  const all = covers.flatMap((cover) => (cover ? [cover.counts] : []));
  const sum = (pick: (counts: CoverCounts) => number) => all.reduce((total, counts) => total + pick(counts), 0);
  const loopsSent = sum((c) => c.loopsSent);
  const loopsReturned = sum((c) => c.loopsReturned);
  const loopsLost = sum((c) => c.loopsLost);
  return {
    drops: sum((c) => c.drops),
    loopsSent,
    loopsReturned,
    loopsLost,
    loopsOutstanding: loopsSent - loopsReturned - loopsLost,
    loopRoundTripMs: latencyStats(all.flatMap((c) => c.loopRoundTripsMs)) ?? null,
  };
}
