/** What the HTTP freshness of an answer depends on. */
export interface AnswerFreshness {
  /** 200, or 404 for a cached "no such product" (negative entries have no stale grace). */
  status: number;
  /** When the server's copy goes stale (epoch ms); absent when no cached copy backs the answer. */
  softExpiresAt?: number;
}

export interface FreshnessPolicy {
  /** Longest `max-age` a client is told, in ms (`CACHE_HTTP_MAX_AGE_MS`). */
  httpMaxAgeMs: number;
  /** How long past its soft TTL the server itself serves a copy, in ms (`CACHE_STALE_GRACE_MS`). */
  staleGraceMs: number;
}

const seconds = (ms: number) => Math.max(0, Math.floor(ms / 1000));

/**
 * `Cache-Control` for a cached read, from the server's own TTLs (RFC 9111, RFC 5861), so that a
 * client never keeps a copy longer than the server would serve it: `max-age` is at most what
 * is left of the server copy's freshness (and `httpMaxAgeMs`), and `stale-while-revalidate` /
 * `stale-if-error` what is left of its stale grace after that. An answer no cached copy backs
 * (bypass) is `no-cache`: usable only after revalidation, which the ETag makes a cheap 304.
 */
export function cacheControl(
  answer: AnswerFreshness,
  policy: FreshnessPolicy,
  now: number = Date.now(),
): string {
  const { softExpiresAt } = answer;
  if (softExpiresAt === undefined) return 'no-cache';
  const fresh = Math.max(0, softExpiresAt - now);
  const maxAge = `public, max-age=${seconds(Math.min(fresh, policy.httpMaxAgeMs))}`;
  if (answer.status !== 200) return maxAge;
  // The server serves the copy until softExpiresAt + grace; the client's copy, received now,
  // is used for at most max-age + this, which ends no later.
  const grace = seconds(Math.min(policy.staleGraceMs, softExpiresAt + policy.staleGraceMs - now));
  return `${maxAge}, stale-while-revalidate=${grace}, stale-if-error=${grace}`;
}
