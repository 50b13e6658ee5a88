/** Why one Redlock attempt failed. */
export type AttemptFailure = 'contended' | 'unavailable';

/**
 * Classifies a failed attempt from the errors of the masters that voted against it. When more
 * masters failed for another reason than "already locked" than the quorum can spare, no amount
 * of waiting for the current holder helps: the caller fails at once instead of retrying.
 */
export function classifyFailure(
  errors: Array<{ locked: boolean }>,
  masters: number,
  quorum: number,
): AttemptFailure {
  const broken = errors.filter((error) => !error.locked).length;
  return broken > masters - quorum ? 'unavailable' : 'contended';
}

/** The pause before the next attempt: `delay` ± up to `jitter`, never negative. */
export function retryDelay(delayMs: number, jitterMs: number, random: () => number = Math.random) {
  return Math.max(0, delayMs + Math.round((random() * 2 - 1) * jitterMs));
}

/**
 * Seconds a client should wait before retrying after a LOCK_NOT_ACQUIRED, at least 1 (the
 * header has whole seconds), about one lease.
 */
export function retryAfterSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}
