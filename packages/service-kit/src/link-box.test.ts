import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import { type GatewayDescriptor, TopologyCache, type TopologyDocument } from '@mixlab/topology';
import {
  LINK_FRESHNESS_MS,
  LinkIdentity,
  LinkNonces,
  type LinkVerdict,
  linkBoxBytes,
  linkBoxSender,
  openLinkBox,
  sealLinkBox,
} from './link-box.ts';
import {
  checkSender,
  gatewayDeliverySenders,
  LinkReceiver,
  nodeDeliverySenders,
  packetSenders,
  previousLayer,
  topologySenders,
} from './link-receiver.ts';

const NOW = 1_800_000_000_000;
const body = (text: string) => new TextEncoder().encode(text);

describe('link boxes', () => {
  let keys: Record<'mix1' | 'mix2' | 'mix3' | 'gateway' | 'stranger', SigningKeyPair>;
  let document: TopologyDocument;
  before(async () => {
    await cryptoReady();
    keys = {
      mix1: generateSigningKeyPair(),
      mix2: generateSigningKeyPair(),
      mix3: generateSigningKeyPair(),
      gateway: generateSigningKeyPair(),
      stranger: generateSigningKeyPair(),
    };
    const node = (id: 'mix1' | 'mix2' | 'mix3', layer: number) => ({
      id,
      layer,
      url: `http://${id}:8080`,
      identityKey: toHex(keys[id].publicKey),
      publicKey: 'ab'.repeat(32),
    });
    document = {
      version: 1,
      epoch: 1,
      validFrom: 0,
      validUntil: Number.MAX_SAFE_INTEGER,
      layers: [[node('mix1', 1)], [node('mix2', 2)], [node('mix3', 3)]],
      gateways: [{ id: 'gateway', url: 'http://gateway:8081', identityKey: toHex(keys.gateway.publicKey) }],
    };
  });

  const identity = (id: keyof typeof keys, as: string = id) => new LinkIdentity(as, keys[id]);
  const seal = (from: LinkIdentity, to: keyof typeof keys, text = 'frames', now = NOW, receiverId: string = to) =>
    sealLinkBox({ sender: from, receiverId, receiverIdentityKey: toHex(keys[to].publicKey), now, body: body(text) });
  const open = (
    receiver: LinkIdentity,
    box: Uint8Array,
    from: keyof typeof keys,
    nonces = new LinkNonces(),
    now = NOW,
  ) => openLinkBox({ receiver, box, senderIdentityKey: toHex(keys[from].publicKey), now, nonces });
  const reason = (verdict: LinkVerdict) => (verdict.ok ? 'ok' : verdict.reason);

  it('opens for its receiver only, with the sender named and the body as sealed', () => {
    const box = seal(identity('gateway'), 'mix1', 'two packets');
    assert.equal(linkBoxSender(box), 'gateway');
    const verdict = open(identity('mix1'), box, 'gateway');
    assert.ok(verdict.ok);
    assert.equal(verdict.senderId, 'gateway');
    assert.equal(new TextDecoder().decode(verdict.body), 'two packets');
    // The body is not in the clear, and two boxes of one body differ (fresh nonce).
    assert.equal(Buffer.from(box).includes(Buffer.from('two packets')), false);
    assert.notDeepEqual(seal(identity('gateway'), 'mix1', 'two packets'), box);
    assert.equal(box.length, linkBoxBytes('gateway', 'mix1', 'two packets'.length));
  });

  it('costs one public-key computation per peer: the shared key is cached', () => {
    const gateway = identity('gateway');
    const first = gateway.sharedKey(toHex(keys.mix1.publicKey));
    assert.equal(gateway.sharedKey(toHex(keys.mix1.publicKey)), first, 'the same array, not recomputed');
    assert.deepEqual(identity('mix1').sharedKey(toHex(keys.gateway.publicKey)), first, 'both ends share it');
  });

  it('refuses what is no link box as malformed', () => {
    for (const bytes of [new Uint8Array(0), body('plain frames'), new Uint8Array(100)]) {
      assert.equal(
        reason(
          openLinkBox({
            receiver: identity('mix1'),
            box: bytes,
            senderIdentityKey: toHex(keys.gateway.publicKey),
            now: NOW,
            nonces: new LinkNonces(),
          }),
        ),
        'malformed',
      );
    }
  });

  it("refuses a box that does not open with the named sender's key as forged, and an altered one", () => {
    // A stranger claims to be the gateway: the box names it, but was made with another key.
    const claimed = seal(identity('stranger', 'gateway'), 'mix1');
    assert.equal(linkBoxSender(claimed), 'gateway');
    assert.equal(reason(open(identity('mix1'), claimed, 'gateway')), 'forged');
    const altered = seal(identity('gateway'), 'mix1');
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    assert.equal(reason(open(identity('mix1'), altered, 'gateway')), 'forged');
  });

  it('refuses a box sealed for another receiver, even when it opens (a shared key, reflected)', () => {
    // mix1 -> mix2, reflected back to mix1 as if from mix2: the pair's key opens it, the ids inside do not fit.
    const reflected = seal(identity('mix1'), 'mix2');
    reflected.set(body('mix2'), 2);
    assert.equal(linkBoxSender(reflected), 'mix2');
    assert.equal(reason(open(identity('mix1'), reflected, 'mix2')), 'forged');
    const misdirected = seal(identity('gateway'), 'mix1', 'frames', NOW, 'mix-other');
    assert.equal(reason(open(identity('mix1'), misdirected, 'gateway')), 'wrong_receiver');
  });

  it('refuses a box dated outside the freshness window, either way, and takes one at its edge', () => {
    for (const skew of [-LINK_FRESHNESS_MS - 1, LINK_FRESHNESS_MS + 1]) {
      assert.equal(
        reason(open(identity('mix1'), seal(identity('gateway'), 'mix1', 'x', NOW + skew), 'gateway')),
        'stale',
      );
    }
    for (const skew of [-LINK_FRESHNESS_MS, LINK_FRESHNESS_MS]) {
      assert.equal(reason(open(identity('mix1'), seal(identity('gateway'), 'mix1', 'x', NOW + skew), 'gateway')), 'ok');
    }
  });

  it('refuses a replay within the window; the nonce cache forgets what is too old to matter', () => {
    const nonces = new LinkNonces();
    const mix1 = identity('mix1');
    const box = seal(identity('gateway'), 'mix1');
    assert.equal(reason(open(mix1, box, 'gateway', nonces)), 'ok');
    assert.equal(reason(open(mix1, box, 'gateway', nonces, NOW + 1_000)), 'replayed');
    assert.equal(reason(open(mix1, box, 'gateway', nonces, NOW + LINK_FRESHNESS_MS + 1)), 'stale');
    open(
      mix1,
      seal(identity('gateway'), 'mix1', 'y', NOW + 2 * LINK_FRESHNESS_MS),
      'gateway',
      nonces,
      NOW + 2 * LINK_FRESHNESS_MS,
    );
    assert.equal(nonces.size, 1, 'the first nonce was dropped once its box could only be stale');
  });

  it('keeps the nonce cache bounded: past it, a box not newer than the forgotten ones is stale, never replayed through', () => {
    const nonces = new LinkNonces(LINK_FRESHNESS_MS, 3);
    const mix1 = identity('mix1');
    const boxes = [0, 1, 2, 3].map((i) => seal(identity('gateway'), 'mix1', `b${i}`, NOW + i));
    for (const box of boxes) assert.equal(reason(open(mix1, box, 'gateway', nonces, NOW + 10)), 'ok');
    assert.equal(nonces.size, 3);
    assert.equal(
      reason(open(mix1, boxes[0] as Uint8Array, 'gateway', nonces, NOW + 10)),
      'stale',
      'forgotten, still refused',
    );
    assert.equal(reason(open(mix1, boxes[3] as Uint8Array, 'gateway', nonces, NOW + 10)), 'replayed');
    assert.equal(
      reason(open(mix1, seal(identity('gateway'), 'mix1', 'late', NOW), 'gateway', nonces, NOW + 10)),
      'stale',
    );
    assert.equal(
      reason(open(mix1, seal(identity('gateway'), 'mix1', 'new', NOW + 5), 'gateway', nonces, NOW + 10)),
      'ok',
    );
  });

  describe('who may send what (three layers)', () => {
    it('packets: layer k from layer k-1, layer 1 from layer 3 (loops) and gateways; deliveries from the layer before', () => {
      assert.deepEqual(
        [1, 2, 3].map((k) => previousLayer(k, 3)),
        [3, 1, 2],
      );
      assert.deepEqual(packetSenders(1, 3), { layer: 3, gateways: true });
      assert.deepEqual(packetSenders(2, 3), { layer: 1, gateways: false });
      assert.deepEqual(nodeDeliverySenders(1, 3), { layer: 3, gateways: false });
      assert.deepEqual(gatewayDeliverySenders(3), { layer: 3, gateways: false });
    });

    it('checks a sender against the document: its key, or unknown_sender, or wrong_layer', () => {
      const check = (id: string, allowed: ReturnType<typeof packetSenders>) => {
        const verdict = checkSender(document, id, allowed);
        return verdict.ok ? verdict.identityKey : verdict.reason;
      };
      assert.equal(check('gateway', packetSenders(1, 3)), toHex(keys.gateway.publicKey));
      assert.equal(check('mix3', packetSenders(1, 3)), toHex(keys.mix3.publicKey));
      assert.equal(check('mix1', packetSenders(2, 3)), toHex(keys.mix1.publicKey));
      assert.equal(check('gateway', packetSenders(2, 3)), 'wrong_layer');
      assert.equal(check('mix2', packetSenders(1, 3)), 'wrong_layer');
      assert.equal(check('mix2', gatewayDeliverySenders(3)), 'wrong_layer');
      assert.equal(check('stranger', packetSenders(1, 3)), 'unknown_sender');
      // A document as a directory from before gateways signed would send it: data off the network.
      const keyless = {
        ...document,
        gateways: [{ id: 'gateway', url: 'http://gateway:8081' } as unknown as GatewayDescriptor],
      };
      assert.equal(
        checkSender(keyless, 'gateway', packetSenders(1, 3)).ok,
        false,
        'a gateway without a key is unknown',
      );
    });
  });

  describe('LinkReceiver', () => {
    /** A receiver over a real TopologyCache that counts the directory's fetches. */
    const receiverOf = (id: 'mix1' | 'gateway', rejected: string[], fetches = { count: 0 }) =>
      new LinkReceiver({
        identity: identity(id),
        findSender: topologySenders(
          new TopologyCache(
            async () => {
              fetches.count++;
              return { document, signature: 'ab'.repeat(64), directoryKey: 'cd'.repeat(32) };
            },
            { maxAgeMs: 60_000, refetchAfterMs: 0 },
          ),
        ),
        now: () => NOW,
        rejected: (reason) => rejected.push(reason),
      });

    it('opens a box from an allowed sender and counts every refusal by reason', async () => {
      const rejected: string[] = [];
      const fetches = { count: 0 };
      const mix1 = receiverOf('mix1', rejected, fetches);
      const route = (layers: number) => packetSenders(1, layers);
      assert.equal(reason(await mix1.open(seal(identity('gateway'), 'mix1'), route)), 'ok');
      assert.equal(reason(await mix1.open(seal(identity('mix3'), 'mix1'), route)), 'ok');
      assert.equal(reason(await mix1.open(seal(identity('mix2'), 'mix1'), route)), 'wrong_layer');
      assert.equal(fetches.count, 1, 'listed senders, a gateway among them, cost no refetch');
      assert.equal(reason(await mix1.open(seal(identity('stranger'), 'mix1'), route)), 'unknown_sender');
      assert.equal(fetches.count, 2, 'an unknown sender refetches once, in case it has just registered');
      assert.equal(reason(await mix1.open(body('plain'), route)), 'malformed');
      const box = seal(identity('gateway'), 'mix1');
      await mix1.open(box, route);
      assert.equal(reason(await mix1.open(box, route)), 'replayed');
      assert.deepEqual(rejected, ['wrong_layer', 'unknown_sender', 'malformed', 'replayed']);
    });

    it('lets only the exit layer deliver to the gateway', async () => {
      const rejected: string[] = [];
      const gateway = receiverOf('gateway', rejected);
      const route = gatewayDeliverySenders;
      assert.equal(reason(await gateway.open(seal(identity('mix3'), 'gateway'), route)), 'ok');
      assert.equal(reason(await gateway.open(seal(identity('mix1'), 'gateway'), route)), 'wrong_layer');
      assert.deepEqual(rejected, ['wrong_layer']);
    });
  });
});
