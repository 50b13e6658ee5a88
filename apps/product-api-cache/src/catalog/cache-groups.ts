import type { CacheValue } from '../cache/cache-entry';
import type { StoredProduct } from './product-store';

/** The cache group of one product: its entry (or cached 404). */
export function productGroup(id: number): string {
  return `p-${id}`;
}

/** The cache group of one category: every cached page of its list. */
export function categoryGroup(category: string): string {
  return `c-${category}`;
}

/** Quoted strong ETag of a product version. */
export function productEtag(id: number, version: number): string {
  return `"${id}-${version}"`;
}

/** What the cache holds for a product id: the product, or a negative entry for a 404. */
export function productCacheValue(stored: StoredProduct | null): CacheValue {
  return stored
    ? {
        status: 200,
        body: JSON.stringify(stored.product),
        etag: productEtag(stored.product.id, stored.version),
      }
    : { status: 404, body: '', etag: '' };
}
