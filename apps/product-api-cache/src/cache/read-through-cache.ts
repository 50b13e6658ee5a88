import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRedisUnavailable, type RedisClient } from '@redis-patterns/redis-core';
import type { FastifyBaseLogger } from 'fastify';
import { Cluster } from 'ioredis';
import { unavailable } from '@redis-patterns/service-kit';
import type { CacheConfig } from '../config';
import {
  decodeEntry,
  encodeEntry,
  ttlWithJitter,
  type CacheEntry,
  type CacheValue,
} from './cache-entry';
import type { CacheKey, CacheKeys } from './cache-keys';
import { fillScript, invalidateScript, readOrLeaseScript, type ReadReply } from './cache-scripts';
import type { EvictionChannel, PublishResult } from './eviction-channel';
import { ALL_GROUPS, inGroups } from './eviction-message';
import { earlyRefreshGap, LoadTimer } from './early-refresh';
import type { L1Cache } from './l1-cache';
import type { RedisBreaker } from './redis-breaker';
import { SingleFlight } from './single-flight';

/** Where an answer came from, the `x-cache` header and the `result` label. */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'bypass';

export interface ReadResult {
  value: CacheValue;
  result: CacheResult;
  /**
   * When the cached copy this answer came from goes (or went) stale, epoch ms; absent when the
   * answer is not backed by a cached copy (bypass, or a load that could not fill).
   */
  softExpiresAt?: number;
}

/**
 * How an invalidation ended. Only `confirmed` lets a write answer success: then Redis (and its
 * replicas) no longer hold the old entries and no replica's L1 tier or lookup does.
 */
export type InvalidationResult =
  | { status: 'confirmed' }
  /**
   * Redis did not take the invalidation, or could not copy it to a replica in time. The groups
   * are bypassed on this replica and retried in the background until Redis takes them.
   */
  | { status: 'deferred'; reason: string }
  /**
   * Redis holds the invalidation, but these members neither acknowledged nor left the registry
   * within the ack timeout; each stops serving its L1 tier when its registration lapses.
   */
  | { status: 'unconfirmed'; members: string[] };

/** How often a request waiting for another loader asks again. */
const LEASE_POLL_MS = 20;
/** How often invalidations that failed during a Redis outage are retried. */
const RETRY_MS = 500;
/** Groups per eviction when the whole cache is dropped. */
const EVERYTHING_CHUNK = 500;
const TIMED_OUT: unique symbol = Symbol('timed out');

/** `promise`, or `TIMED_OUT` once `ms` passed (the promise keeps running). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The loads of one entry running on this replica, and the requests queued behind them. */
interface LoadState {
  /** Reads of this entry now loading from PostgreSQL or waiting for another loader. */
  active: number;
  /** Requests that arrived meanwhile and wait for one of them. */
  waiters: number;
  /** The stale copy being refreshed, served to waiters past the cap. */
  stale?: CacheEntry;
}

