import type { Pool, PoolClient } from 'pg';

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

export type ReleaseOutcome = 'released' | 'already-released' | 'fenced';

async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Rolls the transaction back and answers `outcome` (a refused write changes nothing). */
class Abort<T> {
  constructor(readonly outcome: T) {}
}

async function abortable<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  try {
    return await inTransaction(pool, work);
  } catch (error) {
    if (error instanceof Abort) return error.outcome as T;
    throw error;
  }
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

  async getReservation(orderId: string): Promise<Reservation | undefined> {
    const { rows } = await this.pool.query<ReservationRow>(
      `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE order_id = $1`,
      [orderId],
    );
    return rows[0] ? toReservation(rows[0]) : undefined;
  }

  /**
   * Sets the stock. With a token, only when the row's fence is below it (the row then carries
   * the token); returns false when refused. Without a token (lock-free strategies), always.
   */
  async setStock(sku: string, stock: number, token: number | null): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO inventory (sku, stock, fence) VALUES ($1, $2, COALESCE($3::bigint, 0))
       ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock, updated_at = now(),
         fence = GREATEST(inventory.fence, EXCLUDED.fence)
       WHERE $3::bigint IS NULL OR inventory.fence < $3::bigint`,
      [sku, stock, token],
    );
    return rowCount === 1;
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
      const updated = await client.query(
        `UPDATE inventory SET stock = $2, updated_at = now()
         WHERE sku = $1 AND ($3::bigint IS NULL OR fence = $3::bigint)`,
        [sku, newStock, token],
      );
      if (updated.rowCount !== 1) throw new Abort<WriteOutcome>({ kind: 'fenced' });
      const inserted = await client.query<ReservationRow>(
        `INSERT INTO reservations (order_id, sku, quantity, remaining, fence)
         VALUES ($1, $2, $3, $4, COALESCE($5::bigint, 0))
         ON CONFLICT (order_id) DO NOTHING RETURNING ${RESERVATION_COLUMNS}`,
        [orderId, sku, quantity, newStock, token],
      );
      if (!inserted.rows[0]) throw new Abort<WriteOutcome>({ kind: 'duplicate' });
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
      return { kind: 'created', reservation: toReservation(inserted.rows[0]) };
    });
  }

  /**
   * Marks the reservation released and puts its quantity back, in one transaction; with a
   * token only while the sku row still carries it.
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
      const restocked = await client.query(
        `UPDATE inventory SET stock = stock + $2, updated_at = now()
         WHERE sku = $1 AND ($3::bigint IS NULL OR fence = $3::bigint)`,
        [row.sku, row.quantity, token],
      );
      if (restocked.rowCount !== 1) throw new Abort<ReleaseOutcome>('fenced');
      return 'released';
    });
  }
}
