import { cacheControl } from './http-freshness';

const policy = { httpMaxAgeMs: 5000, staleGraceMs: 30_000 };
const now = 1_000_000;

describe('Cache-Control from the server TTLs', () => {
  it('a fresh copy: max-age capped by the policy, the whole grace after it', () => {
    expect(cacheControl({ status: 200, softExpiresAt: now + 60_000 }, policy, now)).toBe(
      'public, max-age=5, stale-while-revalidate=30, stale-if-error=30',
    );
  });

  it('never promises more freshness than the server copy has left', () => {
    expect(cacheControl({ status: 200, softExpiresAt: now + 2500 }, policy, now)).toBe(
      'public, max-age=2, stale-while-revalidate=30, stale-if-error=30',
    );
  });

  it('a stale copy: max-age=0 and only what is left of the grace', () => {
    expect(cacheControl({ status: 200, softExpiresAt: now - 12_000 }, policy, now)).toBe(
      'public, max-age=0, stale-while-revalidate=18, stale-if-error=18',
    );
    expect(cacheControl({ status: 200, softExpiresAt: now - 40_000 }, policy, now)).toBe(
      'public, max-age=0, stale-while-revalidate=0, stale-if-error=0',
    );
  });

  it('client age + max-age + stale window never passes the server copy lifetime', () => {
    for (const left of [-29_000, -1000, 0, 999, 4000, 7000, 90_000]) {
      const header = cacheControl({ status: 200, softExpiresAt: now + left }, policy, now);
      const [maxAge, swr] = [/max-age=(\d+)/, /stale-while-revalidate=(\d+)/].map((pattern) =>
        Number(pattern.exec(header)?.[1]),
      );
      expect(now + (maxAge + swr) * 1000).toBeLessThanOrEqual(now + left + policy.staleGraceMs);
    }
  });

  it('a cached 404 has no grace; an answer without a cached copy must be revalidated', () => {
    expect(cacheControl({ status: 404, softExpiresAt: now + 4000 }, policy, now)).toBe(
      'public, max-age=4',
    );
    expect(cacheControl({ status: 200 }, policy, now)).toBe('no-cache');
  });

  it('a zero cap tells clients to revalidate every time, still allowing stale on error', () => {
    expect(
      cacheControl(
        { status: 200, softExpiresAt: now + 60_000 },
        { ...policy, httpMaxAgeMs: 0 },
        now,
      ),
    ).toBe('public, max-age=0, stale-while-revalidate=30, stale-if-error=30');
  });
});
