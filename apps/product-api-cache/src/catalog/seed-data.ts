import type { ProductInput } from '../routes/product-schemas';

export const SEED_CATEGORIES = [
  'books',
  'music',
  'games',
  'garden',
  'kitchen',
  'toys',
  'sports',
  'tools',
  'office',
  'pets',
] as const;

const ADJECTIVES = ['Compact', 'Classic', 'Rugged', 'Bright', 'Quiet', 'Smart', 'Light', 'Solid'];
const NOUNS = ['Lamp', 'Kettle', 'Notebook', 'Speaker', 'Backpack', 'Chair', 'Clock', 'Bottle'];

/** A seed product with its fixed id. */
export interface SeedProduct extends ProductInput {
  id: number;
}

/**
 * The `index`-th (1-based) seed product: the same on every run and machine, so a reseed is a
 * no-op and benchmarks read the same rows.
 */
export function seedProduct(index: number): SeedProduct {
  const category = SEED_CATEGORIES[index % SEED_CATEGORIES.length];
  const name = `${ADJECTIVES[index % ADJECTIVES.length]} ${NOUNS[Math.floor(index / 7) % NOUNS.length]} ${index}`;
  return {
    id: index,
    sku: `SKU-${String(index).padStart(6, '0')}`,
    name,
    description: `${name}, a ${category} product from the seed catalogue.`,
    // A fixed pseudo-random spread between 1.00 and 500.00 (Knuth's multiplicative hash).
    priceCents: 100 + ((index * 2_654_435_761) % 49_901),
    category,
  };
}

/** The first `count` seed products. */
export function seedProducts(count: number): SeedProduct[] {
  return Array.from({ length: count }, (_, i) => seedProduct(i + 1));
}
