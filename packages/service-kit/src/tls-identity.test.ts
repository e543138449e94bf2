import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { cryptoReady, generateSigningKeyPair, toHex } from '@mixlab/crypto';
import { request } from 'undici';
import {
  identityCheckingAgent,
  identityKeyObjects,
  PeerIdentityError,
  selfSignedCertificate,
  tlsServerOptions,
} from './tls-identity.ts';

await cryptoReady();
const identityOf = () => {
  const keys = generateSigningKeyPair();
  return { publicKey: keys.publicKey, privateKey: keys.secretKey };
};

describe('the identity certificate', () => {
  it('parses as X.509, names the id, holds the identity key and is signed by it', () => {
    const identity = identityOf();
    const certificate = new X509Certificate(selfSignedCertificate(identity, 'gateway-1'));
    const { publicKey } = identityKeyObjects(identity);
    assert.equal(certificate.subject, 'CN=gateway-1');
    assert.equal(certificate.issuer, 'CN=gateway-1');
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ed25519');
    assert.ok(certificate.publicKey.equals(publicKey));
    assert.ok(certificate.verify(publicKey));
    assert.ok(!certificate.verify(identityKeyObjects(identityOf()).publicKey), 'not by another key');
  });

  it('takes the 32-byte seed as well as the 64-byte secret key, and refuses other lengths', () => {
    const identity = identityOf();
    const seedOnly = { publicKey: identity.publicKey, privateKey: identity.privateKey.subarray(0, 32) };
    assert.ok(new X509Certificate(selfSignedCertificate(seedOnly, 'x')).verify(identityKeyObjects(identity).publicKey));
    assert.throws(() => selfSignedCertificate({ ...identity, privateKey: new Uint8Array(16) }, 'x'), RangeError);
  });
});

describe('a TLS 1.3 link checked by identity key', () => {
  const identity = identityOf();
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer(tlsServerOptions(identity, 'gateway-1'), (req, res) =>
      res.end((req.socket as TLSSocket).getProtocol() ?? ''),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => server.close());

  it('accepts the right key, sees TLS 1.3 and tells the check the key', async () => {
    const seen: (string | undefined)[] = [];
    const dispatcher = identityCheckingAgent({
      check: (key) => {
        seen.push(key);
        return key === toHex(identity.publicKey) ? undefined : 'not the expected key';
      },
    });
    const response = await request(url, { dispatcher });
    assert.equal(await response.body.text(), 'TLSv1.3');
    assert.deepEqual(seen, [toHex(identity.publicKey)]);
    await dispatcher.close();
  });

  it('refuses a wrong key before sending anything, with the reason and the key it saw', async () => {
    let requests = 0;
    server.once('request', () => requests++);
    const expected = toHex(identityOf().publicKey);
    const dispatcher = identityCheckingAgent({
      check: (key) => (key === expected ? undefined : `the server's key ${key} is not ${expected}`),
    });
    await assert.rejects(request(url, { dispatcher }), (error: Error) => {
      assert.ok(error instanceof PeerIdentityError, String(error));
      assert.equal(error.identityKey, toHex(identity.publicKey));
      assert.match(error.message, /is not/);
      return true;
    });
    assert.equal(requests, 0);
    await dispatcher.close();
  });
});
