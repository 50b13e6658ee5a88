import type { Policy } from './rate-limit-policy';

/** The outcome of one limiter call, in the units the headers use. */
export interface LimitState {
  limit: number;
  remaining: number;
  /** Seconds until the quota is fully (fixed window: entirely) available again. */
  resetSeconds: number;
  /** Seconds until a request would pass; only set when it was refused. */
  retryAfterSeconds?: number;
}

/**
 * The headers of a limited response: the IETF fields of draft-ietf-httpapi-ratelimit-headers
 * (`RateLimit-Policy: "name";q=limit;w=window`, `RateLimit: "name";r=remaining;t=reset`), the
 * de-facto `x-ratelimit-*` trio, and `Retry-After` on a refusal.
 */
export function rateLimitHeaders(policy: Policy, state: LimitState): Record<string, string> {
  const windowSeconds = Math.max(1, Math.ceil(policy.windowMs / 1000));
  const headers: Record<string, string> = {
    'ratelimit-policy': `"${policy.name}";q=${policy.limit};w=${windowSeconds}`,
    ratelimit: `"${policy.name}";r=${state.remaining};t=${state.resetSeconds}`,
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': String(state.resetSeconds),
  };
  if (state.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(state.retryAfterSeconds);
  }
  return headers;
}
