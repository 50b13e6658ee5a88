import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { KeyBuilder, RedisClient } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { ApiKeyRegistry, Consumer } from './api-key-registry';
import { clientIdentity, isValidApiKey, usernameSubject } from './client-identity';
import { ConcurrencyLeases } from './concurrency-leases';
import { isBreakerOpen, type LimiterBreaker } from './limiter-breaker';
import { LocalLimiter } from './local-limiter';
import type { PolicyStore } from './policy-store';
import { NEAR_LIMIT, type RateLimitMetrics } from './rate-limit-metrics';
import { limitKeys } from './rate-limit-keys';
import { failureOutcome, selectPolicy, type Limit, type Policy } from './rate-limit-policy';
import { decideLimits, type Decision, type LimitCall } from './rate-limit-scripts';
import { rateLimitHeaders } from './ratelimit-headers';

/** What the limiter needs of a request or an upgrade, whichever arrived. */
export interface LimitedRequest {
  method: string;
  /** The normalised path (what routes and the upstream see). */
  path: string;
  /** The client address (after TRUST_PROXY). */
  ip: string;
  apiKey: string | string[] | undefined;
  /** Emits 'close' when the request (or the upgraded socket) is over: releases its leases. */
  closed: EventEmitter;
  log: FastifyBaseLogger;
}

/** The policy a request falls under and who sent it. */
export interface Selected {
  policy: Policy;
  consumer: Consumer | undefined;
}

export interface RateLimiterDeps {
  redis: RedisClient;
  keys: KeyBuilder;
  apiKeys: ApiKeyRegistry;
  store: PolicyStore;
  breaker: LimiterBreaker;
  metrics: RateLimitMetrics;
  enabled: boolean;
  replicas: number;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

function windowText(limit: Limit): string {
  const { windowMs } = limit;
  return windowMs % 60000 === 0 ? `${windowMs / 60000} min` : `${windowMs / 1000} s`;
}

/** The 429 for a refused decision: the limit that refuses longest names the headers. */
function refusal(policy: Policy, decision: Decision): DomainError {
  let at = decision.limits.findIndex((outcome) => !outcome.allowed);
  decision.limits.forEach((outcome, i) => {
    if (!outcome.allowed && outcome.retryAfterMs > decision.limits[at].retryAfterMs) at = i;
  });
  const limit = policy.limits[at];
  const retry = Math.max(1, seconds(decision.limits[at].retryAfterMs));
  const headers = rateLimitHeaders(policy.name, limit, {
    remaining: 0,
    resetSeconds: retry,
    retryAfterSeconds: retry,
  });
  const message =
    limit.algorithm === 'concurrency'
      ? `Concurrency limit of ${limit.limit} requests in flight exceeded; retry in ${retry} s`
      : `Rate limit of ${limit.limit} requests per ${windowText(limit)} exceeded; retry in ${retry} s`;
  return new DomainError(429, 'RATE_LIMITED', message, headers);
}

/**
 * One decision per request, HTTP or WebSocket upgrade alike: the API key checked, the policy
 * matched on the normalised path, all of its limits decided in one script call on Redis (so the
 * limits hold across all replicas). When Redis cannot decide, the breaker makes that known at
 * once: fail-open policies then apply a local limit of limit / replicas, fail-closed ones 503.
 */
export class RateLimiter {
  private readonly local: LocalLimiter;
  private readonly leases: ConcurrencyLeases;
  private readonly instance = randomUUID().slice(0, 8);
  private sequence = 0;
  private lastWarning = 0;

  constructor(private readonly deps: RateLimiterDeps) {
    this.local = new LocalLimiter(deps.replicas);
    this.leases = new ConcurrencyLeases(deps.redis, this.local, () => deps.breaker.isOpen);
  }

  /**
   * The policy of `request` (`null` with limiting off), after its API key: a malformed key is
   * 400, an unknown one 401 after costing the sender's address quota (no way around a limit).
   */
  async select(request: LimitedRequest): Promise<Selected | null> {
    const header = request.apiKey;
    let consumer: Consumer | undefined;
    if (header !== undefined) {
      if (!isValidApiKey(header)) {
        throw new DomainError(
          400,
          'INVALID_API_KEY',
          'x-api-key must be one value of 16 to 128 characters A-Z a-z 0-9 _ -',
        );
      }
      consumer = this.deps.apiKeys.lookup(header);
      if (!consumer) {
        const { store, enabled } = this.deps;
        if (enabled) await this.enforce(request, { policy: store.current.default, consumer });
        throw new DomainError(401, 'INVALID_API_KEY', 'x-api-key is not an issued key');
      }
    }
    if (!this.deps.enabled) return null;
    const set = this.deps.store.current;
    return { policy: selectPolicy(set, request.method, request.path, consumer?.tier), consumer };
  }

