import type { CacheResult } from '../cache/read-through-cache';
import type { FreshnessPolicy } from '../cache/http-freshness';

/** The content type of a cached body, sent as the string it was cached as. */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** The part of a prom-client counter the routes use. */
export interface LabelledCounter<Label extends string> {
  inc(labels: Record<Label, string>): void;
}

/** What the route plugins take besides the decorators (`productCache`, `productStore`, `cacheKeys`). */
export interface ProductRoutesOptions {
  /** cache_requests_total{result} */
  cacheRequests: LabelledCounter<'result'>;
  /** How long HTTP clients may keep what they read (`Cache-Control`). */
  freshness: FreshnessPolicy;
}

/** Counts one cached read by where its answer came from. */
export function countRead(options: ProductRoutesOptions, result: CacheResult): void {
  options.cacheRequests.inc({ result });
}

/** The part of a reply the `onSend` hook below touches. */
interface HeaderReply {
  hasHeader(name: string): boolean;
  header(name: string, value: string): unknown;
}

/** `onSend` of every route: writes, errors and 503s are never kept by a client; cached reads set their own. */
export async function noStore(_request: unknown, reply: HeaderReply): Promise<void> {
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}
