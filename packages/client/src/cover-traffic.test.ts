import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { ManualClock } from '@mixlab/runtime';
import { type CoverClient, CoverTraffic } from './cover-traffic.ts';
import type { SendOptions, SendReceipt } from './mixnet-client.ts';

class FakeClient implements CoverClient {
  readonly drops: number[] = [];
  readonly loops: { to: Uint8Array; options: SendOptions; bytes: number }[] = [];
  fail = false;

  async send(to: Uint8Array, body: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
    if (this.fail) throw new Error('gateway refused the packet');
    this.loops.push({ to, options, bytes: body.length });
    return { messageId: options.messageId ?? 'none', route: [] };
  }

  async sendDrop(bodyBytes: number): Promise<void> {
    if (this.fail) throw new Error('gateway refused the packet');
    this.drops.push(bodyBytes);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CoverTraffic', () => {
  let keys: KeyPair;
  before(async () => {
    await cryptoReady();
    keys = generateKeyPair();
  });

  function setUp(options: { dropRate: number; loopRate: number; u?: number }) {
    const clock = new ManualClock();
    const client = new FakeClient();
    const errors: Error[] = [];
    const cover = new CoverTraffic(client, keys, {
      dropRate: options.dropRate,
      loopRate: options.loopRate,
      loopTimeoutMs: 2_000,
      bodyBytes: 100,
      clock,
      random: { int: () => 0, float: () => options.u ?? 0.5 },
      onError: (error) => errors.push(error),
    });
    return { clock, client, cover, errors };
  }

  it('sends drops and loops at their own Poisson rates (exponential gaps from the random source)', async () => {
    // u = 1 - e^-1: every gap is exactly one mean, 1000 / rate ms.
    const { clock, client, cover } = setUp({ dropRate: 4, loopRate: 1, u: 1 - Math.exp(-1) });
    cover.start();
    clock.advance(999);
    await tick();
    assert.equal(client.drops.length, 3);
    assert.equal(client.loops.length, 0);
    clock.advance(1);
    await tick();
    assert.equal(client.drops.length, 4);
    assert.equal(client.loops.length, 1);
    assert.deepEqual(client.drops, [100, 100, 100, 100]);
    assert.equal(client.loops[0]?.to, keys.publicKey, 'a loop is addressed to the sender itself');
    assert.equal(client.loops[0]?.options.kind, 'loop');
    assert.equal(client.loops[0]?.bytes, 100);
    cover.stop();
    clock.advance(60_000);
    await tick();
    assert.equal(client.drops.length, 4);
    assert.equal(clock.pendingTimers, 0);
  });

  it('counts a loop returned with its round trip, and a loop not back in time as lost', async () => {
    const { clock, client, cover } = setUp({ dropRate: 0, loopRate: 2, u: 1 - Math.exp(-1) });
    cover.start();
    clock.advance(500);
    await tick();
    const first = client.loops[0]?.options.messageId as string;
    clock.advance(300);
    cover.handleLoop({ id: first, body: new Uint8Array(), kind: 'loop' });
    cover.handleLoop({ id: first, body: new Uint8Array(), kind: 'loop' });
    assert.equal(cover.counts.loopsReturned, 1, 'a copy counts once');
    assert.deepEqual(cover.counts.loopRoundTripsMs, [300]);
    cover.stop();
    const late = setUp({ dropRate: 0, loopRate: 2 });
    late.cover.start();
    late.clock.advance(347);
    await tick();
    late.clock.advance(2_000);
    assert.equal(late.cover.counts.loopsLost, 1);
    late.cover.handleLoop({
      id: late.client.loops[0]?.options.messageId as string,
      body: new Uint8Array(),
      kind: 'loop',
    });
    assert.equal(late.cover.counts.loopsReturned, 0, 'a lost loop stays lost');
    late.cover.stop();
  });

  it('reports send failures and does not count them as sent', async () => {
    const { clock, client, cover, errors } = setUp({ dropRate: 0, loopRate: 2 });
    client.fail = true;
    cover.start();
    clock.advance(347);
    await tick();
    assert.equal(errors.length, 1);
    assert.equal(cover.counts.loopsSent, 0);
    clock.advance(5_000);
    assert.equal(cover.counts.loopsLost, 0, 'a loop that never left is not lost');
    cover.stop();
  });

  it('refuses negative or infinite rates', () => {
    const client = new FakeClient();
    assert.throws(() => new CoverTraffic(client, keys, { dropRate: -1, loopRate: 0, loopTimeoutMs: 1 }), /dropRate/);
    assert.throws(
      () => new CoverTraffic(client, keys, { dropRate: 0, loopRate: Infinity, loopTimeoutMs: 1 }),
      /loopRate/,
    );
  });
});
