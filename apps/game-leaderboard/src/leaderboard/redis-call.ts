import { isRedisUnavailable, ReplicaAckError } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';

/**
 * Redis away or mid-failover (timeouts, closed or refused connections, READONLY, CLUSTERDOWN,
 * TRYAGAIN, MOVED, a write no replica confirmed in time) is a 503 within the command timeout,
 * never a 500 and never a success. Only a reply error that is no failover state (WRONGTYPE, a
 * script error) is a bug and stays a 500. Decided by the reply's name rather than by
 * `instanceof Error`, which socket errors fail when they come from another realm (Jest's vm).
 */
export async function redisCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    if ((error as Error | undefined)?.name === 'ReplyError' && !isRedisUnavailable(error)) {
      throw error;
    }
    if (error instanceof ReplicaAckError) {
      throw unavailable(
        'REDIS_NOT_REPLICATED',
        `Redis did not replicate the write: ${error.message}`,
      );
    }
    // The cause goes to the log, not into the message: service-kit's error handler reads an
    // ioredis text such as "Connection is closed" as a PostgreSQL outage.
    throw Object.assign(
      unavailable('REDIS_UNAVAILABLE', 'Redis is unavailable or failing over; retry shortly'),
      { cause: error },
    );
  }
}
