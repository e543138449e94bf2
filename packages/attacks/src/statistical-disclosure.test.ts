import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@mixlab/runtime';
import {
  disclosureProgress,
  disclosureRoundsFromBatches,
  disclosureRoundsFromTrace,
  disclosureRoundsNeeded,
  StatisticalDisclosure,
  scoreDisclosure,
  simulateDisclosure,
} from './statistical-disclosure.ts';
import { clientNames, type Send, threeLayers } from './test-support.ts';

const model = { recipients: 100, batchSize: 10, friends: 5 };
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

describe('disclosureRoundsNeeded (Danezis 2003)', () => {
  it('gives about 64 rounds at l = 2 and 143 at l = 3 for N = 100, b = 10, m = 5', () => {
    assert.ok(Math.abs(disclosureRoundsNeeded(model, 2) - 63.616) < 1e-3);
    assert.ok(Math.abs(disclosureRoundsNeeded(model, 3) - 143.136) < 1e-3);
  });

  it('rejects a model that makes no sense', () => {
    assert.throws(() => disclosureRoundsNeeded({ ...model, friends: 101 }, 2), /m must be/);
    assert.throws(() => disclosureRoundsNeeded(model, 0), /confidence/);
  });
});

describe('StatisticalDisclosure', () => {
  it('subtracts the background learned from the rounds without the target', () => {
    const attack = new StatisticalDisclosure('alice', ['a', 'b', 'c', 'd']);
    attack.observe({ senders: ['alice', 'x'], recipients: ['a', 'c'] });
    attack.observe({ senders: ['alice', 'y'], recipients: ['a', 'd'] });
    attack.observe({ senders: ['x', 'y'], recipients: ['c', 'd'] });
    assert.equal(attack.targetRounds, 2);
    // Background c = d = 1/2; 2 other deliveries in the target rounds: v = (O − 2u)/2.
    assert.deepEqual([...attack.profile()], [1, 0, 0, 0]);
    assert.deepEqual(attack.top(1), ['a']);
    assert.deepEqual(scoreDisclosure(attack, ['a']), { inTop: 1, ranks: [1], disclosed: true });
    // b, c and d tie at 0: b is listed first, but a tie does not disclose.
    assert.deepEqual(scoreDisclosure(attack, ['a', 'b']), { inTop: 2, ranks: [1, 2], disclosed: false });
    assert.throws(() => scoreDisclosure(attack, ['z']), /not a recipient/);
  });

  it('takes the background as uniform before it has seen a round without the target', () => {
    const attack = new StatisticalDisclosure('alice', ['a', 'b']);
    attack.observe({ senders: ['alice', 'x'], recipients: ['a', 'a'] });
    assert.deepEqual([...attack.profile()], [1.5, -0.5]);
  });

  it('rejects a recipient it was not told of', () => {
    const attack = new StatisticalDisclosure('alice', ['a']);
    assert.throws(
      () => attack.observe({ senders: ['alice'], recipients: ['z'] }),
      /not in the attack's recipient list/,
    );
  });
});

describe('simulateDisclosure (seeded)', () => {
  it('converges to the planted friends', () => {
    for (let seed = 0; seed < 10; seed++) {
      const run = simulateDisclosure(seededRandom(seed), { ...model, maxRounds: 1000 });
      assert.deepEqual([...run.guess].sort(), [...run.friends].sort(), `seed ${seed}`);
      assert.ok(run.roundsToDisclose !== undefined && run.roundsToDisclose < 1000);
    }
  });

  it('needs a number of rounds the closed form brackets (l = 1 … 3)', () => {
    const rounds = Array.from(
      { length: 100 },
      (_, seed) => simulateDisclosure(seededRandom(seed), { ...model, maxRounds: 1000 }).roundsToDisclose as number,
    );
    assert.ok(median(rounds) > disclosureRoundsNeeded(model, 1), `${median(rounds)}`);
    assert.ok(median(rounds) < disclosureRoundsNeeded(model, 2), `${median(rounds)}`);
    assert.ok(Math.max(...rounds) < disclosureRoundsNeeded(model, 3) * 2, `${Math.max(...rounds)}`);
  });

  it('costs about 1/(1 − q) more rounds with drop cover of share q, as many real messages', () => {
    const medians = [0, 0.25, 0.5, 0.75].map((coverShare) =>
      median(
        Array.from(
          { length: 100 },
          (_, seed) =>
            simulateDisclosure(seededRandom(seed), { ...model, coverShare, maxRounds: 1000 })
              .roundsToDisclose as number,
        ),
      ),
    );
    for (let i = 1; i < medians.length; i++)
      assert.ok((medians[i] as number) > (medians[i - 1] as number), `${medians}`);
    const [none] = medians as [number];
    [0, 0.25, 0.5, 0.75].forEach((q, i) => {
      const realMessages = (medians[i] as number) * (1 - q);
      assert.ok(Math.abs(realMessages - none) < 0.3 * none, `q=${q}: ${medians}`);
    });
  });
});

