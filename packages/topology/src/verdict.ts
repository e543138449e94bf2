/**
 * The convention for verifying untrusted input (descriptors, topologies), written once:
 * a verifier RETURNS a verdict, `{ ok: true, ... }` or a Rejection; it does not throw.
 *
 * Why a verdict: a refusal is an expected outcome of input from the network, not a fault
 * of the program. The union type makes every caller look at `ok` before it reads the
 * accepted value (the compiler refuses otherwise), callers branch and count on `reason`
 * without a try/catch that would also swallow real bugs, and `throw` stays reserved for
 * programming errors (a malformed pinned key, an impossible option). A caller whose own
 * contract is to fail (a fetch a cache retries) turns a rejection into an error at that
 * boundary, e.g. `new TopologyVerificationError(verdict.reason, verdict.problem)`.
 */
export interface Rejection<Reason extends string> {
  readonly ok: false;
  readonly reason: Reason;
  /** What is wrong and what to do about it, for logs and answers. */
  readonly problem: string;
}

export function rejection<Reason extends string>(reason: Reason, problem: string): Rejection<Reason> {
  return { ok: false, reason, problem };
}
