/**
 * What the sender/recipient side costs per message, without containers: the real gateway app
 * (services/client-gateway/src/server.ts, TLS on 127.0.0.1) runs in a child process together
 * with a three-layer Sphinx network (the child peels each packet as every layer would and hands
 * the delivery to the gateway's mailboxes); this process runs the load generator as the cascade
 * benches do (LoadWorkers: two threads of MixnetClients) and measures its own CPU time (user +
 * system, every thread) per delivered message, after a short warm-up step.
 *
 *   node experiments/client-cost.ts [--rate 200] [--seconds 10] [--clients 8]
 *
 * Only this process's CPU is counted, so the figure is the load generator's alone; it is printed
 * beside the sender's wrap and the recipient's open, measured in this process after the run.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cryptoReady, generateKeyPair, generateSigningKeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { decodeDelivery, encodeDelivery, sphinx } from '@mixlab/packet';
import { signTopology, TopologyCache } from '@mixlab/topology';
import { LoadWorkers } from './load-workers.ts';
import { measurePublicKeyBound } from './public-key-bound.ts';

await cryptoReady();

/** The child: a gateway on 127.0.0.1 and the three nodes behind it; answers its URL and directory key. */
async function serveGateway(): Promise<void> {
  const { Mailboxes } = await import('../services/client-gateway/src/mailboxes.ts');
  const { buildServer } = await import('../services/client-gateway/src/server.ts');
  const { Sessions } = await import('../services/client-gateway/src/sessions.ts');
  const directory = generateSigningKeyPair();
  const identityKeys = generateSigningKeyPair();
  const identity = { publicKey: identityKeys.publicKey, privateKey: identityKeys.secretKey };
  const nodes = [1, 2, 3].map((layer) => ({ layer, id: `mix-${layer}`, keys: generateKeyPair() }));
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const now = Date.now();
  const signed = signTopology(
    {
      version: 1,
      epoch: 1,
      validFrom: now - 60_000,
      validUntil: now + 3_600_000,
      layers: nodes.map(({ layer, id, keys }) => [
        { id, layer, url: `http://${id}:8080`, identityKey: 'aa'.repeat(32), publicKey: toHex(keys.publicKey) },
      ]),
      gateways: [{ id: 'gateway-1', url: 'http://gateway:8081', identityKey: toHex(identity.publicKey) }],
    },
    directory.secretKey,
  );
  const root = await mkdtemp(join(tmpdir(), 'mixlab-client-cost-'));
  const { mailboxes } = Mailboxes.open(join(root, 'mailboxes.sqlite'), {
    maxPerMailbox: 10_000,
    maxMailboxes: 1_000,
    maxBytes: 1 << 28,
    maxBytesPerMailbox: 1 << 26,
  });
  const registry = createServiceRegistry({ node: 'gateway' });
  const app = await buildServer({
    mailboxes,
    sessions: new Sessions({ maxSessions: 1_000 }),
    identity,
    topology: new TopologyCache(async () => signed, { maxAgeMs: 60_000, refetchAfterMs: 1_000 }),
    // Every layer peels in turn; the exit's delivery goes to the mailboxes, as over the wire.
    send: async (_url, frames) => {
      for (const frame of frames) {
        let packet = frame;
        let node = nodes[0];
        for (;;) {
          if (!node) throw new Error('a route left the network');
          const peeled = sphinx.peel(packet, node.keys);
          if (peeled.kind === 'forward') {
            packet = peeled.packet;
            node = byId.get(peeled.nextHop);
            continue;
          }
          const { recipient, payload } = decodeDelivery(
            encodeDelivery(
              { recipient: peeled.destination.recipient, payload: peeled.payload },
              sphinx.deliveryPayloadBytes,
            ),
          );
          await mailboxes.storeAll([{ address: toHex(recipient), payload }]);
          break;
        }
      }
    },
    info: { gatewayId: 'gateway-1', packetFormat: 'sphinx' },
    metrics: gatewayMetrics(registry),
    loops: loopMetrics(registry, 'client'),
    maxPacketBytes: 64 * 1024,
    maxPacketsPerRequest: 10,
  });
  const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http:/, 'https:');
  process.send?.({ url, directoryKey: toHex(directory.publicKey) });
  process.on('disconnect', async () => {
    await app.close();
    mailboxes.close();
    await rm(root, { recursive: true, force: true });
    process.exit(0);
  });
}

async function measure(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '10' },
      clients: { type: 'string', default: '8' },
    },
  });
  const rate = Number(values.rate);
  const gateway = fork(import.meta.filename, ['--gateway'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // The load workers of the cascade benches: two threads, each with its share of the clients.
  const workers = new LoadWorkers(2, Number(values.clients));
  try {
    const { url, directoryKey } = await new Promise<{ url: string; directoryKey: string }>((resolve, reject) => {
      gateway.once('message', (message) => resolve(message as { url: string; directoryKey: string }));
      gateway.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
    });
    const step = { gatewayUrl: url, directoryKey, strategy: 'none', drainMs: 3_000 };
    // A short step first, so that module loading and compilation are not counted.
    await workers.run({ ...step, durationMs: 1_000 }, rate, 1);
    const before = process.cpuUsage();
    const startedAt = performance.now();
    const measured = await workers.run({ ...step, durationMs: Number(values.seconds) * 1000 }, rate, 2);
    const { user, system } = process.cpuUsage(before);
    const wallSeconds = (performance.now() - startedAt) / 1000;
    const cpuMs = (user + system) / 1000;
    const perMessageMs = cpuMs / Math.max(1, measured.delivered);
    // The baseline, in this process: what a client cannot avoid per message, its wrap and its open.
    const { wrap, open } = (await measurePublicKeyBound(1)).packetMicros;
    const packetMs = (wrap + open) / 1000;
    console.log(
      `${process.cwd()}: ${rate} msg/s, sent ${measured.sent}, delivered ${measured.delivered}, ` +
        `p50 ${measured.latency?.p50Ms.toFixed(1)} ms; CPU ${(cpuMs / 1000).toFixed(2)} s ` +
        `(${((100 * system) / (user + system)).toFixed(0)}% in the kernel) over ${wallSeconds.toFixed(1)} s: ` +
        `${perMessageMs.toFixed(3)} ms per delivered message, ${(perMessageMs / packetMs).toFixed(2)}× its packet work ` +
        `(wrap ${wrap.toFixed(0)} µs + open ${open.toFixed(0)} µs, measured here after the run)` +
        `${measured.errors.length ? `; errors: ${measured.errors.slice(0, 3).join(' | ')}` : ''}`,
    );
  } finally {
    await workers.close();
    gateway.disconnect();
  }
}

if (process.argv.includes('--gateway')) await serveGateway();
else await measure();
