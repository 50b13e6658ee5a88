/** One row of `cache_outbox` as the invalidator reads it. */
export interface OutboxRow {
  id: number;
  /** The groups the change touched; null: everything (a TRUNCATE). */
  groups: string[] | null;
}

/** What one batch of outbox rows asks the cache to do. */
export type OutboxPlan =
  | { kind: 'none' }
  | { kind: 'groups'; groups: string[]; lastId: number }
  | { kind: 'everything'; lastId: number };

/** The union of the rows' groups, or everything when one row says so; rows in id order. */
export function planBatch(rows: OutboxRow[]): OutboxPlan {
  if (rows.length === 0) return { kind: 'none' };
  const lastId = rows[rows.length - 1].id;
  if (rows.some((row) => row.groups === null)) return { kind: 'everything', lastId };
  const groups = new Set<string>();
  for (const row of rows) for (const group of row.groups ?? []) groups.add(group);
  return { kind: 'groups', groups: [...groups], lastId };
}

/**
 * A cursor behind the pruning watermark has a gap: rows it never read are gone, so no group
 * can be proved fresh and the cache must be dropped whole.
 */
export function hasGap(cursor: number, prunedThrough: number): boolean {
  return prunedThrough > cursor;
}
