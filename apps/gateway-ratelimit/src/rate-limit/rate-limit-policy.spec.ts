import { DEFAULT_POLICIES, parsePolicies, pathMatches, selectPolicy } from './rate-limit-policy';

const set = parsePolicies({
  default: { limit: 100, windowMs: 60000, algorithm: 'fixed-window' },
  routes: [
    { name: 'login', method: 'POST', path: '/api/auth/login', limit: 10, windowMs: 60000 },
    { name: 'products', path: '/api/products/*', limit: 50, windowMs: 1000, failMode: 'closed' },
  ],
  tiers: { gold: { limit: 1000, windowMs: 60000 } },
  apiKeys: { 'gold-key-0123456789abcdef': 'gold' },
});

describe('parsePolicies', () => {
  it('fills algorithm and fail mode defaults', () => {
    expect(set.default).toEqual({
      name: 'default',
      limit: 100,
      windowMs: 60000,
      algorithm: 'fixed-window',
      failMode: 'open',
    });
    expect(set.routes[0]).toMatchObject({ algorithm: 'gcra', failMode: 'open', method: 'POST' });
    expect(set.routes[1]).toMatchObject({ method: '*', failMode: 'closed' });
  });

  it('names the wrong field, duplicate names and unknown tiers', () => {
    expect(() => parsePolicies({ default: { limit: 0, windowMs: 1 } })).toThrow(/default\/limit/);
    expect(() => parsePolicies({ extra: 1 })).toThrow();
    expect(() =>
      parsePolicies({ routes: [{ name: 'default', path: '/x', limit: 1, windowMs: 1 }] }),
    ).toThrow(/used twice/);
    expect(() => parsePolicies({ apiKeys: { k: 'nope' } })).toThrow(/unknown tier/);
    expect(() =>
      parsePolicies({ routes: [{ name: 'a', path: 'no-slash', limit: 1, windowMs: 1 }] }),
    ).toThrow(/path/);
  });

  it('has a login override in the defaults', () => {
    expect(selectPolicy(DEFAULT_POLICIES, 'POST', '/api/auth/login', undefined).name).toBe('login');
  });
});

describe('selectPolicy', () => {
  it('prefers a route, then the key tier, then the default', () => {
    expect(selectPolicy(set, 'POST', '/api/auth/login', undefined).name).toBe('login');
    expect(selectPolicy(set, 'GET', '/api/auth/login', undefined).name).toBe('default');
    expect(selectPolicy(set, 'GET', '/api/products/7', 'gold-key-0123456789abcdef').name).toBe(
      'products',
    );
    expect(selectPolicy(set, 'GET', '/api/players/7', 'gold-key-0123456789abcdef').name).toBe(
      'gold',
    );
    expect(selectPolicy(set, 'GET', '/api/players/7', 'unknown-key-0123456789').name).toBe(
      'default',
    );
  });
});

describe('pathMatches', () => {
  it('matches exact paths and /* prefixes on segment boundaries', () => {
    expect(pathMatches('/a/b', '/a/b')).toBe(true);
    expect(pathMatches('/a/b', '/a/b/c')).toBe(false);
    expect(pathMatches('/a/*', '/a')).toBe(true);
    expect(pathMatches('/a/*', '/a/x/y')).toBe(true);
    expect(pathMatches('/a/*', '/ab')).toBe(false);
  });
});
