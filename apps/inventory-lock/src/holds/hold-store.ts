import type { Pool, PoolClient } from 'pg';
import { MAX_STOCK, recordEvent, type Item } from '../inventory/inventory-store';
import { Abort, abortable } from '../inventory/transaction';
import type { HoldLine } from './hold-lines';

export type HoldStatus = 'held' | 'confirmed' | 'cancelled' | 'expired';

/** A line as stored: what it took and the sku's fencing token it was written under. */
export interface HeldLine extends HoldLine {
  fence: number;
}

export interface Hold {
  orderId: string;
  status: HoldStatus;
  /** In the order the client sent them. */
  lines: HeldLine[];
  expiresAt: string;
  createdAt: string;
  /** When it was confirmed, cancelled or expired; null while held. */
  settledAt: string | null;
}

/** A stored hold with the canonical form of its lines, for the idempotency check. */
export interface StoredHold extends Hold {
  linesKey: string;
}

export type WriteHoldOutcome =
  | { kind: 'created'; hold: Hold }
  | { kind: 'duplicate' }
  | { kind: 'fenced'; sku: string }
  | { kind: 'not-found'; sku: string }
  | { kind: 'short'; sku: string; stock: number };

/** What a settle asks for; `expired` is the sweep's, and only happens once the hold is due. */
export type Settlement = 'confirmed' | 'cancelled' | 'expired';

export type SettleOutcome =
  | { kind: 'not-found' }
  | { kind: 'changed'; hold: Hold }
  | { kind: 'unchanged'; hold: Hold }
  | { kind: 'over-limit'; sku: string };

interface HoldRow {
  order_id: string;
  status: HoldStatus;
  lines_key: string;
  expires_at: Date;
  created_at: Date;
  settled_at: Date | null;
}

interface LineRow {
  line: number;
  sku: string;
  quantity: number;
  fence: string;
}

const HOLD_COLUMNS = 'order_id, status, lines_key, expires_at, created_at, settled_at';

function toHold(row: HoldRow, lines: LineRow[]): StoredHold {
  return {
    orderId: row.order_id,
    status: row.status,
    lines: [...lines]
      .sort((a, b) => a.line - b.line)
      .map((l) => ({ sku: l.sku, quantity: l.quantity, fence: Number(l.fence) })),
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    settledAt: row.settled_at ? row.settled_at.toISOString() : null,
    linesKey: row.lines_key,
  };
}

/** Locks the sku rows in sku order, the one order every writer of several rows takes them in. */
async function lockSkus(client: PoolClient, skus: string[]): Promise<Map<string, Item>> {
  const { rows } = await client.query<{ sku: string; stock: string; fence: string }>(
    'SELECT sku, stock, fence FROM inventory WHERE sku = ANY($1::text[]) ORDER BY sku FOR UPDATE',
    [skus],
  );
  return new Map(
    rows.map((r) => [r.sku, { sku: r.sku, stock: Number(r.stock), fence: Number(r.fence) }]),
  );
}

/**
 * Holds in PostgreSQL, the source of truth: a hold is written with the stock it takes in one
 * transaction, and leaves `held` exactly once (confirm, cancel or expiry) by a conditional
 * update of its row taken under the sku rows' locks. Every change is appended to
 * `inventory_events` in the same transaction.
 */
export class HoldStore {
  constructor(private readonly pool: Pool) {}

  async items(skus: string[]): Promise<Map<string, Item>> {
    const { rows } = await this.pool.query<{ sku: string; stock: string; fence: string }>(
      'SELECT sku, stock, fence FROM inventory WHERE sku = ANY($1::text[])',
      [skus],
    );
    return new Map(
      rows.map((r) => [r.sku, { sku: r.sku, stock: Number(r.stock), fence: Number(r.fence) }]),
    );
  }

  async getHold(orderId: string): Promise<StoredHold | undefined> {
    // One statement, one snapshot: as two queries, the lines could be read before the hold's
    // transaction committed and the hold after it, answering a repeat with no lines (seen in CI).
    const { rows } = await this.pool.query<HoldRow & { lines_json: LineRow[] }>(
      `SELECT ${HOLD_COLUMNS},
         COALESCE((SELECT json_agg(json_build_object('line', l.line, 'sku', l.sku,
                     'quantity', l.quantity, 'fence', l.fence))
                   FROM hold_lines l WHERE l.order_id = holds.order_id), '[]'::json) AS lines_json
       FROM holds WHERE order_id = $1`,
      [orderId],
    );
    return rows[0] ? toHold(rows[0], rows[0].lines_json) : undefined;
  }

