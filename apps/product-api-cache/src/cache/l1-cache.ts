import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './cache-entry';
import { inGroups } from './eviction-message';

export interface L1Options {
  /** Most entries held (LRU). */
  maxEntries: number;
  /** Lifetime of an entry: bounds how long a lost eviction message can leave an old value. */
  ttlMs: number;
}

/**
 * The in-process tier: a bounded LRU of decoded entries. It is only as fresh as the eviction
 * channel feeding it, so the cache reads it only while that channel is live, and every entry
 * expires after `ttlMs` whatever happens.
 */
export class L1Cache {
  private readonly lru: LRUCache<string, CacheEntry>;
  private generationCounter = 0;

  constructor(private readonly options: L1Options) {
    this.lru = new LRUCache<string, CacheEntry>({ max: options.maxEntries, ttl: options.ttlMs });
  }

  /**
   * Changes on every eviction. A caller that read Redis takes it before and passes it to `set`,
   * so a value read before an eviction cannot be stored after it.
   */
  get generation(): number {
    return this.generationCounter;
  }

  get(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  set(key: string, entry: CacheEntry, generation: number): void {
    if (generation !== this.generationCounter) return;
    const ttl = Math.min(this.options.ttlMs, entry.softExpiresAt - Date.now());
    if (ttl > 0) this.lru.set(key, entry, { ttl });
  }

  /** Drops every entry of the groups, or everything for `null`. */
  evict(groups: string[] | null): void {
    this.generationCounter += 1;
    if (groups === null) {
      this.lru.clear();
      return;
    }
    for (const key of [...this.lru.keys()]) if (inGroups(key, groups)) this.lru.delete(key);
  }
}
