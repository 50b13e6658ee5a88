import type { EventEmitter } from 'node:events';
import type { RedisClient } from '@redis-patterns/redis-core';
import type { LocalLimiter } from './local-limiter';
import { renewLeaseScript, type LimitCall } from './rate-limit-scripts';

/**
 * The concurrency leases this replica holds: each released when its request or upgraded socket
 * closes (response ended or client gone), and renewed meanwhile so that only a dead replica's
 * leases expire.
 */
export class ConcurrencyLeases {
  private readonly leases = new Map<string, { key: string; leaseMs: number; renewedAt: number }>();
  private readonly renewal: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisClient,
    private readonly local: LocalLimiter,
    paused: () => boolean,
  ) {
    this.renewal = setInterval(() => {
      if (paused()) return;
      const now = Date.now();
      for (const [member, lease] of this.leases) {
        if (now - lease.renewedAt < lease.leaseMs / 3) continue;
        lease.renewedAt = now;
        renewLeaseScript.run(this.redis, [lease.key], [lease.leaseMs, member]).catch(() => {});
      }
    }, 250);
    this.renewal.unref();
  }

  /** Holds the concurrency slots of `calls` until `closed` emits 'close'. */
  hold(closed: EventEmitter, calls: LimitCall[], isLocal: boolean): void {
    const held = calls.filter((call) => call.limit.algorithm === 'concurrency');
    if (held.length === 0) return;
    const now = Date.now();
    if (!isLocal) {
      for (const call of held) {
        this.leases.set(call.member, {
          key: call.key,
          leaseMs: call.limit.leaseMs,
          renewedAt: now,
        });
      }
    }
    const release = () => {
      for (const call of held) {
        if (isLocal) {
          this.local.release(call.key, call.member);
          continue;
        }
        this.leases.delete(call.member);
        this.redis.zrem(call.key, call.member).catch(() => {});
      }
    };
    // 'close' comes after the response ended and when the client went away first; a client
    // gone while the decision was made (its 'close' already past) is released at once.
    if ((closed as { destroyed?: boolean }).destroyed === true) release();
    else closed.once('close', release);
  }

  close(): void {
    clearInterval(this.renewal);
  }
}
