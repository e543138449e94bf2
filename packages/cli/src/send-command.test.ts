import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady } from '@mixlab/crypto';
import { ManualClock } from '@mixlab/runtime';
import { connectionLine } from './listen-command.ts';
import { sendCommand } from './send-command.ts';
import { closedPort } from './test-support.ts';

const TO = 'cd'.repeat(32);

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('mixlab send without a gateway', () => {
  before(cryptoReady);

  it('says what to check, waits the ack timeout and retries within --attempts, then fails with the reason', async () => {
    const gateway = await closedPort();
    const client = new MixnetClient(gateway, { directoryKey: 'ab'.repeat(32) });
    const clock = new ManualClock();
    const errors: string[] = [];
    const logs: string[] = [];
    const settings = { to: TO, text: 'hi', acknowledge: true, ackTimeoutMs: 4_000, attempts: 3, revealSendTime: false };
    const done = sendCommand(client, settings, { log: (l) => logs.push(l), error: (l) => errors.push(l) }, clock);
    const rejected = assert.rejects(done, /ECONNREFUSED/);
    const reason =
      `cannot reach the gateway at ${gateway} (ECONNREFUSED: nothing listens there): is it running ` +
      '(docker compose ps client-gateway), and is --gateway or MIXLAB_GATEWAY its published URL?';
    for (let attempt = 2; attempt <= 3; attempt++) {
      while (errors.length < attempt - 1) await settle();
      assert.equal(errors[attempt - 2], `mixlab: ${reason}; retrying in 4.0 s (attempt ${attempt} of 3)`);
      clock.advance(3_999);
      await settle();
      assert.equal(errors.length, attempt - 1, 'no retry before the timeout');
      clock.advance(1);
    }
    await rejected;
    assert.deepEqual(logs, []);
  });
});

describe('connectionLine', () => {
  it('says what happened to the mailbox connection, one line each', () => {
    const gateway = 'https://127.0.0.1:8080';
    assert.equal(
      connectionLine({ type: 'lost', reason: 'cannot reach the gateway', failures: 2, retryInMs: 1234 }, gateway),
      'mixlab: no mailbox connection to the gateway: cannot reach the gateway; reconnecting in 1.2 s (2 failed in a row)',
    );
    assert.equal(
      connectionLine({ type: 'reopened', failures: 3 }, gateway),
      'mixlab: reconnected to https://127.0.0.1:8080 after 3 failed attempts',
    );
    assert.equal(
      connectionLine({ type: 'gave_up', reason: 'x', failures: 1 }, gateway),
      'mixlab: giving up after 1 failed reconnection (--give-up-after): x',
    );
  });
});
