import { randomBytes } from 'node:crypto';
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
  describeRedis,
  isRedisUnavailable,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { ConfigError, unavailable } from '@redis-patterns/service-kit';
import type { FastifyBaseLogger } from 'fastify';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { LockConfig } from '../config';
import type { LockKeys } from './lock-keys';
import { fenceNextScript, fenceRaiseScript } from './lock-scripts';
import { classifyFailure, retryAfterSeconds, retryDelay } from './acquire-policy';
import {
  duplicateServers,
  inspectMaster,
  masterProblems,
  type MasterFacts,
} from './master-inspection';
import { firstQuorum, quorumSize, QuorumError } from './quorum';

/** Lifetime of one readiness probe key: it only has to outlive the probe itself. */
const PROBE_TTL_MS = 1000;

/** What inspecting one master found: its facts, or why it could not be inspected. */
type Verdict = { facts: MasterFacts; problems: string[] } | { error: string };

/** The lowest a token may be: a number, or read once the lock is held. */
export type Floor = number | (() => Promise<number>);

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
  /** Masters whose latest inspection found them unfit (see `inspect`): alert when above 0. */
  refusedMasters: Gauge;
}

/**
 * Redlock over independent masters (one ioredis client each, with a short command timeout),
 * plus a fencing token per acquisition: the highest fence-next-1 answer of a quorum, written back
 * to a quorum with fence-raise-1 so the next holder's token is higher. The lease is extended
 * while the critical section runs, and released by value (only our own lock is deleted).
 */
export class FencedLock {
  private readonly clients: RedisClient[];
  private readonly labels: string[];
  private readonly redlock: Redlock;
  private readonly quorum: number;
  /** The latest inspection of each master, run on every (re)connect. */
  private readonly verdicts: Array<Promise<Verdict> | undefined>;
  /** Why a master's latest inspection found it unfit: it gets no readiness vote and does not count as connected. */
  private readonly rejected: Array<string | undefined>;
  private started = false;
  private readonly probeId = randomBytes(6).toString('hex');
  private probes = 0;
  private lastReady: boolean | undefined;

