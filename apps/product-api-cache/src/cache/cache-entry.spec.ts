import { decodeEntry, encodeEntry, etagMatches, ttlWithJitter } from './cache-entry';

describe('cache entry encoding', () => {
  it('round-trips a body that itself contains the separator', () => {
    const entry = {
      softExpiresAt: 1_700_000_000_000,
      status: 200 as const,
      etag: '"7-3"',
      body: '{"name":"a|b|c"}',
    };
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
  });

  it('round-trips a negative entry with an empty body and ETag', () => {
    const entry = { softExpiresAt: 5, status: 404 as const, etag: '', body: '' };
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
  });

  it('rejects a payload that is not an entry', () => {
    expect(() => decodeEntry('hello')).toThrow(/malformed/);
    expect(() => decodeEntry('1|500||x')).toThrow(/malformed/);
  });
});

describe('ttlWithJitter', () => {
  it('stays within [ttl, ttl × (1 + jitter)]', () => {
    expect(ttlWithJitter(1000, 0.2, () => 0)).toBe(1000);
    expect(ttlWithJitter(1000, 0.2, () => 0.999999)).toBe(1200);
    expect(ttlWithJitter(1000, 0, () => 0.7)).toBe(1000);
  });

  it('spreads the expiries of keys filled together', () => {
    const ttls = new Set(Array.from({ length: 100 }, () => ttlWithJitter(60_000, 0.2)));
    expect(ttls.size).toBeGreaterThan(50);
  });
});

describe('etagMatches', () => {
  it('matches exact, weak, listed and wildcard validators', () => {
    expect(etagMatches('"1-2"', '"1-2"')).toBe(true);
    expect(etagMatches('W/"1-2"', '"1-2"')).toBe(true);
    expect(etagMatches('"x", "1-2"', '"1-2"')).toBe(true);
    expect(etagMatches('*', '"1-2"')).toBe(true);
  });

  it('does not match another version, an absent header or a value without ETag', () => {
    expect(etagMatches('"1-1"', '"1-2"')).toBe(false);
    expect(etagMatches(undefined, '"1-2"')).toBe(false);
    expect(etagMatches('*', '')).toBe(false);
  });
});
