export * from './closed-forms.ts';
export * from './entropy.ts';
export {
  AnonymityObserver,
  type DeliveryObservation,
  type NodeOutput,
  type Observation,
  type ObserverOptions,
  type ObserverStats,
  type PushObservation,
  type SenderAnonymity,
  type SenderDistribution,
  senderAnonymity,
} from './observer.ts';
export * from './scoring.ts';
export { checkWireEvent, type MixNodeRole, type Roles, type WireEvent, WireTraceError } from './wire.ts';
