import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplyError } from 'ioredis';
import {
  DEFAULT_POLICIES,
  failureOutcome,
  parsePolicies,
  pathMatches,
  selectPolicy,
} from './rate-limit-policy';

const set = parsePolicies({
  default: { limit: 100, windowMs: 60000, algorithm: 'fixed-window' },
  routes: [
    { name: 'login', method: 'POST', path: '/api/auth/login', limit: 10, windowMs: 60000 },
    { name: 'products', path: '/api/products/*', limit: 50, windowMs: 1000, failMode: 'closed' },
    {
      name: 'search',
      path: '/api/search',
      cost: 5,
      mode: 'shadow',
      limits: [
        { limit: 10, windowMs: 1000, burst: 20 },
        { limit: 1000, windowMs: 3600000, algorithm: 'sliding-window' },
        { limit: 4, algorithm: 'concurrency', leaseMs: 5000 },
      ],
    },
  ],
  tiers: { gold: { limit: 1000, windowMs: 60000 } },
});

describe('parsePolicies', () => {
  it('fills algorithm, subject, mode, cost and fail mode defaults', () => {
    expect(set.default).toEqual({
      name: 'default',
      limits: [
        {
          algorithm: 'fixed-window',
          limit: 100,
          windowMs: 60000,
          burst: 100,
          leaseMs: 60000,
          by: 'consumer',
        },
      ],
      failMode: 'open',
      mode: 'enforce',
      cost: 1,
    });
    expect(set.routes[0]).toMatchObject({ failMode: 'open', method: 'POST' });
    expect(set.routes[0].limits[0].algorithm).toBe('gcra');
    expect(set.routes[1]).toMatchObject({ method: '*', failMode: 'closed' });
  });

  it('reads several limits per route, shadow mode and cost', () => {
    const search = set.routes[2];
    expect(search).toMatchObject({ mode: 'shadow', cost: 5 });
    expect(search.limits.map((l) => l.algorithm)).toEqual([
      'gcra',
      'sliding-window',
      'concurrency',
    ]);
    expect(search.limits[0].burst).toBe(20);
    expect(search.limits[2].leaseMs).toBe(5000);
  });

  it('names the wrong field, duplicate names and contradictions', () => {
    expect(() => parsePolicies({ default: { limit: 0, windowMs: 1 } })).toThrow(/default\/limit/);
    expect(() => parsePolicies({ extra: 1 })).toThrow();
    expect(() => parsePolicies({ apiKeys: { k: 'gold' } })).toThrow(/apiKeys/);
    expect(() =>
      parsePolicies({ routes: [{ name: 'default', path: '/x', limit: 1, windowMs: 1 }] }),
    ).toThrow(/used twice/);
    expect(() =>
      parsePolicies({ routes: [{ name: 'a', path: 'no-slash', limit: 1, windowMs: 1 }] }),
    ).toThrow(/path/);
    expect(() => parsePolicies({ default: { limit: 1 } })).toThrow(/default\/windowMs is required/);
    expect(() =>
      parsePolicies({ default: { limit: 1, windowMs: 1, algorithm: 'fixed-window', burst: 2 } }),
    ).toThrow(/burst applies to gcra only/);
    expect(() =>
      parsePolicies({ default: { limit: 1, windowMs: 1, limits: [{ limit: 1, windowMs: 1 }] } }),
    ).toThrow(/both/);
    expect(() => parsePolicies({ default: { failMode: 'open' } })).toThrow(/needs "limit"/);
  });

  it('guards login per address and per target username in the defaults', () => {
    const login = selectPolicy(DEFAULT_POLICIES, 'POST', '/api/auth/login', undefined);
    expect(login.name).toBe('login');
    expect(login.limits.map((l) => [l.by, l.limit])).toEqual([
      ['ip', 10],
      ['username', 5],
    ]);
    expect(login.failMode).toBe('closed');
  });
});

describe('selectPolicy', () => {
  it('prefers a route, then the consumer tier, then the default', () => {
    expect(selectPolicy(set, 'POST', '/api/auth/login', undefined).name).toBe('login');
    expect(selectPolicy(set, 'GET', '/api/auth/login', undefined).name).toBe('default');
    expect(selectPolicy(set, 'GET', '/api/products/7', 'gold').name).toBe('products');
    expect(selectPolicy(set, 'GET', '/api/players/7', 'gold').name).toBe('gold');
    expect(selectPolicy(set, 'GET', '/api/players/7', 'unknown-tier').name).toBe('default');
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

describe('failureOutcome', () => {
  const open = set.default;
  const closed = set.routes[1];
  const reply = (message: string) => new ReplyError(message);

  it.each([
    ['a command timeout', new Error('Command timed out')],
    ['a closed connection', new Error('Connection is closed.')],
    [
      'a Cluster that is not ready',
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
    ],
    ['exhausted redirections', new Error('Too many Cluster redirections. Last error: MOVED 1 x:1')],
    ['READONLY', reply("READONLY You can't write against a read only replica.")],
    ['CLUSTERDOWN', reply('CLUSTERDOWN The cluster is down')],
    ['TRYAGAIN', reply('TRYAGAIN Multiple keys request during rehashing of slot')],
    ['MOVED', reply('MOVED 3999 127.0.0.1:6381')],
    ['LOADING', reply('LOADING Redis is loading the dataset in memory')],
    ['an open breaker', Object.assign(new Error('Breaker is open'), { code: 'EOPENBREAKER' })],
  ])('takes the fail mode on %s', (_name, error) => {
    expect(failureOutcome(open, error)).toBe('fail_open');
    expect(failureOutcome(closed, error)).toBe('fail_closed');
  });

  it('treats any other reply error as a bug, not as Redis being away', () => {
    const wrongType = reply('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(failureOutcome(open, wrongType)).toBe('error');
    expect(failureOutcome(closed, wrongType)).toBe('error');
  });
});

describe('the k8s policy file', () => {
  it('is valid and keeps the default login guard', () => {
    const file = join(__dirname, '../../../../k8s/base/gateway-ratelimit/policies.json');
    const deployed = parsePolicies(JSON.parse(readFileSync(file, 'utf8')));
    expect(deployed.routes.find((route) => route.name === 'login')).toEqual(
      DEFAULT_POLICIES.routes.find((route) => route.name === 'login'),
    );
    expect(deployed.default).toEqual(DEFAULT_POLICIES.default);
  });
});
