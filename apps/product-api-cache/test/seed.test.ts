import { join } from 'node:path';
import { createPool, runMigrations } from '@redis-patterns/service-kit';
import { perFileFixture, startPostgres } from '@redis-patterns/testkit';
import { seedCatalogue } from '../src/catalog/seed-catalogue';

const pool = perFileFixture(async (cleanup) => {
  const postgres = await startPostgres();
  cleanup(() => postgres.stop());
  const created = createPool({ url: await postgres.createDatabase(), poolSize: 2 });
  cleanup(() => created.end());
  await runMigrations(created, join(__dirname, '..', 'migrations'));
  return created;
});

describe('seed', () => {
  it('loads 10,000 products once; a second run inserts nothing and new ids follow them', async () => {
    expect(await seedCatalogue(pool(), 10_000)).toBe(10_000);
    expect(await seedCatalogue(pool(), 10_000)).toBe(0);
    const { rows } = await pool().query<{ count: string; max: string }>(
      'SELECT count(*) AS count, max(id) AS max FROM products',
    );
    expect(rows[0]).toEqual({ count: '10000', max: '10000' });
    const inserted = await pool().query<{ id: string }>(
      "INSERT INTO products (sku, name, description, price_cents, category) VALUES ('AFTER-SEED', 'n', '', 1, 'books') RETURNING id",
    );
    expect(inserted.rows[0].id).toBe('10001');
  });
});
