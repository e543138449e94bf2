import { Histogram, type Registry } from 'prom-client';

/**
 * The stages of one message's way through the cascade, where each is timed (bounded label set):
 * - gateway_submit: a client's POST /v1/packets at the gateway, from its arrival to layer 1's answer
 * - hop_peel: a mix node removing its layer from a request's packets
 * - hop_queue: a packet's wait in a mix node's pool (its mixing delay, at finer resolution)
 * - hop_forward: a released batch's request to the next layer, until that node answers
 * - exit_delivery: an exit node's request to the gateway (or a node's loop), until it answers
 * - gateway_delivery: an exit node's POST /v1/deliveries at the gateway, arrival to stored and pushed
 * - mailbox_push: a stored message's WebSocket frame, from send to written to the socket
 */
export const STAGES = [
  'gateway_submit',
  'hop_peel',
  'hop_queue',
  'hop_forward',
  'exit_delivery',
  'gateway_delivery',
  'mailbox_push',
] as const;
export type Stage = (typeof STAGES)[number];

/** 0.1 ms to about 6.5 s, doubling: a floor of a few milliseconds is visible, and so is a tail of seconds. */
export const STAGE_BUCKETS = Array.from({ length: 17 }, (_, i) => 0.0001 * 2 ** i);

/** mixlab_stage_seconds{stage}: where a message's time goes, stage by stage. */
export function stageMetrics(registry: Registry): Histogram<'stage'> {
  return new Histogram({
    name: 'mixlab_stage_seconds',
    help: 'Time per stage of a message through the cascade (see STAGES in @mixlab/metrics).',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
}
