import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LuaScript, type KeyBuilder, type RedisClient } from '@redis-patterns/redis-core';
import type { FastifyBaseLogger } from 'fastify';
import type { CacheConfig } from '../config';
import {
  decodeEntry,
  encodeEntry,
  ttlWithJitter,
  type CacheEntry,
  type CacheValue,
} from './cache-entry';
import { inGroups, type EvictionChannel } from './eviction-channel';
import type { L1Cache } from './l1-cache';
import type { RedisBreaker } from './redis-breaker';
import { SingleFlight } from './single-flight';

/** Where an answer came from, the `x-cache` header and the `result` label. */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'bypass';

export interface ReadResult {
  value: CacheValue;
  result: CacheResult;
}

/**
 * The keys of one cache entry. A group (one product, or one category's pages) shares a hash tag,
 * an index set and one invalidation.
 */
export interface CacheKey {
  group: string;
  entry: string;
  lease: string;
  index: string;
}

export function cacheKey(
  keys: KeyBuilder,
  group: string,
  ...parts: Array<string | number>
): CacheKey {
  const entry = keys.tagged(group, 'e', ...parts);
  return { group, entry, lease: `${entry}:lease`, index: keys.tagged(group, 'index') };
}

type ReadReply = [0 | 1 | 2, string] | [3 | 4];

const readOrLease = LuaScript.fromFile<
  [string, string, string],
  [string, number, number, number],
  ReadReply
>(join(__dirname, 'read-or-lease-3.lua'));
const fillScript = LuaScript.fromFile<[string, string], [string, string, number], 0 | 1>(
  join(__dirname, 'fill-2.lua'),
);
const invalidateScript = LuaScript.fromFile<[string], [], number>(
  join(__dirname, 'invalidate-1.lua'),
);

/** How often a request waiting for another loader asks again. */
const LEASE_POLL_MS = 20;
/** How often invalidations that failed during a Redis outage are retried. */
const RETRY_MS = 500;

export interface ReadThroughCacheOptions {
  redis: RedisClient;
  keys: KeyBuilder;
  config: CacheConfig;
  breaker: RedisBreaker;
  /** Where other replicas' writes arrive; required for the L1 tier and in-process sharing. */
  evictions?: EvictionChannel;
  /** The in-process tier, when enabled. */
  l1?: L1Cache;
  log: FastifyBaseLogger;
}

/**
 * Cache-aside with leases. A read takes, in order: the L1 tier; Redis; when Redis has no value,
 * the lease (one loader per entry across replicas, the others wait, bounded); PostgreSQL. Only
 * the lease holder may fill, and an invalidation deletes the leases with the entries, so a reader
 * that loaded an old row can never write it back after a write. Redis errors or an open breaker
 * send the read straight to PostgreSQL (`bypass`). Concurrent reads on one replica share one
 * lookup only while the eviction channel is live, because a write elsewhere must be able to stop
 * later reads from joining a lookup that started before it.
 */
export class ReadThroughCache {
  private readonly flights = new SingleFlight<ReadResult>();
  /** Groups whose invalidation failed, with a sequence so a retry clears only what it covered. */
  private readonly pending = new Map<string, number>();
  private pendingSequence = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retrying = false;
  private readonly indexTtlMs: number;

  constructor(private readonly options: ReadThroughCacheOptions) {
    const { config } = options;
    this.indexTtlMs =
      Math.max(
        Math.ceil(config.ttlMs * (1 + config.ttlJitter)) + config.staleGraceMs,
        config.negativeTtlMs,
      ) + config.leaseMs;
    options.evictions?.onEvict((groups) => this.evictLocally(groups));
    // Evictions may be missed while Redis is away: the L1 tier starts again empty.
    options.breaker.onOpen(() => options.l1?.evict(null));
    options.breaker.onClose(() => void this.retryPending());
  }

  /** Reads `key`, loading it with `load` (one PostgreSQL query) only when no tier has it. */
  read(key: CacheKey, load: () => Promise<CacheValue>): Promise<ReadResult> {
    const { config, l1, breaker, evictions } = this.options;
    const live = evictions?.live === true;
    if (!config.enabled || this.pending.has(key.group)) {
      const bypass = async (): Promise<ReadResult> => ({ value: await load(), result: 'bypass' });
      return live ? this.flights.run(`bypass:${key.entry}`, bypass) : bypass();
    }
    const near = live && breaker.closed ? l1?.get(key.entry) : undefined;
    if (near && near.softExpiresAt > Date.now()) {
      return Promise.resolve({ value: near, result: 'hit' });
    }
    const lookup = () => this.readShared(key, load);
    return live ? this.flights.run(key.entry, lookup) : lookup();
  }

