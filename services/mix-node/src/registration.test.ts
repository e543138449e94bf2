/** The node's registration loop (keepRegistered from service-kit) against a directory that verifies descriptors. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair } from '@mixlab/crypto';
import { keepRegistered, type RegistrationLogger, sendError } from '@mixlab/service-kit';
import { compareToStored, type SignedNodeDescriptor, verifyDescriptor } from '@mixlab/topology';
import Fastify, { type FastifyInstance } from 'fastify';
import { DescriptorSigner } from './descriptor.ts';
import { MixingKeys } from './mixing-keys.ts';

/** Waits, on real timers, until `done()`; a loaded machine may be slow, a broken loop never gets there. */
async function until(done: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('registration with heartbeats', () => {
  let directory: FastifyInstance;
  let url: string;
  const accepted: SignedNodeDescriptor[] = [];
  let refuseNext = 0;

  before(async () => {
    await cryptoReady();
    directory = Fastify();
    directory.post('/v1/nodes', async (request, reply) => {
      if (refuseNext > 0) {
        refuseNext--;
        return sendError(reply, 'shutting_down', 'this service is shutting down; send to another instance');
      }
      const verdict = verifyDescriptor(request.body, { nowMs: Date.now(), maxSkewMs: 5_000, layerCount: 3 });
      // Answers as the directory does (services/directory/src/server.ts).
      if (!verdict.ok) {
        const { reason, problem } = verdict;
        return sendError(reply, 'descriptor_rejected', `${reason} descriptor: ${problem}`, {
          reason,
          problems: [problem],
        });
      }
      const stored = accepted.at(-1);
      if (stored && compareToStored(stored, verdict.descriptor) !== 'newer') {
        const problems = ['issuedAt is not later than the stored one'];
        return sendError(reply, 'descriptor_conflict', `replayed descriptor: ${problems[0]}`, {
          reason: 'replayed',
          problems,
        });
      }
      accepted.push(verdict.descriptor);
      return reply.code(201).send({ id: verdict.descriptor.id });
    });
    url = await directory.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await directory.close();
  });

  it('retries until the directory answers, logs its refusals, then heartbeats freshly signed descriptors', async () => {
    const keys = new MixingKeys(
      { epochs: { genesisMs: 0, lengthMs: 600_000 }, graceMs: 60_000, nextKeyWindowMs: 30_000 },
      {
        now: Date.now,
        schedule: () => () => {},
      },
    );
    const signer = new DescriptorSigner({
      id: 'mix-1',
      layer: 1,
      url: 'http://mix-1:8080',
      identity: generateSigningKeyPair(),
      mixingKeys: () => keys.published(),
      now: Date.now,
    });
    const logs: { level: string; details: Record<string, unknown>; message: string }[] = [];
    const logger: RegistrationLogger = {
      info: (details, message) => logs.push({ level: 'info', details: details as Record<string, unknown>, message }),
      warn: (details, message) => logs.push({ level: 'warn', details: details as Record<string, unknown>, message }),
    };
    const stopping = new AbortController();
    refuseNext = 2;
    let unsigned = true;
    const registration = await keepRegistered(
      `${url}/v1/nodes`,
      () => {
        // The first real attempt goes out unsigned: the directory's reason must reach the log.
        if (refuseNext === 0 && unsigned) {
          unsigned = false;
          const { signature: _, ...rest } = signer.sign();
          return rest;
        }
        return signer.sign();
      },
      { retryMs: 10, refreshMs: 40, signal: stopping.signal, logger },
    );
    try {
      assert.equal(accepted.length, 1);
      assert.deepEqual(
        logs
          .filter((log) => log.level === 'warn')
          .map((log) => [log.details.status, log.details.reason, log.details.tries]),
        [
          [503, 'shutting_down', 1],
          [503, 'shutting_down', 2],
          [400, 'unsigned', 3],
        ],
      );
      assert.match(String(logs[2]?.details.problem), /no signature/);
      assert.equal(logs.at(-1)?.message, 'registered with the directory');

      await until(() => accepted.length >= 3, 'two heartbeats (40 ms apart) after the registration');
      const beats = accepted.length;
      for (const [i, descriptor] of accepted.entries()) {
        if (i > 0) assert.ok(descriptor.issuedAt > (accepted[i - 1] as SignedNodeDescriptor).issuedAt);
      }

      registration.refresh(); // as after a key rotation
      registration.refresh(); // asked again while the first is on its way: follows it, no replay
      await until(() => accepted.length >= beats + 2, 'both refreshes registered');
      assert.equal(logs.filter((log) => log.level === 'warn').length, 3, 'no heartbeat was refused');
    } finally {
      stopping.abort();
    }
    // A POST already on its way may still land; none may start after it (beats are 40 ms apart).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const final = accepted.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(accepted.length, final, 'no heartbeat after the signal');
  });
});
