import type { Pool, PoolClient } from 'pg';

/** Runs `work` in one transaction on one pooled connection: committed if it returns, else rolled back. */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
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
export class Abort<T> extends Error {
  constructor(readonly outcome: T) {
    super('transaction aborted with an outcome');
    this.name = 'Abort';
  }
}

/** `inTransaction`, where throwing an `Abort` rolls back and answers its outcome. */
export async function abortable<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  try {
    return await inTransaction(pool, work);
  } catch (error) {
    if (error instanceof Abort) return error.outcome as T;
    throw error;
  }
}
