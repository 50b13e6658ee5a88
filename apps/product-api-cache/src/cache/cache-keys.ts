import { createKeyBuilder } from '@redis-patterns/redis-core';

/**
 * The keys of one cache entry. A group (one product, or one category's pages) shares a hash tag,
 * an index set and one invalidation.
 */
export interface CacheKey {
  group: string;
  entry: string;
  lease: string;
  index: string;
}

/**
 * The cache group of one product: its entry (or cached 404). The outbox triggers
 * (migrations/002-cache-outbox.sql) name the same groups, `p-<id>` and `c-<category>`, in SQL.
 */
export function productGroup(id: number): string {
  return `p-${id}`;
}

/** The cache group of one category: every cached page of its list. */
export function categoryGroup(category: string): string {
  return `c-${category}`;
}

/** The hash tag every key of a group carries, hence the slot it lives in on a Cluster. */
export function hashTag(group: string): string {
  return `{${group}}`;
}

/**
 * Every Redis key and channel of the service, from one prefix (`REDIS_KEY_PREFIX`). A group's
 * keys share the hash tag `{<group>}`; the eviction registry's share `{evictions}`, so each
 * script touches one slot on Redis Cluster.
 */
export interface CacheKeys {
  readonly prefix: string;
  /** One entry of `group`, its lease and the group's index set. */
  entry(group: string, ...parts: Array<string | number>): CacheKey;
  /** The entry of one product: `<prefix>:{p-<id>}:e:v`. */
  product(id: number): CacheKey;
  /** One page of a category's list: `<prefix>:{c-<category>}:e:page:<limit>:<after>`. */
  page(category: string, limit: number, after: number): CacheKey;
  /** The lease of an entry: the token of the one reader allowed to fill it (invalidate-1.lua derives it alike). */
  lease(entry: string): string;
  /** The set of a group's entries, for invalidation: `<prefix>:{<group>}:index`. */
  index(group: string): string;
  /** SCAN MATCH pattern of every index set of this prefix. */
  everyIndex: string;
  /** The group an index set (a key `everyIndex` matched) belongs to, or null. */
  groupOfIndex(key: string): string | null;
  /** The eviction channel: `<seq>|<json>`, the groups each write changed, and the pings. */
  evictionChannel: string;
  /** The channel of the members' acknowledgements. */
  ackChannel: string;
  /** The eviction registry: member id -> registration expiry (Redis `TIME`, ms). */
  members: string;
  /** The number of the last message published on the eviction channel. */
  seq: string;
  /** The members that acknowledged eviction `id`. */
  acks(id: string): string;
}

/** SCAN MATCH's special characters, escaped so a prefix matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export function cacheKeys(prefix: string): CacheKeys {
  const keys = createKeyBuilder(prefix);
  const lease = (entry: string): string => `${entry}:lease`;
  const index = (group: string): string => keys.tagged(group, 'index');
  const entry = (group: string, ...parts: Array<string | number>): CacheKey => {
    const key = keys.tagged(group, 'e', ...parts);
    return { group, entry: key, lease: lease(key), index: index(group) };
  };
  const evictionChannel = keys.key('evictions');
  return {
    prefix,
    entry,
    product: (id) => entry(productGroup(id), 'v'),
    page: (category, limit, after) => entry(categoryGroup(category), 'page', limit, after),
    lease,
    index,
    everyIndex: `${globEscape(prefix)}:{*}:index`,
    groupOfIndex: (key) => {
      const open = key.indexOf('{', prefix.length);
      const close = key.indexOf('}', open);
      return open > 0 && close > open ? key.slice(open + 1, close) : null;
    },
    evictionChannel,
    ackChannel: `${evictionChannel}:ack`,
    members: keys.tagged('evictions', 'members'),
    seq: keys.tagged('evictions', 'seq'),
    acks: (id) => keys.tagged('evictions', 'ack', id),
  };
}
