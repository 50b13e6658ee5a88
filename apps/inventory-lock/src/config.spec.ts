import { loadConfig } from '@redis-patterns/service-kit';
import { configFromEnv, envSchema, parseRedlockUrls } from './config';

const load = (env: Record<string, string>) => configFromEnv(loadConfig(envSchema, env));

describe('inventory-lock config', () => {
  it('defaults to one Redlock master, the REDIS_URL, and the redlock strategy', () => {
    const config = load({ REDIS_URL: 'redis://cache:6379' });
    expect(config.lock.urls).toEqual(['redis://cache:6379']);
    expect(config.strategy).toBe('redlock');
    expect(config.testHooks).toBe(false);
    expect(config.lock).toMatchObject({ ttlMs: 3000, commandTimeoutMs: 200, driftFactor: 0.01 });
  });

  it('reads independent masters from REDLOCK_URLS', () => {
    const config = load({ REDLOCK_URLS: 'redis://a:6379,redis://b:6379, redis://c:6379' });
    expect(config.lock.urls).toEqual(['redis://a:6379', 'redis://b:6379', 'redis://c:6379']);
    expect(() => parseRedlockUrls('redis://a:1,redis://a:1', 'redis://x:1')).toThrow(
      /REDLOCK_URLS/,
    );
    expect(() => load({ REDLOCK_URLS: 'http://a:1' })).toThrow(/REDLOCK_URLS/);
  });

  it('refuses settings that cannot work, naming the variable', () => {
    expect(() => load({ LOCK_TTL_MS: '1000', LOCK_EXTEND_THRESHOLD_MS: '950' })).toThrow(
      /LOCK_EXTEND_THRESHOLD_MS/,
    );
    expect(() => load({ INVENTORY_STRATEGY: 'unsafe-no-lock' })).toThrow(/TEST_HOOKS/);
    expect(load({ INVENTORY_STRATEGY: 'unsafe-no-lock', TEST_HOOKS: 'true' }).strategy).toBe(
      'unsafe-no-lock',
    );
    expect(() => load({ INVENTORY_STRATEGY: 'yolo' })).toThrow(/INVENTORY_STRATEGY/);
    expect(() => load({ LOCK_DRIFT_FACTOR: '2' })).toThrow(/LOCK_DRIFT_FACTOR/);
  });
});
