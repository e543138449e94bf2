/**
 * Faults lose nothing: on one cascade, one restart after the other (each container keeps its
 * volume), a message stored at the gateway is still delivered after the gateway restarts, a
 * packet wrapped to a mix node's key before that node restarts still opens there, and a
 * restarted directory serves the topology with every node at once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import type { SubmitRequest } from '@mixlab/gateway-api';
import { type Cascade, eventually, startCascade } from '@mixlab/testbed';
import { type SignedTopology, verifyTopology } from '@mixlab/topology';

describe('durable state across restarts', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({ MIXLAB_PACKET_FORMAT: 'sphinx', MIXLAB_STRATEGY: 'threshold:n=1' });
  });

  after(async () => {
    await cascade?.stop();
  });

  /** Restarts a compose container (its volumes stay) and waits until its healthcheck passes again. */
  async function restart(container: string): Promise<void> {
    const started = (cascade as Cascade).environment.getContainer(container);
    await started.restart();
    await eventually(
      `${container} to be healthy after its restart`,
      async () =>
        (await docker('inspect', '--format', '{{.State.Health.Status}}', started.getId())).trim() === 'healthy'
          ? true
          : undefined,
      60_000,
      250,
    );
  }

  /** The first message that reaches `keys`' mailbox, received (and acknowledged) through the client library. */
  function firstMessage(client: MixnetClient, keys: KeyPair): { message: Promise<ReceivedMessage>; close(): void } {
    let subscription: { close(): void } | undefined;
    const message = new Promise<ReceivedMessage>((resolve, reject) => {
      subscription = client.receive(keys, resolve, { onError: reject });
    });
    return { message, close: () => subscription?.close() };
  }

  it('a message stored at the gateway survives its restart and is then delivered', async () => {
    const { gatewayUrl, directoryKey } = cascade as Cascade;
    const client = new MixnetClient(gatewayUrl, { directoryKey });
    const recipient = generateKeyPair();
    const sent = await client.send(recipient.publicKey, new TextEncoder().encode('kept across a restart'));
    // Nobody listens yet: the message waits in the mailbox.
    const [stored] = await eventually('the message to be stored at the gateway', async () => {
      const messages = await client.gateway.mailbox(recipient);
      return messages.length > 0 ? messages : undefined;
    });
    await restart('client-gateway-1');
    assert.deepEqual(
      await client.gateway.mailbox(recipient),
      [stored],
      'the same message, id and time after the restart',
    );
    const receiving = firstMessage(client, recipient);
    try {
      const received = await receiving.message;
      assert.equal(new TextDecoder().decode(received.body), 'kept across a restart');
      assert.equal(received.id, sent.messageId);
      await eventually('the acknowledged message to leave the mailbox', async () =>
        (await client.gateway.mailbox(recipient)).length === 0 ? true : undefined,
      );
    } finally {
      receiving.close();
    }
  });

  it('a mix node restarted with its volume still opens a packet wrapped to its key before the restart', async () => {
    const { gatewayUrl, directoryKey } = cascade as Cascade;
    const client = new MixnetClient(gatewayUrl, { directoryKey });
    const topologyBefore = await client.topology();
    // Wrap now (every route crosses the one layer-2 node), submit after its restart.
    const held: SubmitRequest[] = [];
    const wrapping = new MixnetClient(gatewayUrl, { directoryKey });
    wrapping.gateway.submit = async (body) => {
      held.push(body);
      return { accepted: body.packets.length, rejected: [] };
    };
    const recipient = generateKeyPair();
    await wrapping.send(recipient.publicKey, new TextEncoder().encode('wrapped before the restart'));
    assert.equal(held.length, 1);

    await restart('mix-layer-2-1');
    const layer2 = (topology: typeof topologyBefore) =>
      topology.layers[1]?.map(({ id, publicKey }) => ({ id, publicKey }));
    const signed = await fetch(`${(cascade as Cascade).directoryUrl}/v1/topology`).then(
      (response) => response.json() as Promise<SignedTopology>,
    );
    const verdict = verifyTopology(signed, { pinnedDirectoryKey: directoryKey, nowMs: Date.now(), maxSkewMs: 5_000 });
    assert.ok(verdict.ok);
    assert.deepEqual(
      verdict.document.layers[1]?.map(({ id, publicKey }) => ({ id, publicKey })),
      layer2(topologyBefore),
      'the restarted node publishes the same node id and mixing key',
    );

    const receiving = firstMessage(client, recipient);
    assert.equal((await client.gateway.submit(held[0] as SubmitRequest)).accepted, 1);
    try {
      const received = await Promise.race([
        receiving.message,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error('the packet never arrived: the restarted node could not open it')),
            20_000,
          ).unref(),
        ),
      ]);
      assert.equal(new TextDecoder().decode(received.body), 'wrapped before the restart');
    } finally {
      receiving.close();
    }
  });

  it('a restarted directory serves the topology with every node at once', async () => {
    const { directoryUrl, directoryKey } = cascade as Cascade;
    const container = (cascade as Cascade).environment.getContainer('directory-1');
    await container.restart();
    const started = Date.now();
    const signed = await eventually(
      'the restarted directory to answer',
      async () => {
        const response = await fetch(`${directoryUrl}/v1/topology`);
        return response.ok ? ((await response.json()) as SignedTopology) : undefined;
      },
      30_000,
      100,
    );
    const verdict = verifyTopology(signed, { pinnedDirectoryKey: directoryKey, nowMs: Date.now(), maxSkewMs: 5_000 });
    assert.ok(verdict.ok, 'signed by the same directory key');
    assert.deepEqual(
      verdict.document.layers.map((nodes) => nodes.length),
      [1, 1, 1],
      `its first answer, ${Date.now() - started} ms after the restart, lists every node`,
    );
    assert.deepEqual(
      verdict.document.gateways.map((gateway) => gateway.id),
      ['gateway-1'],
    );
    // And not because the nodes' heartbeats were quicker: it took them back from its volume.
    const logs = await docker('logs', container.getId());
    const takenBack = logs
      .split('\n')
      .filter((line) => line.includes('registrations taken back'))
      .map((line) => JSON.parse(line) as { nodes: number; alive: { alive: number }[] });
    assert.equal(takenBack.length, 2, 'one line per start');
    assert.deepEqual([takenBack[1]?.nodes, takenBack[1]?.alive.map((layer) => layer.alive)], [3, [1, 1, 1]]);
  });
});

async function docker(...args: string[]): Promise<string> {
  const { stdout, stderr } = await promisify(execFile)('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout + stderr;
}
