import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import { tlsServerOptions } from '@mixlab/service-kit/tls-identity';
import { type SignedTopology, signTopology, type TopologyDocument } from '@mixlab/topology';
import { MixnetClient } from './mixnet-client.ts';

/** A stand-in gateway that serves whatever topology the test puts up. */
describe('MixnetClient refuses a topology it cannot trust', () => {
  let server: Server;
  let url: string;
  let directory: SigningKeyPair;
  let served: unknown;
  /** The stand-in gateway's identity: its TLS key, and what the topology names as gateway-1's. */
  let gatewayIdentity: SigningKeyPair;

  const document = (overrides: Partial<TopologyDocument> = {}): TopologyDocument => {
    const now = Date.now();
    const node = (id: string, layer: number) => ({
      id,
      layer,
      url: `http://${id}:8080`,
      identityKey: 'aa'.repeat(32),
      publicKey: 'bb'.repeat(32),
    });
    return {
      version: 1,
      epoch: 5,
      validFrom: now - 60_000,
      validUntil: now + 60_000,
      layers: [[node('mix-1', 1)], [node('mix-2', 2)], [node('mix-3', 3)]],
      gateways: [{ id: 'gateway-1', url: 'http://gateway:8081', identityKey: toHex(gatewayIdentity.publicKey) }],
      ...overrides,
    };
  };
  const topologyOf = (signed: unknown) => {
    served = signed;
    return new MixnetClient(url, { directoryKey: toHex(directory.publicKey) }).topology();
  };

  before(async () => {
    await cryptoReady();
    directory = generateSigningKeyPair();
    gatewayIdentity = generateSigningKeyPair();
    const identity = { publicKey: gatewayIdentity.publicKey, privateKey: gatewayIdentity.secretKey };
    server = createServer(tlsServerOptions(identity, 'gateway-1'), (_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.close();
  });

  it('routes through a topology the pinned key signed for now', async () => {
    const topology = await topologyOf(signTopology(document(), directory.secretKey));
    assert.deepEqual(
      topology.layers.map((nodes) => nodes.map((n) => n.id)),
      [['mix-1'], ['mix-2'], ['mix-3']],
    );
  });

  it('fetches the next epoch as soon as the current one ends, however fresh its cache', async () => {
    const now = Date.now();
    const client = new MixnetClient(url, { directoryKey: toHex(directory.publicKey) });
    // Epoch 5 ends 1.5 s from now: room for two fetches on a loaded machine.
    const epochEnd = now + 1_500;
    served = signTopology(document({ epoch: 5, validFrom: now - 1_000, validUntil: epochEnd }), directory.secretKey);
    assert.equal((await client.topology()).layers[0]?.[0]?.url, 'http://mix-1:8080');
    const next = document({ epoch: 6, validFrom: epochEnd, validUntil: now + 60_000 });
    served = signTopology(
      { ...next, layers: [[{ ...next.layers[0]![0]!, url: 'http://mix-1-next:8080' }], ...next.layers.slice(1)] },
      directory.secretKey,
    );
    assert.equal((await client.topology()).layers[0]?.[0]?.url, 'http://mix-1:8080', 'cached while epoch 5 lasts');
    await new Promise((resolve) => setTimeout(resolve, epochEnd - Date.now() + 20));
    assert.equal((await client.topology()).layers[0]?.[0]?.url, 'http://mix-1-next:8080');
  });

  it('refuses a tampered topology', async () => {
    const signed = signTopology(document(), directory.secretKey);
    const forged: SignedTopology = {
      ...signed,
      document: {
        ...signed.document,
        layers: [[{ ...signed.document.layers[0]![0]!, url: 'http://evil:8080' }], ...signed.document.layers.slice(1)],
      },
    };
    await assert.rejects(topologyOf(forged), { name: 'TopologyVerificationError', reason: 'tampered' });
  });

  it('refuses an expired topology and one not valid yet', async () => {
    const now = Date.now();
    const expired = signTopology(document({ validFrom: now - 120_000, validUntil: now - 60_000 }), directory.secretKey);
    await assert.rejects(topologyOf(expired), { reason: 'expired', message: /expired at/ });
    const early = signTopology(document({ validFrom: now + 60_000, validUntil: now + 120_000 }), directory.secretKey);
    await assert.rejects(topologyOf(early), { reason: 'not-yet-valid' });
  });

  it('refuses an unsigned topology and one signed by another directory', async () => {
    const signed = signTopology(document(), directory.secretKey);
    await assert.rejects(topologyOf({ document: signed.document }), { reason: 'unsigned' });
    const other = signTopology(document(), generateSigningKeyPair().secretKey);
    await assert.rejects(topologyOf(other), { reason: 'wrong-key', message: /not the pinned/ });
  });

  it("refuses a gateway whose TLS key is no gateway's in the verified topology, in one line", async () => {
    const impostor = toHex(generateSigningKeyPair().publicKey);
    const signed = signTopology(
      document({ gateways: [{ id: 'gateway-1', url: 'http://gateway:8081', identityKey: impostor }] }),
      directory.secretKey,
    );
    const client = new MixnetClient(url, { directoryKey: toHex(directory.publicKey) });
    served = signed;
    await assert.rejects(client.topology(), (error: Error) => {
      assert.equal(error.name, 'PeerIdentityError');
      assert.equal(
        error.message,
        `refusing the gateway at ${url}: its TLS key ${toHex(gatewayIdentity.publicKey)} is no gateway's identity ` +
          "key in the directory's signed topology (another service, or someone in between, answers at that address)",
      );
      return true;
    });
    // Nor does a session or a mailbox request go out to it.
    await assert.rejects(client.gateway.mailbox(generateKeyPair()), { name: 'PeerIdentityError' });
  });

  it('checks every later connection against the verified topology before a request goes out on it', async () => {
    const client = new MixnetClient(url, { directoryKey: toHex(directory.publicKey) });
    served = signTopology(document(), directory.secretKey);
    await client.topology();
    // Another key answers from now on; the checked connection is dropped, so the next request
    // opens a new one, which is checked against the topology at its handshake and refused.
    const impostor = generateSigningKeyPair();
    server.setSecureContext(
      tlsServerOptions({ publicKey: impostor.publicKey, privateKey: impostor.secretKey }, 'gateway-1'),
    );
    server.closeAllConnections();
    try {
      // A request that raced the close fails on the old socket; the one after opens a new connection.
      let error: Error | undefined;
      for (let attempt = 0; attempt < 5 && (error === undefined || error.name === 'SocketError'); attempt++) {
        error = await client.gateway.info().then(
          () => undefined,
          (failure: Error) => failure,
        );
        if (error === undefined) break;
      }
      assert.equal(error?.name, 'PeerIdentityError', String(error));
    } finally {
      server.setSecureContext(
        tlsServerOptions({ publicKey: gatewayIdentity.publicKey, privateKey: gatewayIdentity.secretKey }, 'gateway-1'),
      );
      await client.dispatcher.close();
    }
  });

  it('takes only an https gateway URL', () => {
    assert.throws(() => new MixnetClient('http://127.0.0.1:8080'), /must be https:\/\//);
  });

  it('says how to pin the key when none was given', async () => {
    served = signTopology(document(), directory.secretKey);
    await assert.rejects(new MixnetClient(url).topology(), /no pinned directory key.*directory\.pub/);
  });
});