describe('the attack on a wire trace', () => {
  it('finds the target’s friends from the rounds of a timed cascade', () => {
    const clients = clientNames(30);
    const random = seededRandom(8);
    const friends = ['client-11', 'client-17', 'client-23'];
    const sends: Send[] = [];
    for (let round = 0; round < 400; round++) {
      // Ten senders per second, the target (client-0) among them every other second.
      const senders = new Set<number>(round % 2 === 0 ? [0] : []);
      while (senders.size < 10) senders.add(1 + random.int(29));
      let offset = 1;
      for (const sender of senders) {
        const recipient = sender === 0 ? (friends[random.int(3)] as string) : (clients[random.int(30)] as string);
        sends.push({ atMs: round * 1000 + offset++, sender: clients[sender] as string, recipient, length: 100 });
      }
    }
    const trace = threeLayers('timed:t=1s', clients, sends, random.fork('mix'), { endMs: 401_000 });
    const rounds = disclosureRoundsFromTrace(trace.events, trace.roles, { roundMs: 1000, lagMs: 1 });
    assert.equal(rounds.length, 400);
    assert.ok(rounds.every((r) => r.senders.length === 10 && r.recipients.length === 10));
    const attack = new StatisticalDisclosure('client-0', clients);
    for (const round of rounds) attack.observe(round);
    assert.equal(attack.targetRounds, 200);
    assert.deepEqual(attack.top(3).sort(), friends);
    assert.equal(scoreDisclosure(attack, friends).disclosed, true);
  });

  it("cuts a threshold cascade into the first layer's batches and discloses within the closed form", () => {
    // Danezis' model live-like: 8 clients, the target (client-0) to 2 friends, the rest to any of the 8.
    const clients = clientNames(8);
    const friends = ['client-3', 'client-6'];
    const random = seededRandom(9);
    const sends: Send[] = Array.from({ length: 800 }, (_, i) => {
      const sender = random.int(8);
      const recipient = sender === 0 ? (friends[random.int(2)] as string) : (clients[random.int(8)] as string);
      return { atMs: 1 + i * 100, sender: clients[sender] as string, recipient, length: 100 };
    });
    const trace = threeLayers('threshold:n=4', clients, sends, random.fork('mix'), { endMs: 90_000 });
    const rounds = disclosureRoundsFromBatches(trace.events, trace.roles);
    assert.equal(rounds.length, 200);
    assert.ok(rounds.every((r) => r.senders.length === 4 && r.recipients.length === 4));
    const progress = disclosureProgress(new StatisticalDisclosure('client-0', clients), rounds, friends);
    const model = { recipients: 8, batchSize: 4, friends: 2 };
    assert.ok(progress.targetRoundsToDisclose !== undefined);
    assert.ok(
      progress.targetRoundsToDisclose <= disclosureRoundsNeeded(model, 3),
      `${progress.targetRoundsToDisclose}`,
    );
    assert.equal(progress.final.disclosed, true);
    assert.equal(progress.targetRounds, rounds.filter((r) => r.senders.includes('client-0')).length);
  });
});
