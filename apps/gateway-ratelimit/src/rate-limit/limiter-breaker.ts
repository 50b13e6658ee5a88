import CircuitBreaker from 'opossum';
import { isRedisUnavailable } from '@redis-patterns/redis-core';

export interface LimiterBreakerOptions {
  /** How long the breaker stays open before one background probe. @default 1000 */
  resetMs?: number;
  /**
   * Longest a probe may take: one that never settles would leave the breaker half-open, and
   * every decision local, for good. @default 1000
   */
  probeTimeoutMs?: number;
  /** Share of failed decisions (within `windowMs`) that opens it. @default 50 */
  errorPercentage?: number;
  /** Rolling window of the failure share. @default 1000 */
  windowMs?: number;
  /**
   * Fewest decisions in the window before it may open, so that a few slow commands under load
   * do not switch a healthy Redis off for every client. @default 5
   */
  minimumCalls?: number;
  onStateChange?: (state: 'closed' | 'half_open' | 'open') => void;
}

/** A command that got no answer within its timeout: the wait the breaker exists to avoid. */
export function isStall(error: unknown): boolean {
  return isRedisUnavailable(error) && /^Command timed out/.test((error as Error).message);
}

/** The error of a decision refused by the open breaker: Redis is treated as away. */
export function isBreakerOpen(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'EOPENBREAKER';
}

/**
 * A circuit breaker (opossum) around the limiter's Redis calls, so that a stalled Redis costs
 * one command timeout per request only until the breaker opens; then every decision fails at
 * once (< 1 ms) into the policy's fail mode. Only command timeouts count (a WRONGTYPE is a
 * bug, not an outage; a refused connection is already fast). While open, one probe runs in the background after `resetMs`, never a
 * client's request, so no client waits for a Redis that is still stalled; the breaker closes
 * when it answers. The probe is a real decision (a write), not a PING: a client left on a demoted
 * master answers PING but refuses writes (READONLY), and only a refused write makes it reconnect.
 */
export class LimiterBreaker {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(probe: () => Promise<unknown>, options: LimiterBreakerOptions = {}) {
    this.breaker = new CircuitBreaker((task: () => Promise<unknown>) => task(), {
      timeout: false,
      resetTimeout: options.resetMs ?? 1000,
      errorThresholdPercentage: options.errorPercentage ?? 50,
      rollingCountTimeout: options.windowMs ?? 1000,
      rollingCountBuckets: 10,
      volumeThreshold: options.minimumCalls ?? 5,
      // Only stalls open it: a refused or closed connection, READONLY, CLUSTERDOWN already fail
      // within a millisecond, and answering those fast from Redis itself keeps the client
      // sending, which is what moves it to a promoted master (measured: a breaker opened by a
      // Sentinel master's SIGKILL after a failover kept decisions local for over 20 s).
      errorFilter: (error: unknown) => !isStall(error),
      rollingPercentilesEnabled: false,
    });
    const report = options.onStateChange ?? (() => {});
    this.breaker.on('open', () => report('open'));
    this.breaker.on('close', () => report('closed'));
    const probeTimeoutMs = options.probeTimeoutMs ?? 1000;
    const boundedProbe = () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        // Worded as ioredis words it, so that it counts as "Redis away".
        timer = setTimeout(() => reject(new Error('Command timed out')), probeTimeoutMs);
      });
      return Promise.race([probe(), deadline]).finally(() => clearTimeout(timer));
    };
    this.breaker.on('halfOpen', () => {
      report('half_open');
      this.breaker.fire(boundedProbe).catch(() => {});
    });
  }

  /** Runs one Redis call through the breaker (rejects with EOPENBREAKER while open). */
  run<T>(task: () => Promise<T>): Promise<T> {
    return this.breaker.fire(task) as Promise<T>;
  }

  get isOpen(): boolean {
    return !this.breaker.closed;
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
