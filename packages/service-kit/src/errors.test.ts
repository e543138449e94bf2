import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_STATUS } from './errors.ts';
import { acceptOctetStream, createServiceApp } from './http.ts';

/** An app with one JSON route (schema-checked), one binary route, one that throws, one that waits. */
function testApp() {
  const app = createServiceApp(undefined, { bodyLimit: 64 });
  acceptOctetStream(app, 64);
  app.post(
    '/json',
    { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } } },
    async () => ({ ok: true }),
  );
  app.post('/bytes', async () => ({ ok: true }));
  app.get('/bug', async () => {
    throw new Error('secret internals');
  });
  return app;
}

describe('the shared error shape', () => {
  it('maps fastify validation, JSON syntax, 404, 413 and 415 to stable codes and the table status', async () => {
    const app = testApp();
    const cases = [
      [{ method: 'POST', url: '/json', payload: { n: 'x' } }, 'invalid_request'],
      [
        { method: 'POST', url: '/json', payload: '{"n":', headers: { 'content-type': 'application/json' } },
        'invalid_request',
      ],
      [{ method: 'GET', url: '/nothing' }, 'not_found'],
      [
        {
          method: 'POST',
          url: '/bytes',
          payload: Buffer.alloc(65),
          headers: { 'content-type': 'application/octet-stream' },
        },
        'body_too_large',
      ],
      [
        { method: 'POST', url: '/bytes', payload: 'x', headers: { 'content-type': 'application/x-unknown' } },
        'unsupported_media_type',
      ],
    ] as const;
    for (const [request, code] of cases) {
      const response = await app.inject(request);
      const body = response.json();
      assert.equal(body.error, code, `${request.method} ${request.url}`);
      assert.equal(response.statusCode, ERROR_STATUS[code]);
      assert.equal(typeof body.message, 'string');
      assert.ok(body.message.length > 0);
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message']);
    }
    await app.close();
  });

  it('answers a thrown error as internal_error 500 without its message', async () => {
    const app = testApp();
    const response = await app.inject({ method: 'GET', url: '/bug' });
    assert.equal(response.statusCode, 500);
    assert.equal(response.json().error, 'internal_error');
    assert.doesNotMatch(response.body, /secret internals/);
    await app.close();
  });

  it('answers 503 shutting_down to a request that arrives once closing began', async () => {
    const app = testApp();
    await app.ready();
    const closed = app.close();
    const response = await app.inject({ method: 'POST', url: '/json', payload: { n: 1 } });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), {
      error: 'shutting_down',
      message: 'this service is shutting down; send to another instance',
    });
    await closed;
  });

  it('gives every code a 4xx or 5xx status', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) assert.ok(status >= 400 && status < 600, code);
  });
});
