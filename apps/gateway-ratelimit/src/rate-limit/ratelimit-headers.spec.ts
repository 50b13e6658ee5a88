import { rateLimitHeaders } from './ratelimit-headers';
import type { Policy } from './rate-limit-policy';

const policy: Policy = {
  name: 'default',
  limit: 100,
  windowMs: 60000,
  algorithm: 'gcra',
  failMode: 'open',
};

describe('rateLimitHeaders', () => {
  it('writes the IETF fields and the x-ratelimit trio', () => {
    expect(rateLimitHeaders(policy, { limit: 100, remaining: 7, resetSeconds: 42 })).toEqual({
      'ratelimit-policy': '"default";q=100;w=60',
      ratelimit: '"default";r=7;t=42',
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': '7',
      'x-ratelimit-reset': '42',
    });
  });

  it('adds Retry-After on a refusal and rounds sub-second windows up', () => {
    const headers = rateLimitHeaders(
      { ...policy, windowMs: 500 },
      { limit: 100, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 },
    );
    expect(headers['retry-after']).toBe('1');
    expect(headers['ratelimit-policy']).toBe('"default";q=100;w=1');
  });
});
