import { createHash } from 'node:crypto';
import type { CacheValue } from '../cache/cache-entry';
import type { StoredProduct } from './product-store';

/** Quoted strong ETag of a product version. */
export function productEtag(id: number, version: number): string {
  return `"${id}-${version}"`;
}

/**
 * Strong ETag of a list page: a digest of its exact bytes (ids, versions and every field), so
 * two pages are equal exactly when they would be sent equal.
 */
export function pageEtag(body: string): string {
  return `"l-${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
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
