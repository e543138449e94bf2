/**
 * The defence against the n − 1 attack, live: with node loop cover on, the n1-proxy in front
 * of layer 1 starts holding back everything entering it. In a cascade every node's loops
 * cross layer 1 (and layer 1's come home through it), so they stop coming back, and the
 * loop-loss alarm (mixlab_loop_alarm) fires. Bound: from the start of the attack, the alarm
 * is due after timeout − round trip + k/λ on average (expectedLoopAlarmDelayMs, k = 5 losses
 * of a window of 10, λ = 4 loops/s: 1.25 s); the test allows the timeout plus 4 s (k/λ is
 * Gamma(5, 4/s): beyond 4 s with probability under 1e-3) plus two Prometheus scrapes (2 s each).
 * Once the attack stops, loops come back and the alarm clears.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectedLoopAlarmDelayMs } from '@mixlab/attacks';
import { cryptoReady } from '@mixlab/crypto';
import { type Cascade, eventually, queryByLabel, startCascade } from '@mixlab/testbed';

const LOOP_RATE = 4;
const TIMEOUT_MS = 3_000;
const ALARM = { timeoutMs: TIMEOUT_MS, window: 10, threshold: 0.5 };
const SCRAPE_MS = 2_000;
const BOUND_MS = TIMEOUT_MS + 4_000 + 2 * SCRAPE_MS;

describe('the loop-loss alarm under an n − 1 attack', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade(
      {
        MIXLAB_STRATEGY: 'threshold:n=3,maxWait=500ms',
        MIXLAB_N1_THRESHOLD: '3',
        MIXLAB_LOOP_RATE: String(LOOP_RATE),
        MIXLAB_LOOP_TIMEOUT_MS: String(TIMEOUT_MS),
        MIXLAB_LOOP_ALARM_WINDOW: String(ALARM.window),
        MIXLAB_LOOP_ALARM_THRESHOLD: String(ALARM.threshold),
      },
      { attack: true },
    );
  });

  after(async () => {
    await cascade?.stop();
  });

  it(`fires within ${BOUND_MS} ms of the attack's start, and clears after it`, async () => {
    const { prometheusUrl, n1ProxyUrl } = cascade as Cascade;
    const query = (expr: string) => queryByLabel(prometheusUrl, expr, 'layer');
    // Quiet first: a full window of loops back at layer 1, and every layer's alarm scraped (a
    // node that registered last may not have been scraped yet), none firing.
    await eventually(
      'loops back at layer 1, every layer scraped',
      async () => {
        const back = await query('sum by (layer) (mixlab_loops_total{origin="node",event="returned"})');
        const scraped = Object.keys(await query('max by (layer) (mixlab_loop_alarm)')).length === 3;
        return scraped && (back['1'] ?? 0) >= ALARM.window ? back : undefined;
      },
      60_000,
      1_000,
    );
    const roundTrip = await query(
      'sum by (layer) (mixlab_loop_round_trip_seconds_sum) / sum by (layer) (mixlab_loop_round_trip_seconds_count)',
    );
    assert.deepEqual(await query('max by (layer) (mixlab_loop_alarm)'), { 1: 0, 2: 0, 3: 0 }, 'no alarm before');

    const started = Date.now();
    const response = await fetch(`${n1ProxyUrl}/attack/start`, { method: 'POST' });
    assert.equal(response.status, 200, await response.text());
    const alarms = await eventually(
      'the alarm at layer 1',
      async () => {
        const firing = await query('max by (layer) (mixlab_loop_alarm)');
        return firing['1'] === 1 ? firing : undefined;
      },
      BOUND_MS,
      250,
    );
    const firedAfterMs = Date.now() - started;
    const expectedMs = expectedLoopAlarmDelayMs(LOOP_RATE, Math.min(TIMEOUT_MS, (roundTrip['1'] ?? 0) * 1000), ALARM);
    console.log(
      `loop-loss alarm at layer 1 seen ${firedAfterMs} ms into the attack (expected ${Math.round(expectedMs)} ms + up to ${SCRAPE_MS} ms per scrape; mean round trip ${JSON.stringify(roundTrip)} s); alarms ${JSON.stringify(alarms)}`,
    );
    const ratio = await query('max by (layer) (mixlab_loop_loss_ratio)');
    assert.ok((ratio['1'] ?? 0) >= ALARM.threshold, `loss ratio ${JSON.stringify(ratio)}`);

    assert.equal((await fetch(`${n1ProxyUrl}/attack/stop`, { method: 'POST' })).status, 200);
    await eventually(
      'the alarm to clear',
      async () => {
        const firing = await query('max by (layer) (mixlab_loop_alarm)');
        return firing['1'] === 0 ? firing : undefined;
      },
      30_000,
      500,
    );
  });
});