  /**
   * Drops the groups from every tier on every replica. Resolves false when Redis could not be
   * reached: the groups are then retried in the background and bypassed here until that works.
   */
  async invalidate(groups: string[]): Promise<boolean> {
    this.evictLocally(groups);
    if (!this.options.config.enabled) return true;
    try {
      await this.invalidateInRedis(groups);
      return true;
    } catch (error) {
      this.options.log.warn(
        { err: error, groups },
        'cache invalidation deferred: redis unavailable',
      );
      for (const group of groups) this.pending.set(group, ++this.pendingSequence);
      this.retryTimer ??= setInterval(() => void this.retryPending(), RETRY_MS).unref();
      return false;
    }
  }

  close(): void {
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** This replica's share of an invalidation: its L1 entries and its running lookups. */
  private evictLocally(groups: string[] | null): void {
    this.options.l1?.evict(groups);
    this.flights.forget((key) => groups === null || inGroups(key, groups));
  }

  private async readShared(key: CacheKey, load: () => Promise<CacheValue>): Promise<ReadResult> {
    const { redis, config, breaker, l1 } = this.options;
    const token = randomBytes(12).toString('base64url');
    const deadline = Date.now() + config.leaseWaitMs;
    const generation = l1?.generation ?? 0;
    for (;;) {
      let reply: ReadReply;
      try {
        reply = await breaker.run(() =>
          readOrLease.run(
            redis,
            [key.entry, key.lease, key.index],
            [token, config.leaseMs, Date.now(), this.indexTtlMs],
          ),
        );
      } catch {
        return { value: await load(), result: 'bypass' };
      }
      if (reply[0] === 0) {
        const entry = decodeEntry(reply[1]);
        l1?.set(key.entry, entry, generation);
        return { value: entry, result: 'hit' };
      }
      if (reply[0] === 1 || reply[0] === 2) {
        if (reply[0] === 1) this.refreshInBackground(key, token, load);
        return { value: decodeEntry(reply[1]), result: 'stale' };
      }
      if (reply[0] === 3) {
        const value = await load();
        const entry = this.fill(key, token, value);
        l1?.set(key.entry, entry, generation);
        return { value, result: 'miss' };
      }
      // Another loader holds the lease; past the bounded wait we load without filling.
      if (Date.now() + LEASE_POLL_MS > deadline) return { value: await load(), result: 'miss' };
      await sleep(LEASE_POLL_MS);
    }
  }

  /** Writes `value` under the lease `token` without waiting: the answer does not depend on it. */
  private fill(key: CacheKey, token: string, value: CacheValue): CacheEntry {
    const { redis, config, breaker, log } = this.options;
    const negative = value.status === 404;
    const softTtl = negative ? config.negativeTtlMs : ttlWithJitter(config.ttlMs, config.ttlJitter);
    const hardTtl = negative ? softTtl : softTtl + config.staleGraceMs;
    const entry: CacheEntry = { ...value, softExpiresAt: Date.now() + softTtl };
    breaker
      .run(() =>
        fillScript.run(redis, [key.entry, key.lease], [token, encodeEntry(entry), hardTtl]),
      )
      .catch((error: unknown) => log.debug({ err: error, key: key.entry }, 'cache fill skipped'));
    return entry;
  }

  /** One refresh per stale entry across replicas (the caller holds its lease). */
  private refreshInBackground(key: CacheKey, token: string, load: () => Promise<CacheValue>) {
    load().then(
      (value) => void this.fill(key, token, value),
      // The stale value keeps being served until its grace ends; the lease lapses and another read retries.
      (error: unknown) =>
        this.options.log.warn({ err: error, key: key.entry }, 'cache refresh failed'),
    );
  }

  private async invalidateInRedis(groups: string[]): Promise<void> {
    const { redis, keys, breaker, evictions } = this.options;
    await breaker.run(async () => {
      await Promise.all(
        groups.map((group) => invalidateScript.run(redis, [keys.tagged(group, 'index')], [])),
      );
      // Acknowledged writes must not leave old values in other replicas' L1 tiers.
      if (evictions && !(await evictions.publish(groups))) {
        this.options.log.warn({ groups }, 'eviction not acknowledged by every replica in time');
      }
    });
  }

  private async retryPending(): Promise<void> {
    if (this.retrying || this.pending.size === 0) return;
    this.retrying = true;
    const batch = new Map(this.pending);
    try {
      await this.invalidateInRedis([...batch.keys()]);
      for (const [group, sequence] of batch) {
        if (this.pending.get(group) === sequence) this.pending.delete(group);
      }
      if (this.pending.size === 0) this.close();
    } catch {
      // Still away: the next tick tries again, and the groups stay bypassed meanwhile.
    } finally {
      this.retrying = false;
    }
  }
}
