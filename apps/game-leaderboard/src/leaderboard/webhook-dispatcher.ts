import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from 'pg';

export interface WebhookDispatcherOptions {
  pg: Pool;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  /** Name of this replica in `lb_webhooks.leased_by`. */
  replica: string;
  /** How often a replica looks for due deliveries. @default 1000 */
  intervalMs?: number;
  /** Longest wait for the receiver's answer; the lease is twice this. @default 5000 */
  timeoutMs?: number;
  /** Wait before the second attempt; it doubles per attempt (with jitter). @default 1000 */
  backoffMs?: number;
  /** Longest wait between two attempts. @default 300000 */
  maxBackoffMs?: number;
  /** Deliveries leased per look. @default 10 */
  batch?: number;
  /** Called per attempt: delivered (a 2xx), or failed (anything else, a timeout, no answer). */
  onAttempt?: (outcome: 'delivered' | 'failed') => void;
}

interface DueRow {
  board: string;
  period: string;
  url: string;
  idempotency_key: string;
  payload: unknown;
  attempts: number;
}

/**
 * Leases due deliveries: one statement, so two replicas never hold the same row. A lease that
 * runs out (the replica died or stalled mid-delivery) makes the row due again; times are
 * PostgreSQL's, so the replicas' clocks do not matter.
 */
const LEASE = `
UPDATE lb_webhooks w
SET attempts = w.attempts + 1, leased_by = $1,
    lease_until = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
FROM (SELECT board, period FROM lb_webhooks
      WHERE delivered_at IS NULL AND next_attempt_at <= clock_timestamp()
        AND (lease_until IS NULL OR lease_until <= clock_timestamp())
      ORDER BY next_attempt_at LIMIT $3
      FOR UPDATE SKIP LOCKED) due
WHERE w.board = due.board AND w.period = due.period
RETURNING w.board, w.period, w.url, w.idempotency_key, w.payload, w.attempts`;

/**
 * Delivers each archived period's webhook (queued by period-archiver.ts in the archive's
 * transaction) until the receiver acknowledges it with a 2xx: POST of
 * `{board, period, entries}` with an `Idempotency-Key` header that is the same on every attempt
 * of one period and differs between periods, retried with exponential backoff, forever.
 * Delivery is at least once (a replica killed after the receiver took the request but before it
 * recorded the 2xx leaves it to be sent again): the receiver dedupes by the key, and then sees
 * exactly one delivery per period.
 */
export class WebhookDispatcher {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private closed = false;
  private readonly aborts = new Set<AbortController>();
  private readonly timeoutMs: number;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.ticking || this.closed) return;
      this.ticking = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'webhook look failed'))
        .finally(() => {
          this.ticking = undefined;
        });
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops looking and aborts deliveries in flight (they become due again after a backoff). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const abort of this.aborts) abort.abort();
    await this.ticking;
  }

  /** Leases what is due now and attempts each; returns how many were acknowledged. */
  async tick(): Promise<number> {
    const due = await this.options.pg.query<DueRow>(LEASE, [
      this.options.replica,
      2 * this.timeoutMs,
      this.options.batch ?? 10,
    ]);
    const outcomes = await Promise.all(due.rows.map((row) => this.attempt(row)));
    return outcomes.filter(Boolean).length;
  }

  private async attempt(row: DueRow): Promise<boolean> {
    const abort = new AbortController();
    this.aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let status: number | null = null;
    let problem: string | null = null;
    try {
      const response = await fetch(row.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': row.idempotency_key,
          'x-leaderboard-attempt': String(row.attempts),
        },
        body: JSON.stringify({ idempotencyKey: row.idempotency_key, ...(row.payload as object) }),
        // A redirect is not an acknowledgement: the receiver must answer 2xx itself.
        redirect: 'manual',
        signal: abort.signal,
      });
      status = response.status;
      await response.body?.cancel().catch(() => {});
      if (status < 200 || status > 299) problem = `answered ${status}`;
    } catch (error) {
      problem = abort.signal.aborted ? `no answer within ${this.timeoutMs} ms` : String(error);
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
    const { pg, log, replica } = this.options;
    if (problem === null) {
      // A 2xx is the receiver's acknowledgement whoever holds the lease now.
      await pg.query(
        `UPDATE lb_webhooks SET delivered_at = clock_timestamp(), lease_until = NULL,
           last_status = $3, last_error = NULL
         WHERE board = $1 AND period = $2 AND delivered_at IS NULL`,
        [row.board, row.period, status],
      );
      log.info(
        { board: row.board, period: row.period, attempts: row.attempts },
        'webhook delivered',
      );
      this.options.onAttempt?.('delivered');
      return true;
    }
    const backoff = this.backoffMs(row.attempts);
    // Only while the lease is still this attempt's: a replica that took over owns the row.
    await pg.query(
      `UPDATE lb_webhooks SET lease_until = NULL, last_status = $5, last_error = $6,
         next_attempt_at = clock_timestamp() + make_interval(secs => $7::double precision / 1000)
       WHERE board = $1 AND period = $2 AND leased_by = $3 AND attempts = $4
         AND delivered_at IS NULL`,
      [row.board, row.period, replica, row.attempts, status, problem.slice(0, 500), backoff],
    );
    log.warn(
      { board: row.board, period: row.period, attempts: row.attempts, problem, retryInMs: backoff },
      'webhook not acknowledged',
    );
    this.options.onAttempt?.('failed');
    return false;
  }

  /** base * 2^(attempt - 1), capped, times a jitter in [0.5, 1). */
  private backoffMs(attempts: number): number {
    const base = this.options.backoffMs ?? 1000;
    const cap = this.options.maxBackoffMs ?? 300_000;
    const exponential = Math.min(cap, base * 2 ** Math.min(30, attempts - 1));
    return Math.round(exponential * (0.5 + Math.random() / 2));
  }
}
