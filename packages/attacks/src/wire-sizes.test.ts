import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Roles, WireEvent } from '@mixlab/anonymity';
import { cryptoReady, generateKeyPair, randomBytes } from '@mixlab/crypto';
import type { ServerFrame, SubmitRequest } from '@mixlab/gateway-api';
import { packetFormat } from '@mixlab/packet';
import { seededRandom } from '@mixlab/runtime';
import { scoreLinking } from './linking.ts';
import { sizeCorrelation } from './size-correlation.ts';
import { clientNames } from './test-support.ts';
import { traceEnds } from './trace.ts';
import { onionOverheadBytes, onionWireModel, wireModelFit } from './wire-sizes.ts';

const NODES = ['mix-1-22282e3c2a29', 'mix-2-494185be9e6c', 'mix-3-5a0612833365'];
const rolesFor = (gateway: string): Roles => ({
  clients: clientNames(10),
  gateways: [gateway],
  nodes: NODES.map((name, i) => ({ name, layer: i + 1, strategy: { kind: 'threshold', n: 1 } as never })),
});

/** What the gateway's taps measure, built with the real onion format and the real JSON shapes. */
function wireSizes(gateway: string, payloadBytes: number): { submission: number; push: number } {
  const onion = packetFormat('onion');
  assert.ok(onion);
  const hops = NODES.map((id) => ({ id, publicKey: generateKeyPair().publicKey }));
  const payload = randomBytes(payloadBytes);
  const packet = onion.wrap(hops, { gateway, recipient: generateKeyPair().publicKey }, payload);
  const submit: SubmitRequest = {
    packets: [{ firstHop: NODES[0] as string, packet: Buffer.from(packet).toString('base64') }],
  };
  const push: ServerFrame = {
    type: 'message',
    message: { id: 'ab'.repeat(16), payload: Buffer.from(payload).toString('base64'), receivedAt: Date.now() },
  };
  return { submission: JSON.stringify(submit).length, push: JSON.stringify(push).length };
}

describe('onionWireModel', () => {
  before(cryptoReady);

  // Gateway ids of 9, 10 and 11 bytes put the onion overhead at 0, 1 and 2 mod 3.
  for (const gateway of ['gateway-1', 'gateway-10', 'gateway-100']) {
    it(`names the real submission size of every push (gateway "${gateway}", overhead mod 3 = ${onionOverheadBytes(NODES, gateway) % 3})`, () => {
      const model = onionWireModel(rolesFor(gateway));
      const shrinks = new Set<number>();
      for (let payloadBytes = 30; payloadBytes < 60; payloadBytes++) {
        const { submission, push } = wireSizes(gateway, payloadBytes);
        const sizes = model.submissionSizes({ bytes: push, from: gateway });
        assert.ok(sizes.has(submission), `payload ${payloadBytes}: ${submission} not in ${[...sizes.keys()]}`);
        assert.ok(Math.abs([...sizes.values()].reduce((a, b) => a + b, 0) - 1) < 1e-12);
        shrinks.add(submission - push);
      }
      // Base64 rounds: one shrink when the overhead is a multiple of 3, else two, 4 bytes apart.
      assert.equal(shrinks.size, onionOverheadBytes(NODES, gateway) % 3 === 0 ? 1 : 2);
    });
  }

  it('has no candidates for a push no onion payload gives', () => {
    const model = onionWireModel(rolesFor('gateway-1'));
    const { push } = wireSizes('gateway-1', 40);
    assert.equal(model.submissionSizes({ bytes: push + 1 }).size, 0);
  });
});

describe('sizeCorrelation with the exact wire model', () => {
  before(cryptoReady);

  it('links where one learned shrink cannot: an overhead of 1 mod 3 gives two shrinks', () => {
    const gateway = 'gateway-10';
    const roles = rolesFor(gateway);
    const clients = roles.clients;
    const random = seededRandom(21);
    const events: WireEvent[] = [];
    const truth: { sender: string; recipient: string; order: number }[] = [];
    for (let i = 0; i < 60; i++) {
      const sender = clients[random.int(clients.length)] as string;
      const { submission, push } = wireSizes(gateway, 1 + random.int(1000));
      events.push({ atMs: i * 10, from: sender, to: gateway, bytes: submission, packets: 1 });
      events.push({ atMs: i * 10 + 5, from: gateway, to: 'client-9', bytes: push, packets: 1 });
      truth.push({ sender, recipient: 'client-9', order: i + 1 });
    }
    const model = onionWireModel(roles);
    const { submissions, pushes } = traceEnds(events, roles);
    assert.equal(wireModelFit(model, submissions, pushes), 1);
    const top1 = (estimates: ReturnType<typeof sizeCorrelation>['estimates']) =>
      scoreLinking(estimates, truth, clients).summary.top1Accuracy;
    const learned = top1(sizeCorrelation(events, roles).estimates);
    const exact = top1(sizeCorrelation(events, roles, { wireModel: model }).estimates);
    assert.ok(learned < 0.8, `one learned shrink: ${learned}`);
    assert.ok(exact > 0.9, `exact model: ${exact}`);
  });

  it('does not fit a Sphinx trace (one size for every packet)', () => {
    const roles = rolesFor('gateway-1');
    const events: WireEvent[] = [
      { atMs: 0, from: 'client-0', to: 'gateway-1', bytes: 3573, packets: 1 },
      { atMs: 9, from: 'gateway-1', to: 'client-2', bytes: 2800, packets: 1 },
    ];
    const { submissions, pushes } = traceEnds(events, roles);
    assert.equal(wireModelFit(onionWireModel(roles), submissions, pushes), 0);
  });
});
