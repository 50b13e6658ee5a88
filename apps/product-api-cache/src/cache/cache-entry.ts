/** What a read returns: a status (a cached 404 is a negative entry), a body already serialized, an ETag. */
export interface CacheValue {
  status: 200 | 404;
  /** The JSON body exactly as sent; empty for a 404. */
  body: string;
  /** Quoted strong ETag, or empty when the value has none. */
  etag: string;
}

/** A value with the moment it becomes stale (epoch ms). */
export interface CacheEntry extends CacheValue {
  softExpiresAt: number;
}

/**
 * `<softExpiresAt>|<status>|<etag>|<body>`: the Lua scripts read only the leading number, so they
 * can tell fresh from stale without decoding JSON. Neither the number, the status nor the ETag
 * can contain `|`.
 */
export function encodeEntry(entry: CacheEntry): string {
  return `${entry.softExpiresAt}|${entry.status}|${entry.etag}|${entry.body}`;
}

export function decodeEntry(payload: string): CacheEntry {
  const first = payload.indexOf('|');
  const second = payload.indexOf('|', first + 1);
  const third = payload.indexOf('|', second + 1);
  const status = Number(payload.slice(first + 1, second));
  if (first < 1 || third < 0 || (status !== 200 && status !== 404)) {
    throw new Error(`malformed cache entry: ${payload.slice(0, 40)}`);
  }
  return {
    softExpiresAt: Number(payload.slice(0, first)),
    status,
    etag: payload.slice(second + 1, third),
    body: payload.slice(third + 1),
  };
}

/** `ttlMs` plus up to `jitter` × `ttlMs`, so keys filled together do not expire together. */
export function ttlWithJitter(ttlMs: number, jitter: number, random: () => number = Math.random) {
  return Math.round(ttlMs * (1 + jitter * random()));
}

/** Whether an `If-None-Match` header matches `etag` (weak comparison, lists and `*`, RFC 9110). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch || !etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = strip(etag);
  return ifNoneMatch.split(',').some((tag) => strip(tag) === wanted);
}
