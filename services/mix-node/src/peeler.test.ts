import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { InlinePeeler, type PeelerOptions, WorkerPeeler } from './peeler.ts';

describe('peelers', () => {
  let options: PeelerOptions;
  let packets: Uint8Array[];
  let workers: WorkerPeeler;

  before(async () => {
    await cryptoReady();
    const self: KeyPair = generateKeyPair();
    const next = generateKeyPair();
    options = { format: 'sphinx', keys: self, maxPacketBytes: 4096 };
    const route = [
      { id: 'mix-1', publicKey: self.publicKey },
      { id: 'mix-2', publicKey: next.publicKey },
    ];
    const good = Array.from({ length: 8 }, (_, i) =>
      sphinx.wrap(route, { gateway: 'gateway-1', recipient: next.publicKey }, new Uint8Array([i])),
    );
    const tampered = Uint8Array.from(good[0] as Uint8Array);
    tampered[40] = (tampered[40] as number) ^ 1;
    packets = [...good, tampered, new Uint8Array(5000), new Uint8Array(10)];
    workers = new WorkerPeeler(options, 2);
  });

  after(async () => {
    await workers.close();
  });

  it('worker threads peel exactly what the inline peeler does, results in request order', async () => {
    const inline = await new InlinePeeler(options).peel(packets);
    const threaded = await workers.peel(packets);
    assert.deepEqual(threaded, inline);
    assert.deepEqual(
      inline.map((result) => (result.ok ? result.peeled.kind : result.reason)),
      [...Array(8).fill('forward'), 'undecryptable', 'malformed', 'malformed'],
    );
    assert.match((inline[9] as { message: string }).message, /exceeds 4096/);
  });

  it('spreads concurrent requests over the workers and answers each one', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => workers.peel(packets.slice(0, 4))));
    for (const batch of results)
      assert.deepEqual(
        batch.map((r) => r.ok),
        [true, true, true, true],
      );
    assert.equal(workers.size, 2);
  });

  it('refuses a pool of no workers', () => {
    assert.throws(() => new WorkerPeeler(options, 0), /at least 1/);
  });
});
