import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientKey, TokenBuckets } from './rate-limit.ts';

describe('TokenBuckets', () => {
  it('lets a burst through, then one packet per 1/perSecond, and says how long to wait', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 10, burst: 5 }, () => now);
    assert.equal(buckets.take('a', 5), 0);
    assert.equal(buckets.take('a', 1), 0.1);
    assert.equal(buckets.take('a', 3), 0.3, 'a refusal takes nothing');
    now = 100;
    assert.equal(buckets.take('a', 1), 0);
    assert.equal(buckets.take('b', 5), 0, 'every key has its own bucket');
    now = 10_000;
    assert.equal(buckets.take('a', 5), 0, 'refills up to the burst, never beyond');
    assert.equal(buckets.take('a', 1), 0.1);
  });

  it('takes at most a whole bucket for a request larger than the burst', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 2, burst: 4 }, () => now);
    assert.equal(buckets.take('a', 10), 0);
    assert.equal(buckets.take('a', 10), 2);
    now = 2_000;
    assert.equal(buckets.take('a', 10), 0);
  });

  it('forgets refilled buckets, and refuses newcomers past maxClients until it can', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 1, burst: 2 }, () => now, 2);
    assert.equal(buckets.take('a', 1), 0);
    assert.equal(buckets.take('b', 1), 0);
    assert.equal(buckets.take('c', 1), 2, 'no room for a third client');
    now = 1_000;
    assert.equal(buckets.take('c', 1), 2, 'a and b have not refilled yet');
    now = 2_000;
    assert.equal(buckets.take('c', 1), 0);
    assert.equal(buckets.clients, 1, 'a and b were forgotten');
  });
});

describe('clientKey', () => {
  it('keys on the peer address, or on the first X-Forwarded-For entry behind a trusted proxy', () => {
    assert.equal(clientKey('address', '172.18.0.1', '203.0.113.9'), '172.18.0.1');
    assert.equal(clientKey('forwarded-for', '172.18.0.1', ' 203.0.113.9 , 10.0.0.2'), '203.0.113.9');
    assert.equal(clientKey('forwarded-for', '172.18.0.1', ['203.0.113.7', '203.0.113.8']), '203.0.113.7');
    assert.equal(clientKey('forwarded-for', '172.18.0.1', undefined), '172.18.0.1');
    assert.equal(clientKey('forwarded-for', '172.18.0.1', ''), '172.18.0.1');
  });
});