export interface ReadThroughCacheOptions {
  redis: RedisClient;
  /**
   * Acknowledged writes (invalidations) go through a connection of their own: `WAIT` holds the
   * connection it is sent on, for up to the replica-ack timeout when a replica lags, and reads
   * must not queue behind it. @default redis
   */
  writer?: RedisClient;
  keys: CacheKeys;
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
  private readonly loads = new Map<string, LoadState>();
  /** Groups whose invalidation failed, with a sequence so a retry clears only what it covered. */
  private readonly pending = new Map<string, number>();
  private pendingSequence = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retrying = false;
  private readonly indexTtlMs: number;
  /** XFetch's delta: how long this replica's loads take. */
  private readonly loadTimer = new LoadTimer();
  /** Entries this replica refreshes early now (one background refresh per entry at a time). */
  private readonly refreshingEarly = new Set<string>();

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
      const bypass = async (): Promise<ReadResult> => ({
        value: await this.loadWithin(load(), Date.now() + config.hardTimeoutMs),
        result: 'bypass',
      });
      return live ? this.flights.run(`bypass:${key.entry}`, bypass) : bypass();
    }
    const near = live && breaker.closed ? l1?.get(key.entry) : undefined;
    if (near && near.softExpiresAt > Date.now()) {
      const dueAt = Date.now() + this.earlyGap();
      if (dueAt >= near.softExpiresAt) this.refreshEarly(key, load, dueAt);
      return Promise.resolve({ value: near, result: 'hit', softExpiresAt: near.softExpiresAt });
    }
    const lookup = () => this.readShared(key, load);
    const state = this.loads.get(key.entry);
    if (state === undefined) return live ? this.flights.run(key.entry, lookup) : lookup();
    // A load of this entry is slow: queue behind it, up to the cap.
    if (state.waiters >= config.maxWaiters) {
      if (state.stale && live && breaker.closed) {
        return Promise.resolve({
          value: state.stale,
          result: 'stale',
          softExpiresAt: state.stale.softExpiresAt,
        });
      }
      return Promise.reject(
        unavailable(
          'LOAD_QUEUE_FULL',
          `${config.maxWaiters} requests already wait for this entry to load from PostgreSQL (CACHE_MAX_WAITERS); retry shortly`,
        ),
      );
    }
    state.waiters += 1;
    return (live ? this.flights.run(key.entry, lookup) : lookup()).finally(() => {
      state.waiters -= 1;
    });
  }

  /**
   * False while the breaker is open (Redis judged away): a write now could not be invalidated,
   * so it is refused before anything is written.
   */
  get writable(): boolean {
    return !this.options.config.enabled || !this.options.breaker.opened;
  }

  /**
   * Drops the groups from every tier on every replica: deletes them in Redis (acknowledged by
   * the topology's replicas), then waits until every registered replica evicted them. When
   * Redis cannot take it, the groups are retried in the background and bypassed here until
   * that works. Rejects (after scheduling the retry) only on an error that is a bug.
   */
  async invalidate(groups: string[]): Promise<InvalidationResult> {
    this.evictLocally(groups);
    if (!this.options.config.enabled) return { status: 'confirmed' };
    try {
      const published = await this.invalidateInRedis(groups);
      if (published.confirmed) return { status: 'confirmed' };
      this.options.log.warn(
        { groups, members: published.unconfirmed },
        'eviction not acknowledged by every replica in time',
      );
      return { status: 'unconfirmed', members: published.unconfirmed };
    } catch (error) {
      this.options.log.warn({ err: error, groups }, 'cache invalidation deferred');
      for (const group of groups) this.pending.set(group, ++this.pendingSequence);
      this.retryTimer ??= setInterval(() => void this.retryPending(), RETRY_MS).unref();
      if (!isRedisUnavailable(error)) throw error;
      return { status: 'deferred', reason: (error as Error).message };
    }
  }

  /**
   * Drops every group of this cache from every tier on every replica: the groups Redis lists
   * (an index set per group, scanned on every master) in chunks, then a last eviction naming
   * all groups, which empties every L1 tier and detaches every running lookup. For what the
   * outbox cannot replay: whatever is cached may predate a change nobody saw.
   */
  async invalidateEverything(): Promise<InvalidationResult> {
    this.evictLocally(null);
    if (!this.options.config.enabled) return { status: 'confirmed' };
    let groups: string[];
    try {
      groups = await this.cachedGroups();
    } catch (error) {
      if (!isRedisUnavailable(error)) throw error;
      return { status: 'deferred', reason: (error as Error).message };
    }
    for (let i = 0; i < groups.length; i += EVERYTHING_CHUNK) {
      const result = await this.invalidate(groups.slice(i, i + EVERYTHING_CHUNK));
      if (result.status !== 'confirmed') return result;
    }
    return this.invalidate([ALL_GROUPS]);
  }

  /** Groups whose invalidation is still being retried on this replica. */
  get pendingGroups(): string[] {
    return [...this.pending.keys()];
  }

  close(): void {
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** This replica's share of an invalidation: its L1 entries and its running lookups. */
  private evictLocally(groups: string[] | null): void {
    this.options.l1?.evict(groups);
    const matches = (key: string) => groups === null || inGroups(key, groups);
    this.flights.forget(matches);
    for (const [key, state] of this.loads) if (matches(key)) state.stale = undefined;
  }

  /**
   * One lookup in Redis, then, as its answer says: a hit; a stale copy (refreshed here when this
   * caller got the refresh lease, waiting at most the soft timeout for the fresh value); a load
   * under the lease; or a bounded wait for another loader. Nothing here outlasts the hard
   * timeout: past it the read is a 503 and the load, if any, finishes in the background.
   */
  private async readShared(key: CacheKey, load: () => Promise<CacheValue>): Promise<ReadResult> {
    const { redis, config, breaker, l1 } = this.options;
    const token = randomBytes(12).toString('base64url');
    // Both timeouts count from the start of the read: they bound what the answer waits.
    const softDeadline = Date.now() + config.softTimeoutMs;
    const hardDeadline = Date.now() + config.hardTimeoutMs;
    const leaseDeadline = Math.min(Date.now() + config.leaseWaitMs, hardDeadline);
    const generation = l1?.generation ?? 0;
    let reply: ReadReply;
    let state: LoadState | undefined;
    try {
      for (;;) {
        try {
          reply = await breaker.run(() =>
            readOrLeaseScript.run(
              redis,
              [key.entry, key.lease, key.index],
              // XFetch: the script sees the entry as due `gap` ms early; see below.
              [token, config.leaseMs, Date.now() + this.earlyGap(), this.indexTtlMs],
            ),
          );
        } catch {
          return { value: await this.loadWithin(load(), hardDeadline), result: 'bypass' };
        }
        if (reply[0] === 0) {
          const entry = decodeEntry(reply[1]);
          l1?.set(key.entry, entry, generation);
          return { value: entry, result: 'hit', softExpiresAt: entry.softExpiresAt };
        }
        if (reply[0] === 1 || reply[0] === 2) {
          const entry = decodeEntry(reply[1]);
          if (entry.softExpiresAt > Date.now()) {
            // Due only by the early clock: still fresh, so a hit; the lease holder refreshes it
            // in the background (one refresh across replicas, the lease says who).
            if (reply[0] === 1) this.fillInBackground(key, token, load, generation);
            l1?.set(key.entry, entry, generation);
            return { value: entry, result: 'hit', softExpiresAt: entry.softExpiresAt };
          }
        }
        if (reply[0] === 2) {
          const entry = decodeEntry(reply[1]);
          return { value: entry, result: 'stale', softExpiresAt: entry.softExpiresAt };
        }
        state ??= this.startLoading(key.entry);
        if (reply[0] === 1) {
          const stale = decodeEntry(reply[1]);
          state.stale = stale;
          return await this.refresh(key, token, load, stale, generation, softDeadline);
        }
        if (reply[0] === 3) {
          const entry = await this.loadWithin(this.loadAndFill(key, token, load), hardDeadline);
          l1?.set(key.entry, entry, generation);
          return { value: entry, result: 'miss', softExpiresAt: entry.softExpiresAt };
        }
        // Another loader holds the lease; past the bounded wait we load without filling.
        if (Date.now() + LEASE_POLL_MS > leaseDeadline) {
          return { value: await this.loadWithin(load(), hardDeadline), result: 'miss' };
        }
        await sleep(LEASE_POLL_MS);
      }
    } finally {
      if (state) this.stopLoading(key.entry, state);
    }
  }

  /**
   * The caller holds the refresh lease of a stale copy: the fresh value if it loads within the
   * soft timeout, else (or if the load fails: stale-if-error) the stale copy, while the load
   * goes on in the background and fills the entry.
   */
  private async refresh(
    key: CacheKey,
    token: string,
    load: () => Promise<CacheValue>,
    stale: CacheEntry,
    generation: number,
    softDeadline: number,
  ): Promise<ReadResult> {
    const staleAnswer: ReadResult = {
      value: stale,
      result: 'stale',
      softExpiresAt: stale.softExpiresAt,
    };
    const loading = this.loadAndFill(key, token, load);
    loading.catch((error: unknown) =>
      this.options.log.warn({ err: error, key: key.entry }, 'cache refresh failed'),
    );
    const fresh = await within(loading, softDeadline - Date.now()).catch(
      (): typeof TIMED_OUT => TIMED_OUT,
    );
    if (fresh === TIMED_OUT) return staleAnswer;
    this.options.l1?.set(key.entry, fresh, generation);
    return { value: fresh, result: 'miss', softExpiresAt: fresh.softExpiresAt };
  }

  /** Loads, then fills under the lease (not awaited: the answer does not depend on it). */
  private async loadAndFill(
    key: CacheKey,
    token: string,
    load: () => Promise<CacheValue>,
  ): Promise<CacheEntry> {
    const started = performance.now();
    return this.fill(key, token, await load(), started);
  }

  /** XFetch's gap for one read: 0 when early refresh is off. */
  private earlyGap(): number {
    return earlyRefreshGap(this.loadTimer.deltaMs, this.options.config.earlyRefreshBeta);
  }

  /** An early refresh under a lease this caller holds; the answer does not wait for it. */
  private fillInBackground(
    key: CacheKey,
    token: string,
    load: () => Promise<CacheValue>,
    generation: number,
  ): void {
    this.loadAndFill(key, token, load).then(
      (entry) => this.options.l1?.set(key.entry, entry, generation),
      (error: unknown) =>
        this.options.log.warn({ err: error, key: key.entry }, 'early refresh failed'),
    );
  }

  /**
   * An L1 hit that XFetch says is due: asks Redis as of `dueAt` in the background, and when it
   * hands this replica the lease, refreshes; a newer copy in Redis goes into L1.
   */
  private refreshEarly(key: CacheKey, load: () => Promise<CacheValue>, dueAt: number): void {
    const { redis, config, breaker, l1, log } = this.options;
    if (this.refreshingEarly.has(key.entry)) return;
    this.refreshingEarly.add(key.entry);
    const token = randomBytes(12).toString('base64url');
    const generation = l1?.generation ?? 0;
    breaker
      .run(() =>
        readOrLeaseScript.run(
          redis,
          [key.entry, key.lease, key.index],
          [token, config.leaseMs, dueAt, this.indexTtlMs],
        ),
      )
      .then(async (reply) => {
        if (reply[0] === 0) l1?.set(key.entry, decodeEntry(reply[1]), generation);
        if (reply[0] === 1 || reply[0] === 3) {
          l1?.set(key.entry, await this.loadAndFill(key, token, load), generation);
        }
      })
      .catch((error: unknown) => log.debug({ err: error, key: key.entry }, 'early refresh skipped'))
      .finally(() => this.refreshingEarly.delete(key.entry));
  }

  /**
   * The loaded value, or a 503 once `deadline` passed; the load itself goes on (a fill under
   * a lease still lands, so the next reader gets a hit).
   */
  private async loadWithin<T>(loading: Promise<T>, deadline: number): Promise<T> {
    loading.catch(() => {});
    const value = await within(loading, deadline - Date.now());
    if (value === TIMED_OUT) {
      throw unavailable(
        'DATABASE_UNAVAILABLE',
        `the product database did not answer within ${this.options.config.hardTimeoutMs} ms (CACHE_HARD_TIMEOUT_MS)`,
      );
    }
    return value;
  }

  private startLoading(entry: string): LoadState {
    let state = this.loads.get(entry);
    if (state === undefined) {
      state = { active: 0, waiters: 0 };
      this.loads.set(entry, state);
    }
    state.active += 1;
    return state;
  }

  private stopLoading(entry: string, state: LoadState): void {
    state.active -= 1;
    if (state.active === 0 && this.loads.get(entry) === state) this.loads.delete(entry);
  }

  /**
   * Writes `value` under the lease `token` without waiting: the answer does not depend on it.
   * A fill that lands tells XFetch how long a refresh took, from `startedAt` (its load's start).
   */
  private fill(key: CacheKey, token: string, value: CacheValue, startedAt: number): CacheEntry {
    const { redis, config, breaker, log } = this.options;
    const negative = value.status === 404;
    const softTtl = negative ? config.negativeTtlMs : ttlWithJitter(config.ttlMs, config.ttlJitter);
    const hardTtl = negative ? softTtl : softTtl + config.staleGraceMs;
    const entry: CacheEntry = { ...value, softExpiresAt: Date.now() + softTtl };
    breaker
      .run(() =>
        fillScript.run(redis, [key.entry, key.lease], [token, encodeEntry(entry), hardTtl]),
      )
      .then(() => this.loadTimer.observe(performance.now() - startedAt))
      .catch((error: unknown) => log.debug({ err: error, key: key.entry }, 'cache fill skipped'));
    return entry;
  }

  /** Every group with an index set in Redis, on every master of a Cluster. */
  private async cachedGroups(): Promise<string[]> {
    const { redis, keys } = this.options;
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    const groups = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', keys.everyIndex, 'COUNT', 1000);
        cursor = next;
        for (const key of found) {
          const group = keys.groupOfIndex(key);
          if (group !== null) groups.add(group);
        }
      } while (cursor !== '0');
    }
    return [...groups].filter((group) => group !== ALL_GROUPS);
  }

  private async invalidateInRedis(groups: string[]): Promise<PublishResult> {
    const { redis, writer = redis, keys, evictions } = this.options;
    // Acknowledged: on a topology with replicas the deletes count only once a replica holds
    // them, so a failover cannot bring the old entries back. Not through the breaker: a shard
    // whose replica is gone refuses acknowledgements while it serves reads perfectly well.
    await Promise.all(
      groups.map((group) => invalidateScript.runAcknowledged(writer, [keys.index(group)], [])),
    );
    // Acknowledged writes must not leave old values in other replicas' L1 tiers or lookups.
    return evictions ? evictions.publish(groups) : { confirmed: true };
  }

  private async retryPending(): Promise<void> {
    // While the breaker is open Redis is away: its closing triggers the retry.
    if (this.retrying || this.pending.size === 0 || this.options.breaker.opened) return;
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
