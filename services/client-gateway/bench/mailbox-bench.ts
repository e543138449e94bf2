/**
 * The gateway's mailbox cost per message: a delivery stored, then acknowledged (one id per
 * call, as clients ack over WebSocket), on a real SQLite file in the temp folder. In the same
 * run, in alternating rounds (the disk is shared): one FULL commit per call (how the gateway
 * committed before group commit), then Mailboxes with 1 and with 8 requests arriving in one
 * event-loop turn. Prints, per message, the median over rounds of the wall time (the event loop
 * is blocked for all of it: node:sqlite is synchronous) and of the CPU time, and each shape
 * against per-call FULL.
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

/** Wall and CPU µs per message (store + ack). */
type Result = { wallUs: number; cpuUs: number };

async function measure(run: () => Promise<void>): Promise<Result> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run();
  const wallUs = ((performance.now() - started) * 1000) / MESSAGES;
  const { user, system } = process.cpuUsage(cpu);
  return { wallUs, cpuUs: (user + system) / MESSAGES };
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
      inTransaction(db, () => insert.run(id, address, new Uint8Array(PAYLOAD), Date.now()));
      inTransaction(db, () => remove.get(address, id));
    }
    db.close();
  });
}

/** `perTurn` delivery requests (one message each) arrive in one turn; their acks arrive in the next. */
function grouped(perTurn: number): Promise<Result> {
  const { mailboxes } = Mailboxes.open(join(root, `${++files}.sqlite`), LIMITS);
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
    wallUs: median(of.map((r) => r.wallUs)),
    cpuUs: median(of.map((r) => r.cpuUs)),
  }));
  const before = results[0] as Result;
  console.log(
    `mailbox store + ack, ${MESSAGES} messages of ${PAYLOAD.length} bytes, median of ${ROUNDS} rounds, in ${root}`,
  );
  for (const [i, [name]] of SHAPES.entries()) {
    const { wallUs, cpuUs } = results[i] as Result;
    console.log(
      `  ${name.padEnd(36)} wall ${wallUs.toFixed(0).padStart(5)} µs/message (${(before.wallUs / wallUs).toFixed(2)}x)` +
        `  cpu ${cpuUs.toFixed(0).padStart(4)} µs/message (${(before.cpuUs / cpuUs).toFixed(2)}x)`,
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
