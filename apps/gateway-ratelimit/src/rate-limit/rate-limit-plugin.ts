import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { KeyBuilder } from '@redis-patterns/redis-core';
import type { ApiKeyRegistry } from './api-key-registry';
import { LimiterBreaker, type LimiterBreakerOptions } from './limiter-breaker';
import { PolicyStore } from './policy-store';
import { rateLimitMetrics } from './rate-limit-metrics';
import { breakerProbeKey } from './rate-limit-keys';
import type { PolicySet } from './rate-limit-policy';
import { decideLimits, type LimitCall } from './rate-limit-scripts';
import { RateLimiter, type LimitedRequest, type Selected } from './rate-limiter';

export interface RateLimitOptions {
  policies: PolicySet;
  /** Reload the policies from this file when it changes. @default none */
  policiesFile?: string;
  /** The issued API keys. */
  apiKeys: ApiKeyRegistry;
  /** Builds every rate-limit key (see rate-limit-keys.ts). */
  keys: KeyBuilder;
  /** Off: API keys are still checked, nothing is counted. */
  enabled: boolean;
  /** Gateway replicas sharing the limits; the local limit while Redis is away is limit / replicas. */
  replicas: number;
  breaker: LimiterBreakerOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The limiter every proxied request and WebSocket upgrade is decided by. */
    rateLimiter: RateLimiter;
  }
  interface FastifyRequest {
    /** Set when the policy needs the body (a `username` limit): decided in preHandler. */
    rateLimitPending: Selected | null;
  }
}

function limitedRequest(request: FastifyRequest, reply: FastifyReply): LimitedRequest {
  return {
    method: request.method,
    path: request.gatewayPath,
    ip: request.ip,
    apiKey: request.headers['x-api-key'],
    closed: reply.raw,
    log: request.log,
  };
}

/** The policies (reloaded from their file), the breaker on the limiter's Redis, the limiter. */
function buildLimiter(app: FastifyInstance, options: RateLimitOptions): RateLimiter {
  const metrics = rateLimitMetrics(app);
  const store = new PolicyStore({
    initial: options.policies,
    file: options.policiesFile,
    log: app.log,
    validate: (set) => {
      for (const tier of options.apiKeys.tiers()) {
        if (!set.tiers.has(tier)) throw new Error(`API keys name tier "${tier}", which it lacks`);
      }
    },
    onReload: (result) => metrics.reloads.inc({ result }),
  });
  // The breaker's probe: one decision on a key of its own, under a limit it never reaches.
  const probeCall: LimitCall = {
    key: breakerProbeKey(options.keys),
    limit: {
      ...store.current.default.limits[0],
      algorithm: 'fixed-window',
      limit: 1_000_000_000,
      windowMs: 60_000,
    },
    cost: 1,
    member: '',
  };
  const breaker = new LimiterBreaker(() => decideLimits(app.redis, [probeCall]), {
    ...options.breaker,
    onStateChange: (state) => {
      metrics.breakerOpen.set(state === 'closed' ? 0 : 1);
      app.log.warn({ state }, 'rate limiter circuit breaker');
    },
  });
  const limiter = new RateLimiter({
    redis: app.redis,
    keys: options.keys,
    apiKeys: options.apiKeys,
    store,
    breaker,
    metrics,
    enabled: options.enabled,
    replicas: options.replicas,
  });
  app.addHook('onClose', async () => {
    breaker.shutdown();
    limiter.close();
    store.close();
  });
  return limiter;
}

/**
 * Limits every proxied request (unknown routes included; the gateway's own probes, metrics and
 * docs excluded) by the policy that matches its normalised path; the proxy's WebSocket upgrades
 * go through the same `app.rateLimiter` (see upgrade-proxy.ts).
 */
async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const limiter = buildLimiter(app, options);
  app.decorate('rateLimiter', limiter);
  app.decorateRequest('rateLimitPending', null);

  app.addHook('onRequest', async (request, reply) => {
    // The gateway's own routes (probes, metrics, docs) are not limited: a 429 on readiness would
    // take the pod out. Everything else is the proxy's catch-all or a 404, and is.
    const route = request.routeOptions.url;
    if (route !== undefined && route !== '/*') return;
    const target = limitedRequest(request, reply);
    const selected = await limiter.select(target);
    if (!selected) return;
    if (selected.policy.limits.some((limit) => limit.by === 'username')) {
      request.rateLimitPending = selected;
      return;
    }
    reply.headers(await limiter.enforce(target, selected));
  });

  app.addHook('preHandler', async (request, reply) => {
    const pending = request.rateLimitPending;
    if (!pending) return;
    request.rateLimitPending = null;
    reply.headers(await limiter.enforce(limitedRequest(request, reply), pending, request.body));
  });
}

export const RATE_LIMIT_PLUGIN = 'gateway-ratelimit-rate-limit';

export default fp(rateLimitPlugin, {
  name: RATE_LIMIT_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/metrics', 'gateway-ratelimit-gateway-request'],
});
