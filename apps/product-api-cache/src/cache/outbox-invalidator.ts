import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Pool, PoolClient } from 'pg';
import type { InvalidationResult } from './read-through-cache';
import { hasGap, planBatch, type OutboxRow } from './outbox-batch';

/** The advisory-lock class of the leader lease (the key is `hashtext(<cache name>)`). */
const LEASE_CLASS = 7_311_003;
/** The channel the outbox triggers notify on commit. */
const CHANNEL = 'cache_outbox';
/** Longest a closing replica waits for its running cycle. */
const CLOSE_WAIT_MS = 1000;
/** How often the leader prunes confirmed rows. */
const PRUNE_EVERY_MS = 60_000;

export interface OutboxInvalidatorOptions {
  pool: Pool;
  /** The cache this cursor belongs to (the Redis key prefix): one cursor and lease per cache. */
  cacheName: string;
  /** The eviction the API write path runs: Redis, acknowledged, then every replica's L1 tier. */
  invalidate: (groups: string[]) => Promise<InvalidationResult>;
  /** Drops every group of the cache (a TRUNCATE, or a gap the outbox cannot replay). */
  invalidateEverything: () => Promise<InvalidationResult>;
  /** How often the leader polls (a lost NOTIFY costs at most this) and a standby tries the lease. */
  pollMs: number;
  /** Most rows per batch (one eviction each). */
  batchSize: number;
  /** Rows older than this are pruned even if a cursor has not read them (it then sees a gap). */
  retentionMs: number;
  /** Seconds from a row's commit to the start of its eviction, per batch. */
  onLag?: (seconds: number) => void;
  log: FastifyBaseLogger;
}

/** What the invalidator did, for metrics and tests. */
export interface OutboxStatus {
  leader: boolean;
  /** The cursor as this replica last confirmed it (0 before its first batch as leader). */
  cursor: number;
  rows: number;
  flushes: number;
}

/**
 * Turns the database's own record of committed changes into cache evictions. Triggers on
 * `products` write one `cache_outbox` row per changed row at commit (ids visible in id order,
 * 002-cache-outbox.sql). One replica per cache, the holder of a session advisory lock on its own
 * connection, reads the rows past the cache's cursor, evicts their groups through the same path
 * as an API write, and advances the cursor only once that eviction is confirmed: a replica that
 * dies or a connection cut mid-batch leaves the cursor where the next leader replays from (an
 * eviction twice is harmless). `LISTEN` on that connection only wakes the leader early; the
 * periodic poll is what guarantees progress. Losing the connection releases the lock, so
 * another replica takes over within one poll.
 */
export class OutboxInvalidator {
  private client: PoolClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The cycle running now, if any (close waits for it). */
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private lastPrune = 0;
  private readonly state: OutboxStatus = { leader: false, cursor: 0, rows: 0, flushes: 0 };

  constructor(private readonly options: OutboxInvalidatorOptions) {}

  /**
   * Creates the cache's cursor at the outbox's current end if it has none (a new cache holds
   * nothing older), then polls. Runs before the replica serves, so no read precedes the cursor.
   */
  async start(): Promise<void> {
    await this.options.pool.query(
      `INSERT INTO cache_outbox_cursor (cache, last_id)
       SELECT $1, GREATEST(COALESCE(max(o.id), 0), (SELECT pruned_through FROM cache_outbox_state))
         FROM cache_outbox o
       ON CONFLICT (cache) DO NOTHING`,
      [this.options.cacheName],
    );
    this.timer = setInterval(() => this.wake(), this.options.pollMs).unref();
    this.wake();
  }

