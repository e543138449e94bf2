import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, randomBytes, seal, toHex } from '@mixlab/crypto';
import { GatewayClient, GatewayError } from './gateway-client.ts';

await cryptoReady();

/** A stand-in gateway answering each request with the status and body the test puts up. */
describe('GatewayClient reads the shared error body', () => {
  let server: Server;
  let client: GatewayClient;
  let answer: { status: number; body: string };
  const json = (status: number, body: object) => {
    answer = { status, body: JSON.stringify(body) };
  };
  const packets = { packets: [{ firstHop: 'mix-1', packet: 'AAAA' }] };

  before(async () => {
    server = createServer((_request, response) => {
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  after(() => {
    server.close();
  });

  it('returns per-packet verdicts also when every packet was refused (400) or layer 1 failed (502)', async () => {
    const rejected = [{ index: 0, reason: 'first hop mix-1 is not a layer-1 node of the current topology' }];
    for (const [status, error] of [
      [400, 'packets_rejected'],
      [502, 'upstream_failed'],
    ] as const) {
      json(status, { error, message: 'every packet was refused: see rejected', accepted: 0, rejected });
      assert.deepEqual(await client.submit(packets), {
        error,
        message: 'every packet was refused: see rejected',
        accepted: 0,
        rejected,
      });
    }
  });

  it('throws a GatewayError with the code and message of any other error answer', async () => {
    json(400, { error: 'invalid_request', message: "body must have required property 'packets'" });
    await assert.rejects(client.submit(packets), (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'invalid_request');
      assert.equal(
        error.message,
        "POST /v1/packets answered 400 invalid_request: body must have required property 'packets'",
      );
      return true;
    });
    json(503, { error: 'directory_unreachable', message: 'the directory is unreachable; try again shortly' });
    await assert.rejects(client.mailbox(generateKeyPair()), { name: 'GatewayError', code: 'directory_unreachable' });
  });

  it('keeps a body that is not the shared shape as the message', async () => {
    answer = { status: 502, body: '<html>bad gateway</html>' };
    await assert.rejects(client.info(), {
      name: 'GatewayError',
      code: undefined,
      message: 'GET /v1/gateway answered 502: <html>bad gateway</html>',
    });
  });
});

describe('GatewayClient sessions', () => {
  let server: Server;
  let client: GatewayClient;
  const keys = generateKeyPair();
  /** Tokens handed out, in order, and the authorization of every mailbox read. */
  let tokens: string[];
  let reads: string[];
  /** The mailbox answers 401 session_expired to these tokens. */
  let expired: Set<string>;
  let refuseAll = false;

  before(async () => {
    server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      if (request.url === '/v1/sessions') {
        const token = randomBytes(32);
        tokens.push(toHex(token));
        response.writeHead(201);
        response.end(
          JSON.stringify({ sealedToken: Buffer.from(seal(token, keys.publicKey)).toString('base64'), expiresAt: 1 }),
        );
        return;
      }
      const authorization = request.headers.authorization ?? '';
      reads.push(authorization);
      const live = !refuseAll && tokens.some((token) => authorization === `Bearer ${token}` && !expired.has(token));
      response.writeHead(live ? 200 : 401);
      response.end(JSON.stringify(live ? { messages: [] } : { error: 'session_expired', message: 'over' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new GatewayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => server.close());

  it('opens one session, keeps it, and opens a new one once when the gateway says it is over', async () => {
    tokens = [];
    reads = [];
    expired = new Set();
    await client.mailbox(keys);
    await client.mailbox(keys);
    assert.equal(tokens.length, 1, 'kept between requests');
    expired.add(tokens[0] as string);
    assert.deepEqual(await client.mailbox(keys), []);
    assert.equal(tokens.length, 2);
    assert.deepEqual(reads, [
      `Bearer ${tokens[0]}`,
      `Bearer ${tokens[0]}`,
      `Bearer ${tokens[0]}`,
      `Bearer ${tokens[1]}`,
    ]);
    // Renewed once only: a gateway that refuses the new session too is an error.
    refuseAll = true;
    await assert.rejects(client.mailbox(keys), { name: 'GatewayError', code: 'session_expired' });
    assert.equal(tokens.length, 3);
  });
});

describe('GatewayClient requests', () => {
  it('keeps the path of its base URL, and rejects with the connection error when nothing listens', async () => {
    const paths: string[] = [];
    const server = createServer((request, response) => {
      paths.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ gatewayId: 'gateway-1', packetFormat: 'sphinx' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new GatewayClient(`http://127.0.0.1:${port}/behind/a/proxy/`);
      assert.deepEqual(await client.info(), { gatewayId: 'gateway-1', packetFormat: 'sphinx' });
      assert.deepEqual(paths, ['/behind/a/proxy/v1/gateway']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await assert.rejects(new GatewayClient(`http://127.0.0.1:${port}`).info(), { code: 'ECONNREFUSED' });
  });
});
