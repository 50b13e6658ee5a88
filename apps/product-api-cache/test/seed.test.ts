import { join } from 'node:path';
import { createPool, runMigrations } from '@redis-patterns/service-kit';
import { startPostgres, type PostgresServer } from '@redis-patterns/testkit';
import { seedCatalogue } from '../src/catalog/seed-catalogue';

let postgres: PostgresServer;
let pool: ReturnType<typeof createPool>;
beforeAll(async () => {
  postgres = await startPostgres();
  pool = createPool({ url: await postgres.createDatabase(), poolSize: 2 });
  await runMigrations(pool, join(__dirname, '..', 'migrations'));
});
afterAll(async () => {
  await pool?.end();
  await postgres?.stop();
});

describe('seed', () => {
  it('loads 10,000 products once; a second run inserts nothing and new ids follow them', async () => {
    expect(await seedCatalogue(pool, 10_000)).toBe(10_000);
    expect(await seedCatalogue(pool, 10_000)).toBe(0);
    const { rows } = await pool.query<{ count: string; max: string }>(
      'SELECT count(*) AS count, max(id) AS max FROM products',
    );
    expect(rows[0]).toEqual({ count: '10000', max: '10000' });
    const inserted = await pool.query<{ id: string }>(
      "INSERT INTO products (sku, name, description, price_cents, category) VALUES ('AFTER-SEED', 'n', '', 1, 'books') RETURNING id",
    );
    expect(inserted.rows[0].id).toBe('10001');
  });
});
