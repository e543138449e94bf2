/**
 * The gateway's mailbox cost per message: a delivery stored, then acknowledged (one id per
 * call, as clients ack over WebSocket), on a real SQLite file in the temp folder. In the same
 * run, in alternating rounds (the disk is shared): one FULL commit per call (how the gateway
 * committed before group commit), then Mailboxes with 1 and with 8 requests arriving in one
 * event-loop turn (WAL synced off the event loop, once per commit or fewer). Prints, per
 * message, the median over rounds of the time the event loop was blocked in commits (node:sqlite
 * is synchronous), of the CPU time of the process and of the wall time (a store's answer waits
 * for the disk), and each against per-call FULL.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inTransaction, openDatabase } from '@mixlab/runtime';
import { MAILBOX_SCHEMA, Mailboxes } from '../src/mailboxes.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400);
const ROUNDS = 3;
const PAYLOAD = new Uint8Array(2048); // about a Sphinx delivery payload
const ADDRESSES = Array.from({ length: 8 }, () => randomBytes(32).toString('hex'));
const LIMITS = { maxPerMailbox: 1e6, maxBytesPerMailbox: 1e12, maxMailboxes: 1e6, maxBytes: 1e12 };

const root = await mkdtemp(join(tmpdir(), 'mixlab-mailbox-bench-'));
let files = 0;

/** µs per message (store + ack): the event loop blocked in commits, CPU, wall. */
type Result = { blockedUs: number; cpuUs: number; wallUs: number };

/** Time spent in synchronous commits, in ms, by the shape measured now. */
let blockedMs = 0;
function blocking(commit: () => void): void {
  const started = performance.now();
  commit();
  blockedMs += performance.now() - started;
}

async function measure(run: () => Promise<void>): Promise<Result> {
  blockedMs = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run();
  const wallUs = ((performance.now() - started) * 1000) / MESSAGES;
  const { user, system } = process.cpuUsage(cpu);
  return { blockedUs: (blockedMs * 1000) / MESSAGES, cpuUs: (user + system) / MESSAGES, wallUs };
}

/** The gateway before group commit: every store request and every ack its own FULL commit. */
function perCallFull(): Promise<Result> {
  const { db } = openDatabase(join(root, `${++files}.sqlite`), MAILBOX_SCHEMA, { durability: 'full', ifReplaced: '-' });
  const insert = db.prepare('INSERT INTO messages (id, recipient, payload, received_at) VALUES (?, ?, ?, ?)');
  const remove = db.prepare('DELETE FROM messages WHERE recipient = ? AND id = ? RETURNING length(payload) AS bytes');
  return measure(async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const address = ADDRESSES[i % ADDRESSES.length] as string;
      const id = randomBytes(16).toString('hex');
      blocking(() => inTransaction(db, () => insert.run(id, address, new Uint8Array(PAYLOAD), Date.now())));
      blocking(() => inTransaction(db, () => remove.get(address, id)));
    }
    db.close();
  });
}

/** `perTurn` delivery requests (one message each) arrive in one turn; their acks arrive in the next. */
function grouped(perTurn: number): Promise<Result> {
  const { mailboxes } = Mailboxes.open(join(root, `${++files}.sqlite`), {
    ...LIMITS,
    schedule: (commit) => setImmediate(blocking, commit),
  });
  return measure(async () => {
    for (let sent = 0; sent < MESSAGES; sent += perTurn) {
      const turn = Array.from({ length: perTurn }, (_, i) => ADDRESSES[(sent + i) % ADDRESSES.length] as string);
      const results = await Promise.all(turn.map((address) => mailboxes.store(address, PAYLOAD)));
      await Promise.all(
        results.map((result, i) => {
          if (!('stored' in result)) throw new Error(`a bench message was refused: ${result.refused}`);
          return mailboxes.acknowledge(turn[i] as string, [result.stored.id]);
        }),
      );
    }
    mailboxes.close();
  });
}

const SHAPES: [string, () => Promise<Result>][] = [
  ['per-call FULL commits (before)', perCallFull],
  ['group commit, 1 request per turn', () => grouped(1)],
  ['group commit, 8 requests per turn', () => grouped(8)],
];
const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1] as number;

try {
  const rounds: Result[][] = SHAPES.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, run]] of SHAPES.entries()) rounds[i]?.push(await run());
  }
  const results = rounds.map((of) => ({
    blockedUs: median(of.map((r) => r.blockedUs)),
    cpuUs: median(of.map((r) => r.cpuUs)),
    wallUs: median(of.map((r) => r.wallUs)),
  }));
  const before = results[0] as Result;
  console.log(
    `mailbox store + ack, ${MESSAGES} messages of ${PAYLOAD.length} bytes, median of ${ROUNDS} rounds, in ${root}`,
  );
  const column = (us: number, before: number) => `${us.toFixed(0).padStart(5)} µs (${(before / us).toFixed(2)}x)`;
  for (const [i, [name]] of SHAPES.entries()) {
    const { blockedUs, cpuUs, wallUs } = results[i] as Result;
    console.log(
      `  ${name.padEnd(34)} blocked ${column(blockedUs, before.blockedUs)}  cpu ${column(cpuUs, before.cpuUs)}` +
        `  wall ${column(wallUs, before.wallUs)}`,
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
