import { DomainError, unavailable, type createPool } from '@redis-patterns/service-kit';
import type { ProductPage } from '../routes/product-list-schemas';
import type { Product, ProductInput } from '../routes/product-schemas';

/** The queries this service sends, the label of `db_queries_total`. */
export type QueryName =
  'product_by_id' | 'products_by_category' | 'product_insert' | 'product_update' | 'product_delete';

/** The part of a prom-client counter the store uses. */
export interface QueryCounter {
  inc(labels: { query: QueryName }): void;
}

/** A product row with the version that is its ETag. */
export interface StoredProduct {
  product: Product;
  version: number;
}

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_cents: number;
  category: string;
  version: string;
  updated_at: Date;
}

const COLUMNS = 'id, sku, name, description, price_cents, category, version, updated_at';
const UNIQUE_VIOLATION = '23505';

function toStored(row: ProductRow): StoredProduct {
  return {
    product: {
      id: Number(row.id),
      sku: row.sku,
      name: row.name,
      description: row.description,
      priceCents: row.price_cents,
      category: row.category,
      updatedAt: row.updated_at.toISOString(),
    },
    version: Number(row.version),
  };
}

/** PostgreSQL errors that mean "the database is away", as opposed to a bad statement. */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? '';
  return (
    /^(08|57P)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(code) ||
    /timeout|terminat|Connection/i.test(message)
  );
}

/**
 * Every SQL statement of the catalogue. Each one increments `db_queries_total{query}` before it
 * is sent, so tests and dashboards count exactly what reached PostgreSQL.
 */
export class ProductStore {
  constructor(
    private readonly pool: ReturnType<typeof createPool>,
    private readonly queries: QueryCounter,
  ) {}

  private async query(name: QueryName, sql: string, values: unknown[]): Promise<ProductRow[]> {
    this.queries.inc({ query: name });
    try {
      return (await this.pool.query<ProductRow>(sql, values)).rows;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
        throw new DomainError(409, 'SKU_TAKEN', 'another product already has this sku');
      }
      if (isUnavailable(error)) {
        throw unavailable('DATABASE_UNAVAILABLE', 'the product database is not reachable', 1);
      }
      throw error;
    }
  }

  async byId(id: number): Promise<StoredProduct | null> {
    const rows = await this.query(
      'product_by_id',
      `SELECT ${COLUMNS} FROM products WHERE id = $1`,
      [id],
    );
    return rows[0] ? toStored(rows[0]) : null;
  }

  /** Keyset page: products of `category` with id > `after`, by id. */
  async page(category: string, limit: number, after: number): Promise<ProductPage> {
    const rows = await this.query(
      'products_by_category',
      `SELECT ${COLUMNS} FROM products WHERE category = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [category, after, limit + 1],
    );
    const items = rows.slice(0, limit).map((row) => toStored(row).product);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? String(last.id) : null };
  }

  async insert(input: ProductInput): Promise<StoredProduct> {
    const rows = await this.query(
      'product_insert',
      `INSERT INTO products (sku, name, description, price_cents, category)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [input.sku, input.name, input.description, input.priceCents, input.category],
    );
    return toStored(rows[0]);
  }

  /** Replaces a product; returns it with the category it had before (both lists change), or null. */
  async update(
    id: number,
    input: ProductInput,
  ): Promise<{ stored: StoredProduct; previousCategory: string } | null> {
    const rows = await this.query(
      'product_update',
      `UPDATE products p
          SET sku = $2, name = $3, description = $4, price_cents = $5, category = $6,
              version = p.version + 1, updated_at = now()
         FROM (SELECT id, category FROM products WHERE id = $1 FOR UPDATE) old
        WHERE p.id = old.id
    RETURNING p.id, p.sku, p.name, p.description, p.price_cents, p.category, p.version,
              p.updated_at, old.category AS previous_category`,
      [id, input.sku, input.name, input.description, input.priceCents, input.category],
    );
    const row = rows[0] as (ProductRow & { previous_category: string }) | undefined;
    return row ? { stored: toStored(row), previousCategory: row.previous_category } : null;
  }

  /** Deletes a product; returns its category, or null when there was none. */
  async delete(id: number): Promise<string | null> {
    const rows = await this.query(
      'product_delete',
      'DELETE FROM products WHERE id = $1 RETURNING category',
      [id],
    );
    return rows[0]?.category ?? null;
  }
}
