/**
 * Reconnect delays: exponential, capped, with jitter so that many pages that lost
 * the same server do not all come back in the same millisecond.
 */
export interface BackoffPolicy {
  /** Delay ceiling of the first retry. */
  baseMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

export const RECONNECT_POLICY: BackoffPolicy = { baseMs: 250, maxMs: 8000 };

/** The delay ceiling of retry number `attempt` (0 for the first). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = RECONNECT_POLICY): number {
  const exp = policy.baseMs * 2 ** Math.max(0, Math.min(attempt, 30));
  return Math.min(policy.maxMs, exp);
}

/**
 * "Equal jitter": a delay in `[ceiling / 2, ceiling]`, so it grows with each
 * attempt yet never collapses to zero.
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  policy: BackoffPolicy = RECONNECT_POLICY,
): number {
  const ceiling = backoffCeiling(attempt, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (r * ceiling) / 2);
}
