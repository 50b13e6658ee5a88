import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ExecutionError,
  Redlock,
  ResourceLockedError,
  type ExecutionStats,
  type Lock,
} from '@sesamecare-oss/redlock';
import {
  closeRedis,
  createRedis,
  LuaScript,
  pingRedis,
  waitForReady,
  type KeyBuilder,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { unavailable } from '@redis-patterns/service-kit';
import type { FastifyBaseLogger } from 'fastify';
import type { Counter, Histogram } from 'prom-client';
import type { LockConfig } from '../config';
import { classifyFailure, retryAfterSeconds, retryDelay } from './acquire-policy';
import { firstQuorum, quorumSize } from './quorum';

const fenceNext = LuaScript.fromFile<[string], [number], number>(
  join(__dirname, 'fence-next-1.lua'),
);
const fenceRaise = LuaScript.fromFile<[string], [number], number>(
  join(__dirname, 'fence-raise-1.lua'),
);

/** A held lock on one resource and its fencing token, handed to the critical section. */
export interface Lease {
  /** Strictly greater than the token of every earlier holder of this resource. */
  readonly token: number;
  /** True while the lease has not run out and every extension succeeded. */
  isValid(): boolean;
  /**
   * A fresh token above `floor` (a fence seen in the database), for a holder whose token was
   * refused although its lease is still valid: the masters' counters had fallen behind (a master
   * restarted empty). Throws a 503 when no quorum answers.
   */
  reissue(floor: number): Promise<number>;
  /** Stops extending the lease, as a process pause would (test hook). */
  freeze(): void;
}

export interface LockMetrics {
  acquireSeconds: Histogram<'result'>;
  acquireTotal: Counter<'result'>;
}

/**
 * Redlock over independent masters (one ioredis client each, with a short command timeout),
 * plus a fencing token per acquisition: the highest fence-next-1 answer of a quorum, written back
 * to a quorum with fence-raise-1 so the next holder's token is higher. The lease is extended
 * while the critical section runs, and released by value (only our own lock is deleted).
 */
export class FencedLock {
  private readonly clients: RedisClient[];
  private readonly redlock: Redlock;
  private readonly quorum: number;

  constructor(
    private readonly config: LockConfig,
    private readonly keys: KeyBuilder,
    private readonly metrics: LockMetrics,
    private readonly log: FastifyBaseLogger,
    connectTimeoutMs?: number,
  ) {
    this.clients = config.urls.map((url) => {
      const client = createRedis({
        url,
        commandTimeoutMs: config.commandTimeoutMs,
        connectTimeoutMs,
        connectionName: 'inventory-lock-redlock',
      });
      let lastError = '';
      client.on('error', (error: Error) => {
        if (error.message !== lastError) log.warn({ err: error }, 'redlock master error');
        lastError = error.message;
      });
      return client;
    });
    this.quorum = quorumSize(this.clients.length);
    this.redlock = new Redlock(this.clients, {
      driftFactor: config.driftFactor,
      retryCount: 0,
      automaticExtensionThreshold: config.extendThresholdMs,
    });
    // Redlock emits every vote against as 'error'; an EventEmitter without a listener would throw.
    this.redlock.on('error', (error: Error) => {
      if (!(error instanceof ResourceLockedError)) log.debug({ err: error }, 'redlock vote failed');
    });
  }

  /** Number of masters and the quorum of them a lock needs. */
  get size(): { masters: number; quorum: number } {
    return { masters: this.clients.length, quorum: this.quorum };
  }

  /** Waits until a quorum of masters is connected; throws naming how many answered. */
  async ready(timeoutMs: number): Promise<void> {
    const results = await Promise.allSettled(
      this.clients.map((client) => waitForReady(client, timeoutMs)),
    );
    const up = results.filter((r) => r.status === 'fulfilled').length;
    if (up < this.quorum) {
      throw new Error(
        `Cannot reach a quorum of Redlock masters: ${up} of ${this.clients.length} ready, ${this.quorum} needed`,
      );
    }
  }

  /** True when a quorum of masters answers PING now. */
  async healthy(timeoutMs: number): Promise<boolean> {
    const answers = await Promise.all(this.clients.map((client) => pingRedis(client, timeoutMs)));
    return answers.filter(Boolean).length >= this.quorum;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => closeRedis(client)));
  }

  /**
   * Runs `section` holding the lock of `resource`, with a fencing token. Throws 503
   * LOCK_NOT_ACQUIRED when the retry budget runs out or no quorum of masters is reachable.
   */
  async run<T>(resource: string, section: (lease: Lease) => Promise<T>): Promise<T> {
    const lock = await this.acquire(resource);
    let current: Lock = lock;
    let lost = false;
    let frozen = false;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const scheduleExtension = () => {
      const due = current.expiration - Date.now() - this.config.extendThresholdMs;
      timer = setTimeout(
        () => {
          current
            .extend(this.config.ttlMs)
            .then((extended) => {
              current = extended;
              // An extension that lands after the section ended would hold the lock a whole TTL.
              if (finished) void extended.release().catch(() => undefined);
              else if (!frozen) scheduleExtension();
            })
            .catch((error: unknown) => {
              lost = true;
              this.log.warn({ err: error, resource }, 'lock extension failed; the lease is lost');
            });
        },
        Math.max(0, due),
      );
    };
    scheduleExtension();
    try {
      let token = await this.issueToken(resource, 0);
      const lease: Lease = {
        get token() {
          return token;
        },
        isValid: () => !lost && current.expiration > Date.now(),
        reissue: async (floor) => {
          token = await this.issueToken(resource, floor);
          return token;
        },
        freeze: () => {
          frozen = true;
          clearTimeout(timer);
        },
      };
      return await section(lease);
    } finally {
      clearTimeout(timer);
      finished = true;
      // A failed release is harmless: the lease expires by itself.
      await current.release().catch(() => undefined);
    }
  }

  private async issueToken(resource: string, floor: number): Promise<number> {
    const key = this.keys.tagged(resource, 'fence');
    try {
      const answers = await firstQuorum(
        this.clients.map((client) => fenceNext.run(client, [key], [floor])),
        this.quorum,
      );
      const token = Math.max(...answers.map(Number));
      await firstQuorum(
        this.clients.map((client) => fenceRaise.run(client, [key], [token])),
        this.quorum,
      );
      return token;
    } catch (error) {
      this.log.warn({ err: error, resource }, 'no quorum for a fencing token');
      throw unavailable(
        'LOCK_NOT_ACQUIRED',
        'No quorum of lock masters answered for a fencing token',
        retryAfterSeconds(this.config.ttlMs),
      );
    }
  }

  private async acquire(resource: string): Promise<Lock> {
    const started = performance.now();
    const done = (result: 'acquired' | 'contended' | 'unavailable') => {
      this.metrics.acquireSeconds.observe({ result }, (performance.now() - started) / 1000);
      this.metrics.acquireTotal.inc({ result });
    };
    const key = this.keys.tagged(resource, 'lock');
    for (let attempt = 0; ; attempt += 1) {
      const connected = this.clients.filter((client) => client.status === 'ready').length;
      if (connected < this.quorum) {
        done('unavailable');
        throw unavailable(
          'LOCK_NOT_ACQUIRED',
          `Only ${connected} of ${this.clients.length} lock masters are connected, ${this.quorum} needed`,
          retryAfterSeconds(this.config.ttlMs),
        );
      }
      try {
        const lock = await this.redlock.acquire([key], this.config.ttlMs);
        // Redlock's validity rule: the lease is usable only if acquiring took less than it.
        if (lock.expiration > Date.now()) {
          done('acquired');
          return lock;
        }
        await lock.release().catch(() => undefined);
      } catch (error) {
        if (!(error instanceof ExecutionError)) throw error;
        const failure = await this.failureOf(error);
        if (failure === 'unavailable') {
          done('unavailable');
          throw unavailable(
            'LOCK_NOT_ACQUIRED',
            'No quorum of lock masters answered',
            retryAfterSeconds(this.config.ttlMs),
          );
        }
      }
      if (attempt >= this.config.retryCount) {
        done('contended');
        throw unavailable(
          'LOCK_NOT_ACQUIRED',
          `The lock of ${resource} is held elsewhere; retry later`,
          retryAfterSeconds(this.config.ttlMs),
        );
      }
      await sleep(retryDelay(this.config.retryDelayMs, this.config.retryJitterMs));
    }
  }

  private async failureOf(error: ExecutionError): Promise<'contended' | 'unavailable'> {
    const stats: ExecutionStats | undefined = await error.attempts[error.attempts.length - 1];
    if (!stats) return 'contended';
    const errors = [...stats.votesAgainst.values()].map((e) => ({
      locked: e instanceof ResourceLockedError,
    }));
    return classifyFailure(errors, stats.membershipSize, stats.quorumSize);
  }
}
