import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WireEvent } from '@mixlab/anonymity';
import { poissonSchedule, seededRandom } from '@mixlab/runtime';
import { evaluateCover, submissionShapes } from './cover-evaluation.ts';
import { evaluateDistinguisher } from './distinguisher.ts';
import { clientNames, GATEWAY } from './test-support.ts';
import type { Submission } from './trace.ts';

const clients = clientNames(10);
const roles = { clients, gateways: [GATEWAY], nodes: [] };

/** Submissions and their truth (cover or not), in time order. */
function trace(entries: { atMs: number; sender: string; packets: number; cover: boolean }[]) {
  entries.sort((a, b) => a.atMs - b.atMs);
  const events: WireEvent[] = entries.map((e) => ({
    atMs: e.atMs,
    from: e.sender,
    to: GATEWAY,
    packets: e.packets,
    bytes: e.packets * 2622,
  }));
  return { events, cover: entries.map((e) => e.cover) };
}

describe('evaluateCover', () => {
  it('tells cover apart when it goes out as lone requests while real messages come in bursts', () => {
    const random = seededRandom(1);
    const entries: { atMs: number; sender: string; packets: number; cover: boolean }[] = [];
    // Real: a conversation wakes three clients at once; cover: each client alone, on its own clock.
    for (const at of poissonSchedule(0.5, 2_000_000, random.fork('real'))) {
      for (let i = 0; i < 3; i++)
        entries.push({ atMs: at + i, sender: clients[random.int(10)] as string, packets: 1, cover: false });
    }
    for (const at of poissonSchedule(1, 2_000_000, random.fork('cover'))) {
      entries.push({ atMs: at, sender: clients[random.int(10)] as string, packets: 1, cover: true });
    }
    const { events, cover } = trace(entries);
    const score = evaluateCover(events, roles, (_s, i) => cover[i] as boolean, seededRandom(2));
    assert.ok(score.balancedAccuracy > 0.85, `${score.balancedAccuracy}`);
    assert.ok(score.accuracy > score.majorityBaseline + 0.2, `${score.accuracy} vs ${score.majorityBaseline}`);
  });

  it('is at chance when cover and real messages come from one process and look alike', () => {
    const random = seededRandom(3);
    const entries = poissonSchedule(10, 600_000, random.fork('times')).map((atMs) => ({
      atMs,
      sender: clients[random.int(10)] as string,
      packets: 1,
      cover: random.float() < 0.5,
    }));
    const { events, cover } = trace(entries);
    const score = evaluateCover(events, roles, (_s, i) => cover[i] as boolean, seededRandom(4));
    assert.ok(score.samples > 5000);
    // Chance, within four standard errors of a share over the samples.
    assert.ok(
      Math.abs(score.balancedAccuracy - 0.5) < 4 * Math.sqrt(0.25 / score.samples),
      `${score.balancedAccuracy}`,
    );
  });
});

describe('submissionShapes', () => {
  it('describes packets, bytes, loneliness and the octave of the gap since the client’s last send', () => {
    const s = (atMs: number, sender: string, packets = 1): Submission => ({
      atMs,
      sender,
      packets,
      bytes: packets * 10,
    });
    assert.deepEqual(submissionShapes([s(0, 'a'), s(10, 'b', 2), s(1000, 'a'), s(1100, 'a')]), [
      [1, 10, 'crowd', -1],
      [2, 20, 'crowd', -1],
      [1, 10, 'lone', 9],
      [1, 10, 'lone', 6],
    ]);
  });
});

describe('evaluateDistinguisher', () => {
  it('separates perfectly what one feature separates, and needs both kinds and equal widths', () => {
    const samples = Array.from({ length: 100 }, (_, i) => ({ features: [i % 2, 'x'], positive: i % 2 === 1 }));
    const score = evaluateDistinguisher(samples, seededRandom(1));
    assert.deepEqual(score, { samples: 100, positives: 50, accuracy: 1, majorityBaseline: 0.5, balancedAccuracy: 1 });
    assert.throws(
      () =>
        evaluateDistinguisher(
          [
            { features: [1], positive: true },
            { features: [2], positive: true },
          ],
          seededRandom(1),
        ),
      /both kinds/,
    );
    assert.throws(
      () =>
        evaluateDistinguisher(
          [
            { features: [1], positive: true },
            { features: [], positive: false },
          ],
          seededRandom(1),
        ),
      /same number of features/,
    );
  });
});
