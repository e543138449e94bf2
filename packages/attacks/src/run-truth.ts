/**
 * The scorer's side: joins the load generator's ground truth (simulated client i sent a
 * message to client j at t, received at t') with the wire's names for those clients, so that
 * an attack's estimates can be scored. Only the scorer reads both; no attack reads this.
 *
 * The load generator knows its clients by index, the wire by connection: each simulated
 * client submits on one connection and is pushed to on another (its WebSocket). Each is
 * matched to the slot whose events line up with its own send (or receipt) times on the
 * shared host clock, one to one, best match first.
 */
import type { Roles, TruthRecord, WireEvent } from '@mixlab/anonymity';
import type { LoadTruth } from '@mixlab/load';
import { traceEnds } from './trace.ts';

export interface TruthJoin {
  readonly records: TruthRecord[];
  /** Slot each simulated client submitted on, and was pushed to (undefined: not found on the wire). */
  readonly senderSlots: readonly (string | undefined)[];
  readonly recipientSlots: readonly (string | undefined)[];
  /** Messages received whose sender or recipient has no slot: left out of the records. */
  readonly unjoined: number;
}

/** How far apart a client's own time and the tap's may be: the tap comes later by `within`, earlier by at most `skew`. */
export interface JoinWindow {
  readonly skewMs: number;
  readonly withinMs: number;
}

/** Mean over `times` of the gap to the first of `events` at or after t − skew, capped at `within` (both sorted). */
function meanGap(times: readonly number[], events: readonly number[], { skewMs, withinMs }: JoinWindow): number {
  if (times.length === 0) return withinMs;
  let j = 0;
  let total = 0;
  for (const t of times) {
    while (j < events.length && (events[j] as number) < t - skewMs) j++;
    total += j < events.length ? Math.min(Math.max((events[j] as number) - t, 0), withinMs) : withinMs;
  }
  // A slot with more or fewer events than the client's times is a worse match.
  return total / times.length + (withinMs * Math.abs(events.length - times.length)) / times.length;
}

/** Each owner (by its sorted times) to the slot (by its sorted event times) that fits best, one to one. */
function assign(
  owners: readonly (readonly number[])[],
  slots: ReadonlyMap<string, readonly number[]>,
  window: JoinWindow,
): (string | undefined)[] {
  const pairs: { owner: number; slot: string; cost: number }[] = [];
  owners.forEach((times, owner) => {
    if (times.length === 0) return;
    for (const [slot, events] of slots) {
      const cost = meanGap(times, events, window);
      if (cost < window.withinMs) pairs.push({ owner, slot, cost });
    }
  });
  pairs.sort((a, b) => a.cost - b.cost);
  const result: (string | undefined)[] = owners.map(() => undefined);
  const taken = new Set<string>();
  for (const { owner, slot } of pairs) {
    if (result[owner] !== undefined || taken.has(slot)) continue;
    result[owner] = slot;
    taken.add(slot);
  }
  return result;
}

const byTime = (a: number, b: number) => a - b;

/**
 * The truth of a load run, named as the trace names clients: one record per message
 * received, numbered per recipient slot in receipt order (as the pushes are).
 */
export function joinTruth(
  truth: LoadTruth,
  events: Iterable<WireEvent>,
  roles: Roles,
  window: { send?: JoinWindow; receive?: JoinWindow } = {},
): TruthJoin {
  const { submissions, pushes } = traceEnds(events, roles);
  const group = (list: readonly { atMs: number }[], key: (item: never) => string) => {
    const map = new Map<string, number[]>();
    for (const item of list) {
      const k = key(item as never);
      const times = map.get(k) ?? [];
      times.push(item.atMs);
      map.set(k, times);
    }
    return map;
  };
  const submitted = group(submissions, (s: { sender: string }) => s.sender);
  const pushed = group(pushes, (p: { recipient: string }) => p.recipient);
  const sends = Array.from({ length: truth.clients }, () => [] as number[]);
  const receipts = Array.from({ length: truth.clients }, () => [] as number[]);
  for (const message of truth.messages) {
    sends[message.from]?.push(message.sentAtMs);
    if (message.receivedAtMs !== null) receipts[message.to]?.push(message.receivedAtMs);
  }
  // Drop cover is submitted like any message: it belongs to its sender's times on the wire.
  for (const drop of truth.cover ?? []) sends[drop.from]?.push(drop.sentAtMs);
  for (const times of [...sends, ...receipts]) times.sort(byTime);
  // Building and submitting a packet takes up to a few hundred ms under load; a push reaches its client in a few ms.
  const senderSlots = assign(sends, submitted, window.send ?? { skewMs: 50, withinMs: 1_000 });
  const recipientSlots = assign(
    receipts.map((times) => times.map((t) => -t).reverse()),
    new Map([...pushed].map(([slot, times]) => [slot, times.map((t) => -t).reverse()])),
    window.receive ?? { skewMs: 50, withinMs: 1_000 },
  );
  const received = truth.messages
    .filter((message) => message.receivedAtMs !== null)
    // Receipts in one millisecond (a batch's pushes) in the order they came, when the truth says.
    .sort(
      (a, b) =>
        (a.receivedAtMs as number) - (b.receivedAtMs as number) || (a.receivedOrder ?? 0) - (b.receivedOrder ?? 0),
    );
  const delivered = new Map<string, number>();
  const records: TruthRecord[] = [];
  let unjoined = 0;
  for (const message of received) {
    const sender = senderSlots[message.from];
    const recipient = recipientSlots[message.to];
    if (sender === undefined || recipient === undefined) {
      unjoined++;
      continue;
    }
    const order = (delivered.get(recipient) ?? 0) + 1;
    delivered.set(recipient, order);
    records.push({ sender, recipient, order });
  }
  return { records, senderSlots, recipientSlots, unjoined };
}

/**
 * For each submission of the trace (in `traceEnds` order), whether it was drop cover: each
 * client's sends, real and cover, in time order, each taken by its slot's first submission
 * not yet taken at or after it (less `skewMs`). Undefined for a submission no send explains.
 * For scoring a cover distinguisher only.
 */
export function coverLabels(
  truth: LoadTruth,
  events: Iterable<WireEvent>,
  roles: Roles,
  join: Pick<TruthJoin, 'senderSlots'>,
  skewMs = 50,
): (boolean | undefined)[] {
  const { submissions } = traceEnds(events, roles);
  const labels: (boolean | undefined)[] = submissions.map(() => undefined);
  const bySlot = new Map<string, number[]>();
  submissions.forEach((submission, i) => {
    const list = bySlot.get(submission.sender) ?? [];
    list.push(i);
    bySlot.set(submission.sender, list);
  });
  const sends = [
    ...truth.messages.map((message) => ({ from: message.from, atMs: message.sentAtMs, cover: false })),
    ...(truth.cover ?? []).map((drop) => ({ from: drop.from, atMs: drop.sentAtMs, cover: true })),
  ].sort((a, b) => a.atMs - b.atMs);
  const next = new Map<string, number>();
  for (const send of sends) {
    const slot = join.senderSlots[send.from];
    const list = slot === undefined ? undefined : bySlot.get(slot);
    if (!list || slot === undefined) continue;
    let k = next.get(slot) ?? 0;
    while (k < list.length && (submissions[list[k] as number] as { atMs: number }).atMs < send.atMs - skewMs) k++;
    if (k < list.length) labels[list[k] as number] = send.cover;
    next.set(slot, k + 1);
  }
  return labels;
}
