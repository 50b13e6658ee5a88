import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import type { KeyBuilder } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import { clientIdentity, isValidApiKey } from './client-identity';
import { gcraStore } from './gcra-store';
import { rateLimitHeaders } from './ratelimit-headers';
import { allPolicies, selectPolicy, type Policy, type PolicySet } from './rate-limit-policy';

export interface RateLimitOptions {
  policies: PolicySet;
  /** Builds every rate-limit key (`<prefix>:fw|gcra:<policy>:<client>`). */
  keys: KeyBuilder;
  /** Off: the API key is still validated, nothing is counted. @default true */
  enabled?: boolean;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/** Probes and scrapes are never limited: a 429 on readiness would take the pod out. */
const EXEMPT = /^\/(health\/(live|ready)|metrics|docs)(\/|$)/;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request counts against, set before the limiter runs. */
    rateLimitSubject: string;
  }
}

/**
 * One @fastify/rate-limit instance per policy, each in its own encapsulated context so that it
 * has its own store: the plugin's Redis store (fixed window) or the GCRA store.
 */
async function createLimiter(
  app: FastifyInstance,
  policy: Policy,
  keys: KeyBuilder,
): Promise<Limiter> {
  let limiter: Limiter | undefined;
  await app.register(async (scope) => {
    const namespace = `${keys.key(policy.algorithm === 'gcra' ? 'gcra' : 'fw', policy.name)}:`;
    await scope.register(fastifyRateLimit, {
      global: false,
      max: policy.limit,
      timeWindow: policy.windowMs,
      keyGenerator: (request: FastifyRequest) => request.rateLimitSubject,
      skipOnError: false,
      ...(policy.algorithm === 'gcra'
        ? { store: gcraStore(app.redis, namespace) }
        : { redis: app.redis, nameSpace: namespace }),
    });
    limiter = scope.createRateLimit();
  });
  if (!limiter) throw new Error(`rate limiter for policy ${policy.name} was not created`);
  return limiter;
}

function windowText(windowMs: number): string {
  return windowMs % 60000 === 0 ? `${windowMs / 60000} min` : `${windowMs / 1000} s`;
}

/**
 * Limits every request (404s included, probes excluded) by the policy that matches it, counted
 * in Redis so the limit holds across all replicas. When Redis cannot decide within its command
 * timeout, a fail-open policy lets the request through and a fail-closed one answers 503.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  options: RateLimitOptions,
): Promise<void> {
  const decisions = app.prom.counter({
    name: 'ratelimit_decisions_total',
    help: 'Rate-limit decisions by policy and result (allowed, limited, fail_open, fail_closed)',
    labelNames: ['policy', 'result'] as const,
  });
  const limiters = new Map<string, Limiter>();
  if (options.enabled !== false) {
    for (const policy of allPolicies(options.policies)) {
      limiters.set(policy.name, await createLimiter(app, policy, options.keys));
    }
  }
  app.decorateRequest('rateLimitSubject', '');
  let lastWarning = 0;

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0];
    if (EXEMPT.test(path)) return;
    const header = request.headers['x-api-key'];
    if (header !== undefined && !isValidApiKey(header)) {
      throw new DomainError(
        400,
        'INVALID_API_KEY',
        'x-api-key must be one value of 16 to 128 characters A-Z a-z 0-9 _ -',
      );
    }
    const policy = selectPolicy(options.policies, request.method, path, header);
    const limiter = limiters.get(policy.name);
    if (!limiter) return;
    request.rateLimitSubject = clientIdentity(header, request.ip);

    let result: Awaited<ReturnType<Limiter>>;
    try {
      result = await limiter(request);
    } catch (error) {
      if (Date.now() - lastWarning > 5000) {
        lastWarning = Date.now();
        request.log.warn({ err: error, policy: policy.name }, 'rate limiter unavailable');
      }
      if (policy.failMode === 'closed') {
        decisions.inc({ policy: policy.name, result: 'fail_closed' });
        throw unavailable(
          'RATE_LIMIT_UNAVAILABLE',
          'The rate limiter cannot decide now; retry shortly',
          1,
        );
      }
      decisions.inc({ policy: policy.name, result: 'fail_open' });
      return;
    }
    if (result.isAllowed) return;

    if (result.isExceeded) {
      decisions.inc({ policy: policy.name, result: 'limited' });
      throw new DomainError(
        429,
        'RATE_LIMITED',
        `Rate limit of ${policy.limit} requests per ${windowText(policy.windowMs)} exceeded; retry in ${result.ttlInSeconds} s`,
        rateLimitHeaders(policy, {
          limit: result.max,
          remaining: 0,
          resetSeconds: result.ttlInSeconds,
          retryAfterSeconds: result.ttlInSeconds,
        }),
      );
    }
    decisions.inc({ policy: policy.name, result: 'allowed' });
    reply.headers(
      rateLimitHeaders(policy, {
        limit: result.max,
        remaining: result.remaining,
        resetSeconds: result.ttlInSeconds,
      }),
    );
  });
}
