import type { Pool, PoolClient } from 'pg';
import { Abort, abortable } from './transaction';

/** One sku's stock and the fencing token of the holder that last claimed it. */
export interface Item {
  sku: string;
  stock: number;
  fence: number;
}

export interface Reservation {
  orderId: string;
  sku: string;
  quantity: number;
  /** Stock left right after this reservation was taken. */
  remaining: number;
  /** Fencing token the reservation was written under (0 without a lock). */
  fence: number;
  status: 'reserved' | 'released';
  createdAt: string;
}

interface ReservationRow {
  order_id: string;
  sku: string;
  quantity: number;
  remaining: string;
  fence: string;
  status: 'reserved' | 'released';
  created_at: Date;
}

const RESERVATION_COLUMNS = 'order_id, sku, quantity, remaining, fence, status, created_at';

function toReservation(row: ReservationRow): Reservation {
  return {
    orderId: row.order_id,
    sku: row.sku,
    quantity: row.quantity,
    remaining: Number(row.remaining),
    fence: Number(row.fence),
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

export type WriteOutcome =
  { kind: 'created'; reservation: Reservation } | { kind: 'duplicate' } | { kind: 'fenced' };

export type AtomicOutcome =
  | { kind: 'created'; reservation: Reservation }
  | { kind: 'duplicate' }
  | { kind: 'insufficient' }
  | { kind: 'not-found' };

export type ReleaseOutcome = 'released' | 'already-released' | 'fenced' | 'over-limit';

export type SetStockOutcome = 'set' | 'fenced' | 'over-limit';

/** The most units a sku may hold: its stock plus what its open reservations and holds took. */
export const MAX_STOCK = 1_000_000_000;

/** What a sku's open reservations and open holds took: they all come back to its stock. */
export const OPEN_UNITS_SQL = `SELECT
  (SELECT COALESCE(SUM(quantity), 0) FROM reservations WHERE sku = $1 AND status = 'reserved') +
  (SELECT COALESCE(SUM(l.quantity), 0) FROM hold_lines l JOIN holds h USING (order_id)
     WHERE l.sku = $1 AND h.status = 'held') AS sum`;

export type EventKind =
  'restock' | 'reserve' | 'release' | 'hold' | 'confirm' | 'cancel' | 'expire';

/**
 * Appends one change of a sku's units to `inventory_events`, inside the writer's transaction and
 * while it holds the sku row's lock (so per sku the id order is the commit order).
 */
export async function recordEvent(
  client: PoolClient,
  event: {
    sku: string;
    orderId: string | null;
    kind: EventKind;
    stock: number;
    held: number;
    confirmed: number;
    fence: number | null;
  },
): Promise<void> {
  await client.query(
    `INSERT INTO inventory_events (sku, order_id, kind, stock_delta, held_delta, confirmed_delta, fence)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [event.sku, event.orderId, event.kind, event.stock, event.held, event.confirmed, event.fence],
  );
}

/**
 * The PostgreSQL side: stock per sku with its fence, reservations per orderId. Every fenced write
 * is conditional on the row's fence, so a holder with a stale token changes nothing.
 */
export class InventoryStore {
  constructor(private readonly pool: Pool) {}

  async getItem(sku: string): Promise<Item | undefined> {
    const { rows } = await this.pool.query<{ stock: string; fence: string }>(
      'SELECT stock, fence FROM inventory WHERE sku = $1',
      [sku],
    );
    return rows[0]
      ? { sku, stock: Number(rows[0].stock), fence: Number(rows[0].fence) }
      : undefined;
  }

  /**
   * The reservation of `orderId` (if any) and the sku's row (if any), in one round trip: what a
   * reservation checks before it queues for the lock.
   */
  async getReservationAndItem(
    orderId: string,
    sku: string,
  ): Promise<{ reservation?: Reservation; item?: Item }> {
    const { rows } = await this.pool.query<
      Partial<ReservationRow> & { item_stock: string | null; item_fence: string | null }
    >(
      `SELECT r.*, i.stock AS item_stock, i.fence AS item_fence
       FROM (SELECT 1) one
       LEFT JOIN (SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE order_id = $1) r ON true
       LEFT JOIN inventory i ON i.sku = $2`,
      [orderId, sku],
    );
    const row = rows[0];
    return {
      reservation: row?.order_id ? toReservation(row as ReservationRow) : undefined,
      item:
        row?.item_stock != null
          ? { sku, stock: Number(row.item_stock), fence: Number(row.item_fence) }
          : undefined,
    };
  }

  async getReservation(orderId: string): Promise<Reservation | undefined> {
    const { rows } = await this.pool.query<ReservationRow>(
      `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE order_id = $1`,
      [orderId],
    );
    return rows[0] ? toReservation(rows[0]) : undefined;
  }

  /**
   * Sets the stock, unless the stock plus the quantity of the sku's open reservations would pass
   * `MAX_STOCK` (`over-limit`: then releasing them could not stay within it). With a token, only
   * when the row's fence is below it (the row then carries the token), else `fenced`. Without a
   * token (lock-free strategies), the row lock orders this against concurrent reservations.
   */
  async setStock(sku: string, stock: number, token: number | null): Promise<SetStockOutcome> {
    return abortable<SetStockOutcome>(this.pool, async (client) => {
      const { rows } = await client.query<{ fence: string; stock: string }>(
        'SELECT fence, stock FROM inventory WHERE sku = $1 FOR UPDATE',
        [sku],
      );
      if (rows[0] && token !== null && Number(rows[0].fence) >= token) return 'fenced';
      const open = await client.query<{ sum: string }>(OPEN_UNITS_SQL, [sku]);
      if (stock + Number(open.rows[0].sum) > MAX_STOCK) return 'over-limit';
      const { rowCount } = await client.query(
        `INSERT INTO inventory (sku, stock, fence) VALUES ($1, $2, COALESCE($3::bigint, 0))
         ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock, updated_at = now(),
           fence = GREATEST(inventory.fence, EXCLUDED.fence)
         WHERE $3::bigint IS NULL OR inventory.fence < $3::bigint`,
        [sku, stock, token],
      );
      // A first write of this sku raced with another one's (no row to lock yet).
      if (rowCount !== 1) throw new Abort<SetStockOutcome>('fenced');
      const before = rows[0] ? Number(rows[0].stock) : 0;
      await recordEvent(client, {
        sku,
        orderId: null,
        kind: 'restock',
        stock: stock - before,
        held: 0,
        confirmed: 0,
        fence: token,
      });
      return 'set';
    });
  }

  /**
   * The first half of a fenced read-check-write: stamps the row with `token` if every earlier
   * token is lower, and reads the stock after stamping. From then on a holder with a lower
   * token can no longer write, and this holder can write only while no higher token stamped
   * the row. Undefined when refused (stale token) or when the sku does not exist.
   */
  async claim(sku: string, token: number): Promise<Item | undefined> {
    const { rows } = await this.pool.query<{ stock: string }>(
      'UPDATE inventory SET fence = $2 WHERE sku = $1 AND fence < $2 RETURNING stock',
      [sku, token],
    );
    return rows[0] ? { sku, stock: Number(rows[0].stock), fence: token } : undefined;
  }

  /**
   * The second half: writes the new stock and the reservation in one transaction, if the row
   * still carries `token` (null: no fence, the unsafe strategy). `duplicate` when the orderId
   * was taken meanwhile; nothing is written unless `created`.
   */
  async writeReservation(
    orderId: string,
    sku: string,
    quantity: number,
    newStock: number,
    token: number | null,
  ): Promise<WriteOutcome> {
    return abortable<WriteOutcome>(this.pool, async (client) => {
      // Fenced, the write is relative: a return that needs no lock (a hold cancelled or
      // expired) may have added units since the claim, and must not be overwritten. Under the
      // lock nothing else takes units, so `stock >= $4` only fails when fenced out. Unfenced
      // (the unsafe strategy) it is the lost-update write it exists to show.
      const updated = await client.query<{ stock: string }>(
        `UPDATE inventory
         SET stock = CASE WHEN $3::bigint IS NULL THEN $2 ELSE stock - $4 END, updated_at = now()
         WHERE sku = $1 AND ($3::bigint IS NULL OR (fence = $3::bigint AND stock >= $4))
         RETURNING stock`,
        [sku, newStock, token, quantity],
      );
      if (updated.rowCount !== 1) throw new Abort<WriteOutcome>({ kind: 'fenced' });
      const remaining = Number(updated.rows[0].stock);
      const inserted = await client.query<ReservationRow>(
        `INSERT INTO reservations (order_id, sku, quantity, remaining, fence)
         VALUES ($1, $2, $3, $4, COALESCE($5::bigint, 0))
         ON CONFLICT (order_id) DO NOTHING RETURNING ${RESERVATION_COLUMNS}`,
        [orderId, sku, quantity, remaining, token],
      );
      if (!inserted.rows[0]) throw new Abort<WriteOutcome>({ kind: 'duplicate' });
      await recordEvent(client, {
        sku,
        orderId,
        kind: 'reserve',
        stock: -quantity,
        held: quantity,
        confirmed: 0,
        fence: token,
      });
      return { kind: 'created', reservation: toReservation(inserted.rows[0]) };
    });
  }

  /**
   * The lock-free alternative: one conditional decrement (`stock >= quantity`) and the
   * reservation in one transaction; PostgreSQL's row lock serializes concurrent decrements.
   */
  async reserveAtomically(orderId: string, sku: string, quantity: number): Promise<AtomicOutcome> {
    return abortable<AtomicOutcome>(this.pool, async (client) => {
      const updated = await client.query<{ stock: string }>(
        `UPDATE inventory SET stock = stock - $2, updated_at = now()
         WHERE sku = $1 AND stock >= $2 RETURNING stock`,
        [sku, quantity],
      );
      if (!updated.rows[0]) {
        const exists = await client.query('SELECT 1 FROM inventory WHERE sku = $1', [sku]);
        throw new Abort<AtomicOutcome>({ kind: exists.rowCount ? 'insufficient' : 'not-found' });
      }
      const inserted = await client.query<ReservationRow>(
        `INSERT INTO reservations (order_id, sku, quantity, remaining, fence)
         VALUES ($1, $2, $3, $4, 0)
         ON CONFLICT (order_id) DO NOTHING RETURNING ${RESERVATION_COLUMNS}`,
        [orderId, sku, quantity, updated.rows[0].stock],
      );
      if (!inserted.rows[0]) throw new Abort<AtomicOutcome>({ kind: 'duplicate' });
      await recordEvent(client, {
        sku,
        orderId,
        kind: 'reserve',
        stock: -quantity,
        held: quantity,
        confirmed: 0,
        fence: null,
      });
      return { kind: 'created', reservation: toReservation(inserted.rows[0]) };
    });
  }

  /**
   * Marks the reservation released and puts its quantity back, in one transaction; with a
   * token only while the sku row still carries it. `over-limit` (nothing written) when the
   * stock would pass `MAX_STOCK`: `setStock` keeps that from happening, so only rows written
   * before the bound existed can get it.
   */
  async releaseReservation(orderId: string, token: number | null): Promise<ReleaseOutcome> {
    return abortable<ReleaseOutcome>(this.pool, async (client) => {
      const released = await client.query<{ sku: string; quantity: number }>(
        `UPDATE reservations SET status = 'released', released_at = now()
         WHERE order_id = $1 AND status = 'reserved' RETURNING sku, quantity`,
        [orderId],
      );
      const row = released.rows[0];
      if (!row) throw new Abort<ReleaseOutcome>('already-released');
      const current = await client.query<{ stock: string; fence: string }>(
        'SELECT stock, fence FROM inventory WHERE sku = $1 FOR UPDATE',
        [row.sku],
      );
      const item = current.rows[0];
      if (!item || (token !== null && Number(item.fence) !== token)) {
        throw new Abort<ReleaseOutcome>('fenced');
      }
      if (Number(item.stock) + row.quantity > MAX_STOCK) {
        throw new Abort<ReleaseOutcome>('over-limit');
      }
      await client.query(
        'UPDATE inventory SET stock = stock + $2, updated_at = now() WHERE sku = $1',
        [row.sku, row.quantity],
      );
      await recordEvent(client, {
        sku: row.sku,
        orderId,
        kind: 'release',
        stock: row.quantity,
        held: -row.quantity,
        confirmed: 0,
        fence: token,
      });
      return 'released';
    });
  }
}
