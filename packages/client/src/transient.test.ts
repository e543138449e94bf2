import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmptyLayerError } from '@mixlab/topology';
import { GatewayError } from './gateway-client.ts';
import { parseRetryAfter } from './retry-after.ts';
import { connectionCode, isTransient, retryAfterOf, TransientError, unreachableReason } from './transient.ts';

const coded = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:8080`), { code });
const answered = (status: number, retryAfterMs?: number) =>
  new GatewayError('POST /v1/packets', status, '{"error":"x","message":"y"}', retryAfterMs);

describe('isTransient', () => {
  it('retries what a moment may mend: connection failures, 429/502/503/504, an empty layer', () => {
    for (const error of [
      coded('ECONNREFUSED'),
      coded('UND_ERR_SOCKET'),
      new TypeError('fetch failed', { cause: coded('ECONNRESET') }),
      new AggregateError([new Error('v6'), coded('ECONNREFUSED')], 'connect failed'),
      answered(429),
      answered(502),
      answered(503),
      answered(504),
      Object.assign(new Error('topology request answered 503'), { status: 503 }),
      new EmptyLayerError(2),
      new TransientError('gateway could not forward the packet'),
    ]) {
      assert.equal(isTransient(error), true, String(error));
    }
  });

  it('does not retry what the client got wrong', () => {
    for (const error of [
      answered(400),
      answered(404),
      Object.assign(new Error('topology request answered 404'), { status: 404 }),
      new Error('cannot wrap the message: too long'),
      coded('EACCES'),
    ]) {
      assert.equal(isTransient(error), false, String(error));
    }
  });

  it("reads the gateway's Retry-After", () => {
    assert.equal(retryAfterOf(answered(429, 3000)), 3000);
    assert.equal(retryAfterOf(answered(503)), undefined);
    assert.equal(retryAfterOf(coded('ECONNREFUSED')), undefined);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T22:00:00Z');
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter(['0'], now), 0);
    assert.equal(parseRetryAfter('Fri, 27 Nov 2026 22:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Fri, 27 Nov 2026 21:00:00 GMT', now), 0, 'a date past is now');
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
  });
});

describe('unreachableReason', () => {
  it('names the gateway, the code and what to check; other errors keep their message', () => {
    assert.equal(connectionCode(new Error('x', { cause: coded('EAI_AGAIN') })), 'EAI_AGAIN');
    assert.match(
      unreachableReason('http://gw:8080', new Error('x', { cause: coded('EAI_AGAIN') })),
      /^cannot reach the gateway at http:\/\/gw:8080 \(EAI_AGAIN: its host name does not resolve yet\): is it running/,
    );
    assert.equal(unreachableReason('http://gw:8080', answered(503)), 'POST /v1/packets answered 503 x: y');
  });
});
