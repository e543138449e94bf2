/**
 * One live run of the attack lab: a fresh compose cascade (one strategy, one packet format),
 * seeded `mixlab load` traffic from this process, then the observer's wire trace (what the
 * attacks read) and, kept apart, the load generator's truth (what only the scorer reads).
 * Shared by `npm run experiment -- attacks` and tests/attacks.test.ts.
 */
import type { DeliveryEstimate } from '@mixlab/anonymity';
import { joinTruth, type RecordedTrace, rolesOfTrace, sendersOf, traceEnds } from '@mixlab/attacks';
import { fetchTrace } from '@mixlab/cli/attack';
import { MixnetClient } from '@mixlab/client';
import { generateKeyPair } from '@mixlab/crypto';
import { type LoadSummary, type LoadTruth, type PlantedTarget, runLoad } from '@mixlab/load';
import { type Cascade, eventually, startCascade } from '@mixlab/testbed';

export interface AttackRunSettings {
  readonly strategy: string;
  readonly packetFormat: 'sphinx' | 'onion';
  readonly clients: number;
  readonly ratePerClient: number;
  readonly durationMs: number;
  readonly drainMs: number;
  readonly seed: number;
  /** Message bodies are drawn uniformly from this range (onion shows their sizes). */
  readonly bodyBytes: { readonly min: number; readonly max: number };
  /** Danezis' model: one client sends to m friends only (see @mixlab/load's plantedTarget). */
  readonly plantedTarget?: PlantedTarget;
  /** Client drop cover per client per second (default none). */
  readonly dropRatePerClient?: number;
  /** Every mix node's loop cover per second (MIXLAB_LOOP_RATE; default 0: none). */
  readonly nodeLoopRate?: number;
  readonly log?: (line: string) => void;
}

export interface AttackRunCapture {
  readonly trace: RecordedTrace;
  readonly truth: LoadTruth;
  readonly summary: LoadSummary;
  /** The observer's own per-push estimates (its exact-marginal model), over the senders: a reference. */
  readonly observerEstimates: DeliveryEstimate[];
  readonly senders: readonly string[];
  readonly startSeconds: number;
}

interface ObserverPushes {
  readonly pushes: readonly {
    readonly to: string;
    readonly order: number;
    readonly senders: Readonly<Record<string, number>>;
    readonly unattributed: number;
  }[];
}

/** Starts the cascade, runs the load, waits for the observer to have every push, reads trace and estimates, stops. */
export async function captureAttackRun(settings: AttackRunSettings): Promise<AttackRunCapture> {
  const log = settings.log ?? (() => {});
  const began = Date.now();
  let cascade: Cascade | undefined;
  try {
    cascade = await startCascade({
      MIXLAB_STRATEGY: settings.strategy,
      MIXLAB_PACKET_FORMAT: settings.packetFormat,
      MIXLAB_LOOP_RATE: String(settings.nodeLoopRate ?? 0),
    });
    const { gatewayUrl, directoryKey, observerUrl } = cascade;
    await eventually('every layer in the topology', async () => {
      const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
      return topology.layers.length === 3 && topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
    });
    const startSeconds = (Date.now() - began) / 1000;
    log(`cascade up in ${startSeconds.toFixed(1)} s, sending`);
    const errors = new Set<string>();
    const { summary, truth } = await runLoad({
      clients: settings.clients,
      ratePerClient: settings.ratePerClient,
      durationMs: settings.durationMs,
      drainMs: settings.drainMs,
      strategy: settings.strategy,
      seed: settings.seed,
      bodyBytes: settings.bodyBytes,
      ...(settings.plantedTarget ? { plantedTarget: settings.plantedTarget } : {}),
      ...(settings.dropRatePerClient ? { dropRatePerClient: settings.dropRatePerClient } : {}),
      connect: (random) => new MixnetClient(gatewayUrl, { directoryKey, random }),
      generateKeys: generateKeyPair,
      onError: (error) => {
        if (!errors.has(error.message)) log(`load: ${error.message}`);
        errors.add(error.message);
      },
    });
    if (summary.sent === 0) throw new Error(`no message was sent: ${[...errors].join('; ')}`);
    // The observer lags the wire by its slack; wait until every receipt's push is in its trace.
    const received = truth.messages.filter((message) => message.receivedAtMs !== null).length;
    const trace = await eventually(
      'the observer to have recorded every push',
      async () => {
        const recorded = await fetchTrace(observerUrl);
        const { pushes } = traceEnds(recorded.events, rolesOfTrace(recorded));
        return pushes.length >= received ? recorded : undefined;
      },
      30_000,
      1_000,
    );
    const senders = sendersOf(trace.events, rolesOfTrace(trace));
    const estimates = (await (await fetch(new URL('/v1/estimates', observerUrl))).json()) as ObserverPushes;
    const observerEstimates = estimates.pushes.map((push) => ({
      recipient: push.to,
      order: push.order as number,
      senders: {
        probabilities: Float64Array.from(senders, (name) => push.senders[name] ?? 0),
        unattributed: push.unattributed,
      },
    }));
    log(`${summary.sent} sent, ${summary.delivered} delivered, ${trace.events.length} wire events`);
    return { trace, truth, summary, observerEstimates, senders, startSeconds };
  } finally {
    await cascade?.stop().catch((error: Error) => log(`stopping the cascade failed: ${error.message}`));
  }
}

/** The client connection the planted target submitted on (the scorer's join names it), if any. */
export function targetSlot(capture: AttackRunCapture): string | undefined {
  const target = capture.truth.target;
  if (!target) return undefined;
  return joinTruth(capture.truth, capture.trace.events, rolesOfTrace(capture.trace)).senderSlots[target.client];
}
