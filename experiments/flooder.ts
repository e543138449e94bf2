/**
 * The flooding client of `npm run flood` (experiments/flood.ts), run inside a container on the
 * cascade's network, so that the gateway sees it at an address of its own, apart from honest
 * clients on the host (who all arrive through docker-proxy's one address):
 *
 *   node experiments/flooder.ts --gateway URL --directory-key HEX --rate 300 --duration 20s [--start-at MS]
 *
 * Wraps rate × duration drop-cover packets first, then submits one per request, open loop (on
 * schedule whatever the answers, at most --max-outstanding unanswered), and prints one line per
 * phase and finally a JSON summary: answers by status and error code, the Retry-After values.
 */
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady } from '@mixlab/crypto';
import { wrapDropCover } from '@mixlab/load';
import { parseDuration } from '@mixlab/runtime';
import { Agent, fetch } from 'undici';

export interface FloodSummary {
  readonly offered: number;
  readonly durationSeconds: number;
  /** Requests answered, by status ("202", "429", "503", ... or "error" when none came). */
  readonly statuses: Record<string, number>;
  /** Refusals by the error code in their body. */
  readonly codes: Record<string, number>;
  /** Retry-After values seen (seconds), and how often. */
  readonly retryAfter: Record<string, number>;
  /** Requests not sent because --max-outstanding were unanswered. */
  readonly skipped: number;
}

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'https://client-gateway:8080' },
    'directory-key': { type: 'string' },
    rate: { type: 'string', default: '300' },
    duration: { type: 'string', default: '20s' },
    'max-outstanding': { type: 'string', default: '2000' },
    /** Wall-clock time (ms since the epoch) to start at, once the packets are wrapped. */
    'start-at': { type: 'string', default: '0' },
  },
});
const rate = Number(values.rate);
const durationMs = parseDuration(values.duration);
const maxOutstanding = Number(values['max-outstanding']);
const url = `${values.gateway}/v1/packets`;

await cryptoReady();
const client = new MixnetClient(values.gateway, { directoryKey: values['directory-key'] });
const packets = await wrapDropCover(client, Math.ceil((rate * durationMs) / 1000));
console.log(`wrapped ${packets.length}`);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(values['start-at']) - Date.now())));

// A flooder checks nothing of the gateway's key, and opens as many connections as it likes.
const flood = new Agent({ connect: { rejectUnauthorized: false } });
const statuses: Record<string, number> = {};
const codes: Record<string, number> = {};
const retryAfter: Record<string, number> = {};
const tally = (table: Record<string, number>, key: string) => {
  table[key] = (table[key] ?? 0) + 1;
};
let outstanding = 0;
let skipped = 0;
const answers: Promise<void>[] = [];

async function submit(index: number): Promise<void> {
  outstanding++;
  try {
    const response = await fetch(url, {
      dispatcher: flood,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ packets: [packets[index % packets.length]] }),
    });
    tally(statuses, String(response.status));
    const body = (await response.json()) as { error?: string };
    if (body.error) tally(codes, body.error);
    const after = response.headers.get('retry-after');
    if (after !== null) tally(retryAfter, after);
  } catch {
    tally(statuses, 'error');
  } finally {
    outstanding--;
  }
}

const started = performance.now();
console.log(`flood started ${new Date().toISOString()}`);
let sent = 0;
while (performance.now() - started < durationMs) {
  // Catch up with the schedule: request i leaves at i / rate seconds.
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  for (; sent < due; sent++) {
    if (outstanding >= maxOutstanding) skipped++;
    else answers.push(submit(sent));
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
console.log(`flood ended ${new Date().toISOString()}`);
await Promise.all(answers);
const summary: FloodSummary = {
  offered: sent,
  durationSeconds: durationMs / 1000,
  statuses,
  codes,
  retryAfter,
  skipped,
};
console.log(JSON.stringify(summary));
