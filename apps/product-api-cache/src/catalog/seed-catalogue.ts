import type { createPool } from '@redis-patterns/service-kit';
import { seedProducts } from './seed-data';

/**
 * Inserts the first `count` seed products with their fixed ids, skipping any already there, in
 * one statement; then moves the id sequence past them so POST never collides. Idempotent.
 * Returns how many rows were inserted.
 */
export async function seedCatalogue(
  pool: ReturnType<typeof createPool>,
  count: number,
): Promise<number> {
  const products = seedProducts(count);
  const result = await pool.query(
    `INSERT INTO products (id, sku, name, description, price_cents, category)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
     ON CONFLICT DO NOTHING`,
    [
      products.map((p) => p.id),
      products.map((p) => p.sku),
      products.map((p) => p.name),
      products.map((p) => p.description),
      products.map((p) => p.priceCents),
      products.map((p) => p.category),
    ],
  );
  await pool.query(
    `SELECT setval(pg_get_serial_sequence('products', 'id'), GREATEST((SELECT max(id) FROM products), 1))`,
  );
  return result.rowCount ?? 0;
}
