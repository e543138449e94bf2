import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { onion } from '../onion/onion.ts';
import { createGeometry, defaultGeometry } from './geometry.ts';
import { createSphinx, type SphinxFormat, sphinx } from './sphinx.ts';
import { flipped, type Node, nodes, peelAll, rejects, route, travel } from './test-support.ts';

before(cryptoReady);

const utf8 = new TextEncoder();
const replies = sphinx.replies;
const g = defaultGeometry;

const home = () => ({ gateway: 'gateway-1', recipient: generateKeyPair().publicKey });

/** A block over a fresh path, wrapped with `message` and carried to the exit. */
function deliverReply(hops: number, message: Uint8Array, format: SphinxFormat = sphinx) {
  const path = nodes(hops);
  const to = home();
  const { block, secret } = format.replies.createReplyBlock(route(path), to);
  const { firstHop, packet } = format.replies.wrapReply(block, message);
  assert.equal(firstHop, (path[0] as Node).id);
  const { links, last } = travel(format, path, packet);
  assert.ok(last.kind === 'deliver');
  return { path, to, block, secret, links, last, delivered: last.payload };
}

describe('sphinx reply blocks', () => {
  it('has the documented sizes for the default geometry', () => {
    assert.equal(replies.replyBlockBytes, 65 + 574 + 128);
    assert.equal(replies.replyBlockBytes, g.replyBlockBytes);
    assert.equal(replies.replyCapacity, 2048 - 20);
    assert.equal(onion.replies, undefined);
  });

  for (const hops of [1, 3, 5]) {
    it(`round-trips a reply over ${hops} hop(s), every link packetBytes long`, () => {
      const message = utf8.encode(`a reply over ${hops} hops`);
      const { to, block, secret, links, last, delivered } = deliverReply(hops, message);
      assert.equal(block.length, replies.replyBlockBytes);
      assert.equal(secret.id.length, 16);
      assert.equal(secret.keys.length, (hops + 1) * 128);
      assert.equal(links.length, hops);
      for (const link of links) assert.equal(link.length, g.packetBytes);
      assert.ok(last.kind === 'deliver');
      assert.equal(last.destination.gateway, to.gateway);
      assert.deepEqual(last.destination.recipient, to.recipient);
      assert.equal(last.replayTag?.length, 32);
      assert.equal(delivered.length, 16 + g.payloadBytes);
      assert.deepEqual(replies.replyId(delivered), secret.id);
      assert.deepEqual(replies.openReply(secret, delivered), message);
    });
  }

  it('reads a reply handed over in a Node Buffer at an offset into a shared pool', () => {
    const message = utf8.encode('ack');
    const { secret, delivered } = deliverReply(3, message);
    // What base64 decoding and HTTP bodies give: a Buffer whose slice() is a view, not a copy.
    const pooled = Buffer.alloc(delivered.length + 7);
    pooled.set(delivered, 7);
    const view = pooled.subarray(7);
    assert.deepEqual(replies.replyId(view), secret.id);
    assert.deepEqual(replies.openReply(secret, view), message);
    assert.deepEqual(view, Buffer.from(delivered), 'openReply leaves the delivered bytes as they were');
  });

  it('carries an empty reply and one of exactly replyCapacity bytes', () => {
    const empty = deliverReply(2, new Uint8Array(0));
    assert.deepEqual(replies.openReply(empty.secret, empty.delivered), new Uint8Array(0));
    const full = new Uint8Array(replies.replyCapacity).map((_, i) => i);
    const big = deliverReply(2, full);
    assert.deepEqual(replies.openReply(big.secret, big.delivered), full);
  });

  it('works in other geometries (8 hops, 4 KiB payload)', () => {
    const format = createSphinx(createGeometry({ maxHops: 8, payloadBytes: 4096 }));
    assert.equal(format.replies.replyBlockBytes, 65 + (32 + 8 * 102 + 32) + 128);
    const message = new Uint8Array(format.replies.replyCapacity).fill(9);
    const { secret, links, delivered } = deliverReply(8, message, format);
    for (const link of links) assert.equal(link.length, format.geometry.packetBytes);
    assert.deepEqual(format.replies.openReply(secret, delivered), message);
  });

  it('makes reply packets look like forward packets to every intermediate hop', () => {
    const path = nodes(3);
    const forward = sphinx.wrap(route(path), { gateway: 'gateway-1', recipient: home().recipient }, utf8.encode('f'));
    const { block } = replies.createReplyBlock(route(path), home());
    const reply = replies.wrapReply(block, utf8.encode('r')).packet;
    const forwardLinks = travel(sphinx, path, forward).links;
    const replyLinks = travel(sphinx, path, reply).links;
    forwardLinks.forEach((link, i) => {
      assert.equal(link.length, (replyLinks[i] as Uint8Array).length);
    });
  });

  it('tells replies from forward deliveries by length', () => {
    const path = nodes(2);
    const capacity = g.messageCapacity(utf8.encode('gateway-1').length);
    for (const size of [0, 16, capacity]) {
      const packet = sphinx.wrap(route(path), home(), new Uint8Array(size).fill(1));
      const { last } = travel(sphinx, path, packet);
      assert.ok(last.kind === 'deliver');
      assert.equal(replies.replyId(last.payload), undefined);
    }
  });

  it('gives the same replay tag for a second use of a block, so a node drops it', () => {
    const path = nodes(2);
    const { block } = replies.createReplyBlock(route(path), home());
    const a = sphinx.peel(replies.wrapReply(block, utf8.encode('one')).packet, (path[0] as Node).keys);
    const b = sphinx.peel(replies.wrapReply(block, utf8.encode('two')).packet, (path[0] as Node).keys);
    assert.deepEqual(a.replayTag, b.replayTag);
  });

  it('detects a flipped payload bit in openReply, wherever it was flipped', () => {
    const path = nodes(3);
    const { block, secret } = replies.createReplyBlock(route(path), home());
    const { packet } = replies.wrapReply(block, utf8.encode('tag me'));
    // before the first hop, between hops, and in the delivered payload
    for (const byte of [g.payloadOffset, g.payloadOffset + 100, g.packetBytes - 1]) {
      const { last } = travel(sphinx, path, flipped(packet, byte, byte % 8));
      assert.ok(last.kind === 'deliver', 'the exit cannot tell');
      rejects(() => replies.openReply(secret, last.payload), 'malformed', /tagged/);
    }
    const first = sphinx.peel(packet, (path[0] as Node).keys);
    assert.ok(first.kind === 'forward');
    const { last } = travel(sphinx, path.slice(1), flipped(first.packet, g.packetBytes - 7, 2));
    assert.ok(last.kind === 'deliver');
    rejects(() => replies.openReply(secret, last.payload), 'malformed', /tagged/);
    const { last: clean } = travel(sphinx, path, packet);
    assert.ok(clean.kind === 'deliver');
    rejects(() => replies.openReply(secret, flipped(clean.payload, 16 + 40)), 'malformed', /tagged/);
    rejects(() => replies.openReply(secret, flipped(clean.payload, 3)), 'malformed', /reply id/);
  });

  it('rejects a flipped header bit at the node it reaches (header MAC)', () => {
    const path = nodes(3);
    const { block } = replies.createReplyBlock(route(path), home());
    const { packet } = replies.wrapReply(block, utf8.encode('x'));
    for (const byte of [0, 31, 40, g.macOffset - 1, g.macOffset, g.payloadOffset - 1]) {
      rejects(() => sphinx.peel(flipped(packet, byte, 7), (path[0] as Node).keys), 'undecryptable');
    }
    // a flip in the block's header, before wrapReply
    const bad = replies.wrapReply(flipped(block, 65 + 100), utf8.encode('x')).packet;
    rejects(() => sphinx.peel(bad, (path[0] as Node).keys), 'undecryptable', /MAC/);
    // a flip deeper in the header is caught by the hop it reaches
    const first = sphinx.peel(packet, (path[0] as Node).keys);
    assert.ok(first.kind === 'forward');
    rejects(() => sphinx.peel(flipped(first.packet, 200), (path[1] as Node).keys), 'undecryptable');
  });

  it('fails with the wrong secret', () => {
    const path = nodes(3);
    const to = home();
    const mine = replies.createReplyBlock(route(path), to);
    const other = replies.createReplyBlock(route(path), to);
    const { last } = travel(sphinx, path, replies.wrapReply(mine.block, utf8.encode('hi')).packet);
    assert.ok(last.kind === 'deliver');
    const delivered = last.payload;
    rejects(() => replies.openReply(other.secret, delivered), 'malformed', /another reply block/);
    // same id, another block's keys: the authenticator fails
    rejects(() => replies.openReply({ id: mine.secret.id, keys: other.secret.keys }, delivered), 'malformed', /tagged/);
    assert.throws(() => replies.openReply({ id: mine.secret.id, keys: new Uint8Array(100) }, delivered), RangeError);
    assert.throws(() => replies.openReply({ id: new Uint8Array(8), keys: mine.secret.keys }, delivered), RangeError);
    rejects(() => replies.openReply(mine.secret, delivered.subarray(0, 100)), 'malformed', /a reply is/);
    assert.deepEqual(replies.openReply(mine.secret, delivered), utf8.encode('hi'));
  });

  it('rejects a block of the wrong size or with a bad first hop in wrapReply', () => {
    const { block } = replies.createReplyBlock(route(nodes(2)), home());
    const x = utf8.encode('x');
    rejects(() => replies.wrapReply(block.subarray(0, block.length - 1), x), 'malformed', /766 bytes.*767 bytes/);
    rejects(() => replies.wrapReply(new Uint8Array(0), x), 'malformed', /reply block/);
    const longer = new Uint8Array(block.length + 1);
    longer.set(block);
    rejects(() => replies.wrapReply(longer, x), 'malformed', /768 bytes/);
    const noHop = block.slice();
    noHop[0] = 0;
    rejects(() => replies.wrapReply(noHop, x), 'malformed', /first-hop/);
    const badHop = block.slice();
    badHop[1] = '-'.charCodeAt(0);
    rejects(() => replies.wrapReply(badHop, x), 'malformed', /first-hop/);
  });

  it('rejects a message over replyCapacity', () => {
    const { block } = replies.createReplyBlock(route(nodes(1)), home());
    assert.throws(() => replies.wrapReply(block, new Uint8Array(replies.replyCapacity + 1)), {
      name: 'RangeError',
      message: /exceeds the 2028 bytes/,
    });
  });

  it('refuses at createReplyBlock: gateway ids over 30 bytes, bad recipients and routes', () => {
    const path = route(nodes(2));
    const to = home();
    assert.throws(() => replies.createReplyBlock(path, { ...to, gateway: 'g'.repeat(31) }), {
      name: 'RangeError',
      message: /1\.\.30/,
    });
    assert.throws(() => replies.createReplyBlock(path, { ...to, gateway: 'é'.repeat(16) }), RangeError);
    assert.throws(() => replies.createReplyBlock(path, { ...to, gateway: '' }), RangeError);
    assert.throws(() => replies.createReplyBlock(path, { ...to, recipient: new Uint8Array(31) }), /recipient/);
    assert.throws(() => replies.createReplyBlock([], to), RangeError);
    assert.throws(() => replies.createReplyBlock(route(nodes(6)), to), /exceeds/);
    assert.throws(() => replies.createReplyBlock([{ id: 'bad id', publicKey: to.recipient }], to), /node id/);
    const [node] = nodes(1) as [Node];
    const { block } = replies.createReplyBlock(route([node]), { ...to, gateway: 'g'.repeat(30) });
    const exit = sphinx.peel(replies.wrapReply(block, utf8.encode('ok')).packet, node.keys);
    assert.ok(exit.kind === 'deliver');
    assert.equal(exit.destination.gateway, 'g'.repeat(30));
  });

  it("gives every hop of a reply exactly the delay the block's creator chose, the exit included", () => {
    const path = nodes(3);
    const delays = [300, 0, 2 ** 32 - 1];
    const hops = route(path).map((hop, i) => ({ ...hop, delayMs: delays[i] }));
    const { block, secret } = replies.createReplyBlock(hops, home());
    // every use of the block carries the same delays (they are in its header)
    for (const message of ['one', 'two']) {
      const peeled = peelAll(sphinx, path, replies.wrapReply(block, utf8.encode(message)).packet);
      assert.deepEqual(
        peeled.map((p) => p.delayMs),
        delays,
      );
      const exit = peeled.at(-1);
      assert.ok(exit?.kind === 'deliver');
      assert.deepEqual(replies.openReply(secret, exit.payload), utf8.encode(message));
    }
  });

  it('peels a reply with absent delays as 0 at every hop', () => {
    const { path, links, last } = deliverReply(3, utf8.encode('x'));
    const forwards = links.slice(0, 2).map((link, i) => sphinx.peel(link, (path[i] as Node).keys).delayMs);
    assert.deepEqual([...forwards, last.delayMs], [0, 0, 0]);
  });

  it('refuses at createReplyBlock a delay that is negative, over 2^32 - 1 or not an integer', () => {
    const path = route(nodes(2));
    for (const bad of [-1, 2 ** 32, 0.5, Number.NaN]) {
      for (const at of [0, 1]) {
        const hops = path.map((hop, i) => (i === at ? { ...hop, delayMs: bad } : hop));
        assert.throws(() => replies.createReplyBlock(hops, home()), { name: 'RangeError', message: /delay of/ });
      }
    }
  });

  it('accepts a 64-character first-hop id', () => {
    const path = [{ id: `A${'b'.repeat(63)}`, keys: generateKeyPair() }, ...nodes(1)];
    const { block, secret } = replies.createReplyBlock(route(path), home());
    const { firstHop, packet } = replies.wrapReply(block, utf8.encode('long id'));
    assert.equal(firstHop, (path[0] as Node).id);
    const { last } = travel(sphinx, path, packet);
    assert.ok(last.kind === 'deliver');
    assert.deepEqual(replies.openReply(secret, last.payload), utf8.encode('long id'));
  });
});
