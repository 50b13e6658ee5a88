import type { Limit } from './rate-limit-policy';

/** The outcome of one limit, in the units the headers use. */
export interface LimitState {
  remaining: number;
  /** Seconds until the quota is fully (fixed window: entirely) available again. */
  resetSeconds: number;
  /** Seconds until a request would pass; only set when it was refused. */
  retryAfterSeconds?: number;
}

/**
 * The headers of a limited response, for the limit that binds (the refusing one, or the one
 * with the least left): the IETF fields of draft-ietf-httpapi-ratelimit-headers
 * (`RateLimit-Policy: "name";q=limit;w=window`, `RateLimit: "name";r=remaining;t=reset`), the
 * de-facto `x-ratelimit-*` trio, and `Retry-After` on a refusal. A concurrency limit has no
 * window: `w=0`.
 */
export function rateLimitHeaders(
  name: string,
  limit: Limit,
  state: LimitState,
): Record<string, string> {
  const windowSeconds =
    limit.algorithm === 'concurrency' ? 0 : Math.max(1, Math.ceil(limit.windowMs / 1000));
  const headers: Record<string, string> = {
    'ratelimit-policy': `"${name}";q=${limit.limit};w=${windowSeconds}`,
    ratelimit: `"${name}";r=${state.remaining};t=${state.resetSeconds}`,
    'x-ratelimit-limit': String(limit.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': String(state.resetSeconds),
  };
  if (state.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(state.retryAfterSeconds);
  }
  return headers;
}
