import { ProductInput } from '../routes/product-schemas';
import { SEED_CATEGORIES, seedProduct, seedProducts } from './seed-data';

describe('seed data', () => {
  it('is deterministic', () => {
    expect(seedProduct(42)).toEqual(seedProduct(42));
    expect(seedProducts(3).map((p) => p.id)).toEqual([1, 2, 3]);
  });

  it('has unique skus and spreads products over every category', () => {
    const products = seedProducts(10_000);
    expect(new Set(products.map((p) => p.sku)).size).toBe(10_000);
    expect(new Set(products.map((p) => p.category)).size).toBe(SEED_CATEGORIES.length);
  });

  it('produces products the API itself would accept', () => {
    const { sku, name, category, priceCents } = ProductInput.properties;
    for (const product of seedProducts(10_000)) {
      expect(product.sku).toMatch(new RegExp(sku.pattern ?? ''));
      expect(product.category).toMatch(new RegExp(category.pattern ?? ''));
      expect(product.name.length).toBeLessThanOrEqual(name.maxLength ?? 0);
      expect(product.priceCents).toBeGreaterThanOrEqual(priceCents.minimum ?? 0);
      expect(Number.isInteger(product.priceCents)).toBe(true);
    }
  });
});
