import { loadConfig } from '@redis-patterns/service-kit';
import { configFromEnv, defaultCacheConfig, envSchema } from './config';

describe('config', () => {
  it('has a default for every variable', () => {
    const config = configFromEnv(loadConfig(envSchema, {}));
    expect(config.cache).toEqual(defaultCacheConfig());
    expect(config.cache).toMatchObject({ enabled: true, ttlMs: 60_000, l1Enabled: true });
    expect(config.keyPrefix).toBe('cache');
  });

  it('reads the cache variables from strings', () => {
    const config = configFromEnv(
      loadConfig(envSchema, {
        CACHE_ENABLED: 'false',
        CACHE_L1_ENABLED: 'false',
        CACHE_TTL_MS: '2500',
        CACHE_TTL_JITTER: '0.5',
      }),
    );
    expect(config.cache).toMatchObject({
      enabled: false,
      l1Enabled: false,
      ttlMs: 2500,
      ttlJitter: 0.5,
    });
  });

  it('names the variable that is wrong', () => {
    expect(() => loadConfig(envSchema, { CACHE_TTL_JITTER: '2' })).toThrow(/CACHE_TTL_JITTER/);
    expect(() => loadConfig(envSchema, { CACHE_LEASE_MS: 'soon' })).toThrow(/CACHE_LEASE_MS/);
  });
});
