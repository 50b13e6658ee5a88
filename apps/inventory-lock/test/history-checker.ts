import { sql, sqlSnapshot } from './inventory-harness';

/** What a client was told: an acknowledged operation that must be in the final state. */
export type Ack =
  | { op: 'hold'; orderId: string; lines: Array<{ sku: string; quantity: number }> }
  | { op: 'confirm' | 'cancel'; orderId: string; status: string };

export interface Verdict {
  /** Events read from `inventory_events`. */
  events: number;
  acks: number;
  skus: number;
  violations: string[];
}

const TABLES_SQL = `SELECT i.sku, i.stock,
       (SELECT COALESCE(SUM(l.quantity), 0) FROM hold_lines l JOIN holds h USING (order_id)
          WHERE l.sku = i.sku AND h.status = 'held') +
       (SELECT COALESCE(SUM(quantity), 0) FROM reservations r
          WHERE r.sku = i.sku AND r.status = 'reserved') AS held,
       (SELECT COALESCE(SUM(l.quantity), 0) FROM hold_lines l JOIN holds h USING (order_id)
          WHERE l.sku = i.sku AND h.status = 'confirmed') AS confirmed
     FROM inventory i`;

type EventRow = {
  id: string;
  sku: string;
  order_id: string | null;
  kind: string;
  stock_delta: string;
  held_delta: string;
  confirmed_delta: string;
  fence: string | null;
};

/**
 * Reads the full history (every hold, confirm, cancel, expiry, reservation, release and restock
 * PostgreSQL committed, per sku in commit order) and checks, per sku: stock, held and confirmed
 * never negative after any event; stock + held + confirmed = total at every event (only a
 * restock changes the total); every fence strictly above the one before it (no fence accepted
 * out of order); the replay ending where the tables are; each hold line taken once and settled
 * at most once. Then every acknowledged operation must be there: no acknowledged op lost.
 */
export async function checkHistory(databaseUrl: string, acks: Ack[]): Promise<Verdict> {
  const violations: string[] = [];
  // The events and the tables from one snapshot: a hold expiring between two reads would
  // otherwise show in the tables and not in the history (or the other way round).
  const [eventRows, tableRows] = await sqlSnapshot(databaseUrl, [
    'SELECT * FROM inventory_events ORDER BY id',
    TABLES_SQL,
  ]);
  const events = eventRows as EventRow[];
  const state = new Map<
    string,
    { stock: number; held: number; confirmed: number; total: number; fence: number }
  >();
  const lineEvents = new Map<string, string[]>();
  for (const e of events) {
    const s = state.get(e.sku) ?? { stock: 0, held: 0, confirmed: 0, total: 0, fence: 0 };
    const d = {
      stock: Number(e.stock_delta),
      held: Number(e.held_delta),
      confirmed: Number(e.confirmed_delta),
    };
    s.stock += d.stock;
    s.held += d.held;
    s.confirmed += d.confirmed;
    if (e.kind === 'restock') s.total += d.stock;
    else if (d.stock + d.held + d.confirmed !== 0) {
      violations.push(`event ${e.id} (${e.kind} ${e.sku}) changed the total`);
    }
    if (s.stock < 0 || s.held < 0 || s.confirmed < 0) {
      violations.push(`event ${e.id} (${e.kind} ${e.sku}) left ${JSON.stringify(s)}`);
    }
    if (s.stock + s.held + s.confirmed !== s.total) {
      violations.push(`event ${e.id}: ${e.sku} stock + held + confirmed != total`);
    }
    if (e.fence !== null && Number(e.fence) > 0) {
      if (Number(e.fence) <= s.fence) {
        violations.push(
          `event ${e.id} (${e.kind} ${e.sku}) accepted fence ${e.fence} after ${s.fence}`,
        );
      }
      s.fence = Number(e.fence);
    }
    state.set(e.sku, s);
    if (e.order_id && ['hold', 'confirm', 'cancel', 'expire'].includes(e.kind)) {
      const key = `${e.order_id}/${e.sku}`;
      lineEvents.set(key, [...(lineEvents.get(key) ?? []), e.kind]);
    }
  }
  for (const [key, kinds] of lineEvents) {
    if (kinds[0] !== 'hold' || kinds.filter((k) => k === 'hold').length !== 1 || kinds.length > 2) {
      violations.push(`hold line ${key} has events ${kinds.join(',')}`);
    }
  }

  const tables = tableRows as { sku: string; stock: string; held: string; confirmed: string }[];
  for (const row of tables) {
    const s = state.get(row.sku) ?? { stock: 0, held: 0, confirmed: 0, total: 0, fence: 0 };
    const actual = {
      stock: Number(row.stock),
      held: Number(row.held),
      confirmed: Number(row.confirmed),
    };
    const replayed = { stock: s.stock, held: s.held, confirmed: s.confirmed };
    if (JSON.stringify(actual) !== JSON.stringify(replayed)) {
      violations.push(
        `${row.sku}: tables ${JSON.stringify(actual)} but history ${JSON.stringify(replayed)}`,
      );
    }
  }

  const holds = new Map(
    (
      await sql<{ order_id: string; status: string; lines: string }>(
        databaseUrl,
        `SELECT h.order_id, h.status,
           string_agg(l.sku || ':' || l.quantity, ',' ORDER BY l.sku) AS lines
         FROM holds h JOIN hold_lines l USING (order_id) GROUP BY h.order_id, h.status`,
      )
    ).map((row) => [row.order_id, row]),
  );
  for (const ack of acks) {
    const hold = holds.get(ack.orderId);
    if (!hold) {
      violations.push(`acknowledged ${ack.op} of ${ack.orderId} lost: no hold`);
      continue;
    }
    if (ack.op === 'hold') {
      const lines = [...ack.lines]
        .sort((a, b) => (a.sku < b.sku ? -1 : 1))
        .map((l) => `${l.sku}:${l.quantity}`)
        .join(',');
      if (hold.lines !== lines)
        violations.push(`hold ${ack.orderId} has ${hold.lines}, not ${lines}`);
    } else if (ack.status !== hold.status) {
      violations.push(`acknowledged ${ack.op} of ${ack.orderId} (${ack.status}) is ${hold.status}`);
    }
  }
  return { events: events.length, acks: acks.length, skus: state.size, violations };
}