  constructor(
    private readonly config: LockConfig,
    private readonly keys: LockKeys,
    private readonly metrics: LockMetrics,
    private readonly log: FastifyBaseLogger,
    connectTimeoutMs?: number,
  ) {
    // Credentials never reach a log line or an error message: labels are host:port/db only.
    this.labels = config.urls.map((url) =>
      config.fromRedisUrl
        ? `${describeRedis({ url })} (REDIS_URL, as REDLOCK_URLS is unset)`
        : describeRedis({ url }),
    );
    this.verdicts = config.urls.map(() => undefined);
    this.rejected = config.urls.map(() => undefined);
    this.clients = config.urls.map((url, index) => {
      const client = createRedis({
        url,
        commandTimeoutMs: config.commandTimeoutMs,
        connectTimeoutMs,
        connectionName: 'inventory-lock-redlock',
      });
      let lastError = '';
      client.on('error', (error: Error) => {
        if (error.message !== lastError) {
          log.warn({ err: error, master: this.labels[index] }, 'redlock master error');
        }
        lastError = error.message;
      });
      // Registered before the first connect can complete, so no master goes unchecked.
      client.on('ready', () => {
        this.verdicts[index] = this.vet(index);
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
    // "Locked" is contention, not news; anything else (MOVED, READONLY, NOREPLICAS, a timeout)
    // is why locks fail, so it is a warning, once per distinct message.
    let lastVoteError = '';
    this.redlock.on('error', (error: Error) => {
      if (error instanceof ResourceLockedError || error.message === lastVoteError) return;
      lastVoteError = error.message;
      log.warn({ err: error }, 'a redlock master voted against for a reason other than contention');
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
        `Cannot reach a quorum of Redlock masters (REDLOCK_URLS): ${up} of ${this.clients.length} ready, ${this.quorum} needed`,
      );
    }
  }

  /**
   * Startup check of every connected master (INFO server/replication/cluster and the Sentinel
   * hello channel): throws a ConfigError naming REDLOCK_URLS when one is a Cluster node, a
   * replica, a master with replicas or under Sentinel, or when two URLs are one server. A
   * master that connects later is checked then; if unfit it is logged and gets no vote.
   */
  async inspect(): Promise<void> {
    const verdicts = await Promise.all(
      this.clients.map(
        (client, index) =>
          (client.status === 'ready' && this.verdicts[index]) || Promise.resolve(undefined),
      ),
    );
    const refusals: string[] = [];
    const inspected: Array<{ label: string; runId: string }> = [];
    verdicts.forEach((verdict, index) => {
      if (!verdict) return;
      if ('error' in verdict) {
        refusals.push(`${this.labels[index]} could not be inspected (${verdict.error})`);
        return;
      }
      inspected.push({ label: this.labels[index], runId: verdict.facts.runId });
      for (const problem of verdict.problems) refusals.push(`${this.labels[index]} ${problem}`);
    });
    refusals.push(...duplicateServers(inspected));
    if (refusals.length) {
      throw new ConfigError(
        'REDLOCK_URLS',
        `REDLOCK_URLS: refusing a lock configuration that cannot work: ${refusals.join('; ')}. Redlock masters must be independent standalone Redis servers (no Cluster node, no replica, no master with replicas or under Sentinel).`,
      );
    }
    this.started = true;
  }

  /**
   * True when a quorum of masters grants a probe lock now: `SET <fresh key> NX PX`, the very
   * vote an acquisition needs, counted. A master that is connected and answers PING but cannot
   * take a lock (paused, READONLY, NOREPLICAS, out of memory) counts against.
   */
  async healthy(): Promise<boolean> {
    this.probes += 1;
    const key = this.keys.readyProbe(this.probeId, this.probes);
    const votes = this.clients.map(async (client, index) => {
      const rejected = this.rejected[index];
      if (rejected) throw new Error(`${this.labels[index]} ${rejected}`);
      const answer = await client.set(key, this.probeId, 'PX', PROBE_TTL_MS, 'NX');
      if (answer !== 'OK') throw new Error(`${this.labels[index]} did not grant the probe lock`);
    });
    let ready = true;
    let reasons: string[] = [];
    try {
      await firstQuorum(votes, this.quorum);
    } catch (error) {
      ready = false;
      reasons = error instanceof QuorumError ? error.errors.map((e) => (e as Error).message) : [];
    }
    if (ready !== this.lastReady && this.lastReady !== undefined) {
      if (ready) this.log.info({ quorum: this.quorum }, 'redlock quorum back: probe locks granted');
      else
        this.log.warn(
          { quorum: this.quorum, masters: this.clients.length, reasons },
          'redlock quorum lost: too few masters granted the probe lock',
        );
    }
    this.lastReady = ready;
    return ready;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => closeRedis(client)));
  }

  /**
   * Runs `section` holding the lock of `resource`, with a fencing token above `floor`, read
   * once the lock is held: the highest fence PostgreSQL holds for it. The database is the
   * high-water mark, so a token is above every one it has seen even after every master was
   * wiped, restarted or replaced (their counters back at 0). Throws 503
   * LOCK_NOT_ACQUIRED when the retry budget runs out or no quorum of masters is reachable.
   */
  async run<T>(
    resource: string,
    section: (lease: Lease) => Promise<T>,
    floor: Floor = 0,
  ): Promise<T> {
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
      let token = await this.issueToken(
        resource,
        typeof floor === 'number' ? floor : await floor(),
      );
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

  /**
   * Runs `section` holding the locks of every resource, taken one after another in the order
   * given, each with its own fencing token above its floor. Invariant (no deadlock): the
   * resources must be strictly sorted, the one global order every caller takes them in, so no
   * two callers can each hold a lock the other waits for; an unsorted list is refused.
   */
  async runAll<T>(
    resources: readonly string[],
    floors: readonly Floor[],
    section: (leases: Lease[]) => Promise<T>,
  ): Promise<T> {
    for (let i = 1; i < resources.length; i += 1) {
      if (!(resources[i - 1] < resources[i])) {
        throw new Error(`locks must be taken in sorted order: ${resources.join(',')}`);
      }
    }
    const step = (index: number, leases: Lease[]): Promise<T> =>
      index === resources.length
        ? section(leases)
        : this.run(
            resources[index],
            (lease) => step(index + 1, [...leases, lease]),
            floors[index] ?? 0,
          );
    return step(0, []);
  }

  private async issueToken(resource: string, floor: number): Promise<number> {
    const key = this.keys.fence(resource);
    try {
      const answers = await firstQuorum(
        this.clients.map((client) => fenceNextScript.run(client, [key], [floor])),
        this.quorum,
      );
      const token = Math.max(...answers.map(Number));
      // One master: its answer is its counter, there is no other counter to raise.
      if (this.clients.length === 1) return token;
      await firstQuorum(
        this.clients.map((client) => fenceRaiseScript.run(client, [key], [token])),
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
    const key = this.keys.lock(resource);
    for (let attempt = 0; ; attempt += 1) {
      const connected = this.clients.filter(
        (client, index) => client.status === 'ready' && !this.rejected[index],
      ).length;
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
        if (!(error instanceof ExecutionError)) {
          if (!isRedisUnavailable(error)) throw error;
          done('unavailable');
          throw unavailable(
            'LOCK_NOT_ACQUIRED',
            'The lock masters are unavailable',
            retryAfterSeconds(this.config.ttlMs),
          );
        }
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

  /** Inspects master `index` after a (re)connect; logs an unfit master found after startup. */
  private async vet(index: number): Promise<Verdict> {
    let verdict: Verdict;
    try {
      const facts = await inspectMaster(this.clients[index]);
      verdict = { facts, problems: masterProblems(facts) };
    } catch (error) {
      verdict = { error: `INFO failed: ${(error as Error).message}` };
    }
    if ('error' in verdict) {
      // At startup an unvetted master refuses the start (inspect); later, a master that
      // reconnected but did not answer INFO in time is left to the votes, not excluded forever.
      if (this.started) {
        this.log.warn(
          { master: this.labels[index] },
          `redlock master not inspected: ${verdict.error}`,
        );
      }
      this.rejected[index] = undefined;
      this.metrics.refusedMasters.set(this.rejected.filter(Boolean).length);
      return verdict;
    }
    const problem = verdict.problems.join('; ') || undefined;
    this.rejected[index] = problem;
    this.metrics.refusedMasters.set(this.rejected.filter(Boolean).length);
    if (problem && this.started) {
      this.log.error(
        { master: this.labels[index] },
        `REDLOCK_URLS: master ${this.labels[index]} ${problem}; it gets no vote until it reconnects as an independent standalone master`,
      );
    }
    return verdict;
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
