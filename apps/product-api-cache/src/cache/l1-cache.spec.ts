import { L1Cache } from './l1-cache';

const entry = (ms: number) => ({
  status: 200 as const,
  body: '{}',
  etag: '"1-1"',
  softExpiresAt: Date.now() + ms,
});

describe('L1Cache', () => {
  it('evicts only the named groups', () => {
    const l1 = new L1Cache({ maxEntries: 10, ttlMs: 10_000 });
    l1.set('c:{p-1}:e:v', entry(5000), l1.generation);
    l1.set('c:{p-12}:e:v', entry(5000), l1.generation);
    l1.evict(['p-1']);
    expect(l1.get('c:{p-1}:e:v')).toBeUndefined();
    expect(l1.get('c:{p-12}:e:v')).toBeDefined();
    l1.evict(null);
    expect(l1.get('c:{p-12}:e:v')).toBeUndefined();
  });

  it('refuses a value read before an eviction that happened since', () => {
    const l1 = new L1Cache({ maxEntries: 10, ttlMs: 10_000 });
    const before = l1.generation;
    l1.evict(['p-2']);
    l1.set('c:{p-2}:e:v', entry(5000), before);
    expect(l1.get('c:{p-2}:e:v')).toBeUndefined();
  });

  it('does not keep an entry past its soft expiry', () => {
    const l1 = new L1Cache({ maxEntries: 10, ttlMs: 10_000 });
    l1.set('c:{p-3}:e:v', entry(-1), l1.generation);
    expect(l1.get('c:{p-3}:e:v')).toBeUndefined();
  });
});