  /** Both steps at once, for a request without a body (an upgrade): the headers to send. */
  async check(request: LimitedRequest): Promise<Record<string, string>> {
    const selected = await this.select(request);
    return selected ? this.enforce(request, selected) : {};
  }

  /** Decides `request` under its policy: the rate-limit headers to send, or throws 429 / 503. */
  async enforce(
    request: LimitedRequest,
    { policy, consumer }: Selected,
    body?: unknown,
  ): Promise<Record<string, string>> {
    const { decisions } = this.deps.metrics;
    const calls = this.callsOf(request, policy, consumer, body);
    const { decision, local: isLocal } = await this.decide(request, policy, calls);
    if (!decision.allowed) {
      if (policy.mode === 'shadow') {
        decisions.inc({ policy: policy.name, result: 'shadow_limited' });
        return {};
      }
      decisions.inc({ policy: policy.name, result: isLocal ? 'local_limited' : 'limited' });
      throw refusal(policy, decision);
    }
    decisions.inc({ policy: policy.name, result: isLocal ? 'fail_open' : 'allowed' });
    this.leases.hold(request.closed, calls, isLocal);
    let binding = 0;
    decision.limits.forEach((outcome, i) => {
      const share = outcome.remaining / policy.limits[i].limit;
      if (share < decision.limits[binding].remaining / policy.limits[binding].limit) binding = i;
    });
    const tightest = decision.limits[binding];
    if (tightest.remaining < NEAR_LIMIT * policy.limits[binding].limit) {
      this.deps.metrics.nearLimit.inc({ policy: policy.name });
    }
    // Headers report what Redis counted; a local or shadow decision carries none.
    if (isLocal || policy.mode === 'shadow') return {};
    return rateLimitHeaders(policy.name, policy.limits[binding], {
      remaining: tightest.remaining,
      resetSeconds: seconds(tightest.resetMs),
    });
  }

  close(): void {
    this.leases.close();
    this.local.close();
  }

  private callsOf(
    request: LimitedRequest,
    policy: Policy,
    consumer: Consumer | undefined,
    body: unknown,
  ): LimitCall[] {
    const subjects = policy.limits.map((limit) => {
      if (limit.by === 'username') return usernameSubject(body);
      return clientIdentity(limit.by === 'ip' ? undefined : consumer?.name, request.ip);
    });
    const keys = limitKeys(this.deps.keys, policy, subjects);
    const member = policy.limits.some((limit) => limit.algorithm === 'concurrency')
      ? `${this.instance}:${(this.sequence += 1)}`
      : '';
    return policy.limits.map((limit, i) => ({ key: keys[i], limit, cost: policy.cost, member }));
  }

  private async decide(
    request: LimitedRequest,
    policy: Policy,
    calls: LimitCall[],
  ): Promise<{ decision: Decision; local: boolean }> {
    const { breaker, metrics, redis } = this.deps;
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    try {
      const decision = await breaker.run(() => decideLimits(redis, calls));
      metrics.decisionTime.observe({ redis: 'answered' }, took());
      return { decision, local: false };
    } catch (error) {
      metrics.decisionTime.observe(
        { redis: isBreakerOpen(error) ? 'breaker_open' : 'failed' },
        took(),
      );
      const outcome = failureOutcome(policy, error);
      if (outcome === 'error') throw error;
      if (Date.now() - this.lastWarning > 5000) {
        this.lastWarning = Date.now();
        request.log.warn({ err: error, policy: policy.name }, 'rate limiter unavailable');
      }
      if (outcome === 'fail_closed') {
        metrics.decisions.inc({ policy: policy.name, result: 'fail_closed' });
        throw unavailable(
          'RATE_LIMIT_UNAVAILABLE',
          'The rate limiter cannot decide now; retry shortly',
          1,
        );
      }
      return { decision: this.local.decide(calls), local: true };
    }
  }
}