  get status(): OutboxStatus {
    return { ...this.state };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // A batch waiting for acknowledgements is not waited out: it replays on the next leader.
    await Promise.race([this.running, sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    this.drop(null);
  }

  /** Runs one cycle now, or right after the running one (a NOTIFY during a batch is not lost). */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.cycle().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async cycle(): Promise<void> {
    try {
      if (!this.client) await this.acquire();
      if (this.client) await this.drain(this.client);
    } catch (error) {
      // A lost or stalled connection: the lock went with it (or goes when PostgreSQL notices);
      // the next poll connects again and competes for the lease.
      this.drop(error);
    }
  }

  /** Takes the lease if nobody holds it; the connection that holds it is kept and listens. */
  private async acquire(): Promise<void> {
    const client = await this.options.pool.connect();
    let kept = false;
    /** Holds the lock or failed a query: destroyed rather than pooled. */
    let destroy = false;
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok',
        [LEASE_CLASS, this.options.cacheName],
      );
      if (!rows[0]?.ok) return;
      destroy = true;
      if (this.closed) {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [
          LEASE_CLASS,
          this.options.cacheName,
        ]);
        destroy = false;
        return;
      }
      client.on('error', (error: Error) => this.drop(error));
      client.on('end', () => this.drop(new Error('outbox connection ended')));
      client.on('notification', () => this.wake());
      await client.query(`LISTEN ${CHANNEL}`);
      kept = true;
      this.client = client;
      this.state.leader = true;
      this.options.log.info({ cache: this.options.cacheName }, 'outbox invalidator leading');
    } catch (error) {
      // A connection that failed a query (or holds the lock but could not LISTEN) is destroyed:
      // that ends its session, and with it any lock.
      destroy = true;
      throw error;
    } finally {
      // A healthy connection without the lease goes back to the pool.
      if (!kept) client.release(destroy ? true : undefined);
    }
  }

  /** Forgets the leader connection; destroying it ends the session and with it the lock. */
  private drop(error: unknown): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.state.leader = false;
    client.removeAllListeners('notification');
    client.release(error instanceof Error ? error : true);
    if (error && !this.closed) {
      this.options.log.warn({ err: error }, 'outbox invalidator lost its lease connection');
    }
    // Compete for the lease again at once rather than one poll later.
    if (!this.closed) setImmediate(() => this.wake());
  }

  /** Evicts batch after batch until the outbox holds nothing past the cursor. */
  private async drain(client: PoolClient): Promise<void> {
    const { cacheName, batchSize } = this.options;
    for (;;) {
      const position = await client.query<{ last_id: string; pruned_through: string }>(
        `SELECT c.last_id, s.pruned_through FROM cache_outbox_cursor c, cache_outbox_state s
          WHERE c.cache = $1`,
        [cacheName],
      );
      const cursor = Number(position.rows[0]?.last_id ?? 0);
      const prunedThrough = Number(position.rows[0]?.pruned_through ?? 0);
      this.state.cursor = cursor;
      if (hasGap(cursor, prunedThrough)) {
        this.options.log.warn(
          { cursor, prunedThrough },
          'outbox pruned past the cursor: dropping the whole cache',
        );
        if (!(await this.confirmed(this.options.invalidateEverything()))) return;
        this.state.flushes += 1;
        await this.advance(client, prunedThrough);
        continue;
      }
      const { rows } = await client.query<{ id: string; groups: string[] | null; lag: number }>(
        `SELECT id, groups, EXTRACT(epoch FROM clock_timestamp() - created_at)::float8 AS lag
           FROM cache_outbox WHERE id > $1 ORDER BY id LIMIT $2`,
        [cursor, batchSize],
      );
      const batch: OutboxRow[] = rows.map((row) => ({ id: Number(row.id), groups: row.groups }));
      const plan = planBatch(batch);
      if (plan.kind === 'none') break;
      this.options.onLag?.(rows[0].lag);
      const evicted =
        plan.kind === 'everything'
          ? this.options.invalidateEverything()
          : this.options.invalidate(plan.groups);
      if (!(await this.confirmed(evicted))) return;
      if (plan.kind === 'everything') this.state.flushes += 1;
      this.state.rows += batch.length;
      await this.advance(client, plan.lastId);
      if (batch.length < batchSize) break;
    }
    if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) await this.prune(client);
  }

  /**
   * Only a confirmed eviction moves the cursor: otherwise the batch is read again on the next
   * poll (the groups are bypassed and retried on this replica meanwhile).
   */
  private async confirmed(evicted: Promise<InvalidationResult>): Promise<boolean> {
    const result = await evicted.catch((error: unknown): InvalidationResult => ({
      status: 'deferred',
      reason: (error as Error).message,
    }));
    if (result.status === 'confirmed') return true;
    this.options.log.warn({ result }, 'outbox eviction not confirmed; replayed on the next poll');
    return false;
  }

  /** On the lease's own connection: a leader that lost it cannot move the cursor. */
  private async advance(client: PoolClient, lastId: number): Promise<void> {
    await client.query(
      `UPDATE cache_outbox_cursor SET last_id = GREATEST(last_id, $2), updated_at = now()
        WHERE cache = $1`,
      [this.options.cacheName, lastId],
    );
    this.state.cursor = Math.max(this.state.cursor, lastId);
  }

  /**
   * Drops rows every cursor has passed, and rows older than the retention whatever the cursors
   * (an abandoned cache must not grow the table forever; a cursor behind them sees the gap).
   */
  private async prune(client: PoolClient): Promise<void> {
    this.lastPrune = Date.now();
    await client.query(
      `DELETE FROM cache_outbox
        WHERE id <= (SELECT min(last_id) FROM cache_outbox_cursor)
           OR created_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000)`,
      [this.options.retentionMs],
    );
  }
}
