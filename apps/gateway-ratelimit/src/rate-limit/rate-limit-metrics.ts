import type { FastifyInstance } from 'fastify';

/** Share of a limit left below which an admitted request counts as near the limit (envoy's 80 %). */
export const NEAR_LIMIT = 0.2;

/** The limiter's Prometheus metrics (on the app's registry). */
export function rateLimitMetrics(app: FastifyInstance) {
  const decisions = app.prom.counter({
    name: 'ratelimit_decisions_total',
    help: 'Rate-limit decisions by policy and result (allowed, limited, shadow_limited, fail_open, local_limited, fail_closed)',
    labelNames: ['policy', 'result'] as const,
  });
  const nearLimit = app.prom.counter({
    name: 'ratelimit_near_limit_total',
    help: `Admitted requests that left less than ${NEAR_LIMIT * 100} % of a limit, by policy`,
    labelNames: ['policy'] as const,
  });
  const breakerOpen = app.prom.gauge({
    name: 'ratelimit_breaker_open',
    help: '1 while the circuit breaker on the limiter Redis is open or half-open, else 0',
  });
  const reloads = app.prom.counter({
    name: 'ratelimit_policy_reloads_total',
    help: 'Policy file reloads by result (ok, invalid: the policies in force were kept)',
    labelNames: ['result'] as const,
  });
  const decisionTime = app.prom.histogram({
    name: 'ratelimit_decision_duration_seconds',
    help: 'Time to decide a request, by what Redis did (answered, failed, breaker_open: not asked)',
    labelNames: ['redis'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  breakerOpen.set(0);
  return { decisions, nearLimit, breakerOpen, reloads, decisionTime };
}

export type RateLimitMetrics = ReturnType<typeof rateLimitMetrics>;
