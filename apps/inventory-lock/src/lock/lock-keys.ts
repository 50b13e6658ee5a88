import { createKeyBuilder } from '@redis-patterns/redis-core';

/**
 * Every Redis key of inventory-lock. They all live on the Redlock masters (the service's own
 * Redis holds none). The keys of one resource (a sku) share the hash tag `{<sku>}`, so its lock
 * and its fence counter sit on one slot wherever a master happens to run.
 */
export interface LockKeys {
  /** The Redlock mutex of one resource: `<prefix>:{<sku>}:lock`. */
  lock(resource: string): string;
  /** The fencing-token counter of one resource (fence-next-1, fence-raise-1): `<prefix>:{<sku>}:fence`. */
  fence(resource: string): string;
  /** A readiness probe lock, fresh per probe so no two probes collide: `<prefix>:ready-probe:<instance>:<n>`. */
  readyProbe(instance: string, probe: number): string;
}

export function lockKeys(prefix: string): LockKeys {
  const keys = createKeyBuilder(prefix);
  return {
    lock: (resource) => keys.tagged(resource, 'lock'),
    fence: (resource) => keys.tagged(resource, 'fence'),
    readyProbe: (instance, probe) => keys.key('ready-probe', instance, probe),
  };
}
