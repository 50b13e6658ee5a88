import { unavailable } from '@redis-patterns/service-kit';
import type { InvalidationResult, ReadThroughCache } from '../cache/read-through-cache';

/** A write is refused before it touches PostgreSQL while its invalidation could not run. */
export function assertWritable(cache: ReadThroughCache): void {
  if (!cache.writable) {
    throw unavailable(
      'REDIS_UNAVAILABLE',
      'Redis is unavailable, so the cache could not be invalidated: nothing was written, retry shortly',
    );
  }
}

/**
 * A write committed in PostgreSQL answers success only once its invalidation is confirmed;
 * otherwise 503 saying what is saved and what may still be served. Never a false success.
 */
export function assertInvalidated(result: InvalidationResult, what: string): void {
  if (result.status === 'confirmed') return;
  if (result.status === 'deferred') {
    throw unavailable(
      'CACHE_INVALIDATION_PENDING',
      `${what} is saved, but Redis did not confirm the cache invalidation (${result.reason}): replicas may serve the previous version until this replica's retries get through. Retrying the request is safe.`,
    );
  }
  throw unavailable(
    'EVICTION_NOT_CONFIRMED',
    `${what} is saved and gone from Redis, but ${result.members.length} replica(s) did not confirm dropping their in-process copy within CACHE_EVICTION_ACK_TIMEOUT_MS; each stops serving it when its registration lapses (CACHE_MEMBER_TTL_MS).`,
  );
}
