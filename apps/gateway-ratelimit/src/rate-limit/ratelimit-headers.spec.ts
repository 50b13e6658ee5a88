import { rateLimitHeaders } from './ratelimit-headers';
import type { Limit } from './rate-limit-policy';

const limit: Limit = {
  algorithm: 'gcra',
  limit: 100,
  windowMs: 60000,
  burst: 100,
  leaseMs: 60000,
  by: 'consumer',
};

describe('rateLimitHeaders', () => {
  it('writes the IETF fields and the x-ratelimit trio', () => {
    expect(rateLimitHeaders('default', limit, { remaining: 7, resetSeconds: 42 })).toEqual({
      'ratelimit-policy': '"default";q=100;w=60',
      ratelimit: '"default";r=7;t=42',
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': '7',
      'x-ratelimit-reset': '42',
    });
  });

  it('adds Retry-After on a refusal, rounds sub-second windows up, and has w=0 for concurrency', () => {
    const headers = rateLimitHeaders(
      'default',
      { ...limit, windowMs: 500 },
      { remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 },
    );
    expect(headers['retry-after']).toBe('1');
    expect(headers['ratelimit-policy']).toBe('"default";q=100;w=1');
    expect(
      rateLimitHeaders(
        'c',
        { ...limit, algorithm: 'concurrency', limit: 5 },
        { remaining: 4, resetSeconds: 0 },
      )['ratelimit-policy'],
    ).toBe('"c";q=5;w=0');
  });
});