  /**
   * Writes the hold and takes its stock, all lines or none. With tokens (one per sku), only
   * while every sku row still carries its holder's token (`fenced` otherwise); the decrements
   * are relative, so a return that committed meanwhile (a cancel or an expiry, which need no
   * lock) is kept. Nothing is written unless `created`.
   */
  async writeHold(hold: {
    orderId: string;
    lines: HoldLine[];
    linesKey: string;
    tokens: Map<string, number> | null;
    now: Date;
    expiresAt: Date;
  }): Promise<WriteHoldOutcome> {
    const { orderId, lines, tokens } = hold;
    return abortable<WriteHoldOutcome>(this.pool, async (client) => {
      const skus = lines.map((l) => l.sku);
      const items = await lockSkus(client, skus);
      const fences = lines.map((line) => {
        const item = items.get(line.sku);
        if (!item) throw new Abort<WriteHoldOutcome>({ kind: 'not-found', sku: line.sku });
        const token = tokens ? tokens.get(line.sku) : undefined;
        if (tokens && item.fence !== token) {
          throw new Abort<WriteHoldOutcome>({ kind: 'fenced', sku: line.sku });
        }
        if (item.stock < line.quantity) {
          throw new Abort<WriteHoldOutcome>({ kind: 'short', sku: line.sku, stock: item.stock });
        }
        return token ?? 0;
      });
      const inserted = await client.query<HoldRow>(
        `INSERT INTO holds (order_id, status, lines_key, expires_at, created_at)
         VALUES ($1, 'held', $2, $3, $4) ON CONFLICT (order_id) DO NOTHING
         RETURNING ${HOLD_COLUMNS}`,
        [orderId, hold.linesKey, hold.expiresAt, hold.now],
      );
      if (!inserted.rows[0]) throw new Abort<WriteHoldOutcome>({ kind: 'duplicate' });
      const quantities = lines.map((l) => l.quantity);
      await client.query(
        `UPDATE inventory i SET stock = i.stock - v.quantity, updated_at = now()
         FROM unnest($1::text[], $2::int[]) AS v(sku, quantity) WHERE i.sku = v.sku`,
        [skus, quantities],
      );
      const lineRows = await client.query<LineRow>(
        `INSERT INTO hold_lines (order_id, line, sku, quantity, fence)
         SELECT $1, v.line, v.sku, v.quantity, v.fence
         FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[]) AS v(line, sku, quantity, fence)
         RETURNING line, sku, quantity, fence`,
        [orderId, lines.map((_, i) => i), skus, quantities, fences],
      );
      await client.query(
        `INSERT INTO inventory_events (sku, order_id, kind, stock_delta, held_delta, confirmed_delta, fence)
         SELECT v.sku, $1, 'hold', -v.quantity, v.quantity, 0, v.fence
         FROM unnest($2::text[], $3::int[], $4::bigint[]) AS v(sku, quantity, fence)`,
        [orderId, skus, quantities, tokens ? fences : skus.map(() => null)],
      );
      return { kind: 'created', hold: toHold(inserted.rows[0], lineRows.rows) };
    });
  }

  /**
   * Moves a held hold to `to`, once: the hold row is re-read under the sku rows' locks and only
   * changed while still `held`, so of two replicas (or a sweep and a cancel) that race, one
   * changes it and the other finds it settled. A hold past its expiry becomes `expired`
   * whatever was asked (a late confirm cannot take back stock an expiry may return), and an
   * expiry that is not due changes nothing. Cancelling and expiring return the stock;
   * `over-limit` (nothing written) if that would pass `MAX_STOCK`, which the restock bound
   * keeps from happening.
   */
  async settle(orderId: string, to: Settlement, now: Date): Promise<SettleOutcome> {
    return abortable<SettleOutcome>(this.pool, async (client) => {
      const lines = await client.query<LineRow>(
        'SELECT line, sku, quantity, fence FROM hold_lines WHERE order_id = $1',
        [orderId],
      );
      if (!lines.rows.length) return { kind: 'not-found' };
      const items = await lockSkus(
        client,
        lines.rows.map((l) => l.sku),
      );
      const current = await client.query<HoldRow>(
        `SELECT ${HOLD_COLUMNS} FROM holds WHERE order_id = $1 FOR UPDATE`,
        [orderId],
      );
      const row = current.rows[0];
      if (row.status !== 'held') return { kind: 'unchanged', hold: toHold(row, lines.rows) };
      const due = row.expires_at.getTime() <= now.getTime();
      const target: HoldStatus | undefined = due ? 'expired' : to === 'expired' ? undefined : to;
      if (!target) return { kind: 'unchanged', hold: toHold(row, lines.rows) };
      const returns = target !== 'confirmed';
      for (const line of lines.rows) {
        const item = items.get(line.sku);
        if (returns && item && item.stock + line.quantity > MAX_STOCK) {
          throw new Abort<SettleOutcome>({ kind: 'over-limit', sku: line.sku });
        }
      }
      const updated = await client.query<HoldRow>(
        `UPDATE holds SET status = $2, settled_at = $3 WHERE order_id = $1 AND status = 'held'
         RETURNING ${HOLD_COLUMNS}`,
        [orderId, target, now],
      );
      for (const line of lines.rows) {
        if (returns) {
          await client.query(
            'UPDATE inventory SET stock = stock + $2, updated_at = now() WHERE sku = $1',
            [line.sku, line.quantity],
          );
        }
        await recordEvent(client, {
          sku: line.sku,
          orderId,
          kind: target === 'confirmed' ? 'confirm' : target === 'cancelled' ? 'cancel' : 'expire',
          stock: returns ? line.quantity : 0,
          held: -line.quantity,
          confirmed: returns ? 0 : line.quantity,
          fence: null,
        });
      }
      return { kind: 'changed', hold: toHold(updated.rows[0], lines.rows) };
    });
  }

  /** Holds still `held` whose expiry is at or before `now`, oldest first. */
  async dueHolds(now: Date, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ order_id: string }>(
      `SELECT order_id FROM holds WHERE status = 'held' AND expires_at <= $1
       ORDER BY expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.order_id);
  }
}
