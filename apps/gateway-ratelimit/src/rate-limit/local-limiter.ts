import type { Decision, LimitCall, LimitOutcome } from './rate-limit-scripts';

interface Window {
  endsAt: number;
  count: number;
}

/**
 * The limiter of last resort, in this process only, for fail-open policies while Redis cannot
 * decide: each limit becomes limit / replicas (at least 1), so the replicas together admit
 * about the configured limit instead of everything. Rate limits count in fixed windows of
 * their `windowMs`; concurrency limits count this process' requests in flight.
 */
export class LocalLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    /** How many gateway replicas share the configured limits. @default 1 */
    private readonly replicas = 1,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  /** The local share of a configured limit. */
  share(limit: number): number {
    return Math.max(1, Math.floor(limit / this.replicas));
  }

  /** Decides every limit of a request; counts it in all only if all admit it. */
  decide(calls: readonly LimitCall[]): Decision {
    const time = this.now();
    const limits: LimitOutcome[] = calls.map(({ key, limit, cost }) => {
      const max = this.share(limit.limit);
      if (limit.algorithm === 'concurrency') {
        const held = this.inFlight.get(key)?.size ?? 0;
        const allowed = held + 1 <= max;
        return {
          allowed,
          remaining: allowed ? max - held - 1 : 0,
          resetMs: 0,
          retryAfterMs: allowed ? 0 : 1000,
        };
      }
      const window = this.windows.get(key);
      const live = window && window.endsAt > time ? window : undefined;
      const count = live?.count ?? 0;
      const resetMs = live ? live.endsAt - time : limit.windowMs;
      const allowed = count + cost <= max;
      return {
        allowed,
        remaining: allowed ? max - count - cost : 0,
        resetMs,
        retryAfterMs: allowed ? 0 : resetMs,
      };
    });
    const allowed = limits.every((outcome) => outcome.allowed);
    if (allowed) {
      for (const { key, limit, cost, member } of calls) {
        if (limit.algorithm === 'concurrency') {
          const held = this.inFlight.get(key) ?? new Set<string>();
          held.add(member);
          this.inFlight.set(key, held);
          continue;
        }
        const window = this.windows.get(key);
        if (window && window.endsAt > time) window.count += cost;
        else this.windows.set(key, { endsAt: time + limit.windowMs, count: cost });
      }
    }
    return { allowed, limits };
  }

  /** Frees a local concurrency slot. */
  release(key: string, member: string): void {
    const held = this.inFlight.get(key);
    if (!held) return;
    held.delete(member);
    if (held.size === 0) this.inFlight.delete(key);
  }

  private sweep(): void {
    const time = this.now();
    for (const [key, window] of this.windows) if (window.endsAt <= time) this.windows.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
