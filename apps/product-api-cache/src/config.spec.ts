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
    expect(() =>
      configFromEnv(
        loadConfig(envSchema, { CACHE_MEMBER_HEARTBEAT_MS: '1000', CACHE_MEMBER_TTL_MS: '2000' }),
      ),
    ).toThrow(/CACHE_MEMBER_TTL_MS/);
  });

  // The secret-bearing variables: a config error names the variable and the rule, never the
  // password, whatever is wrong with the URL (unencoded `@` in the password included).
  it.each([
    ['DATABASE_URL', 'mysql://u:SECRETPASS@db.internal/x'],
    ['DATABASE_URL', 'postgres://u:SECRETPASS@db.internal /x'],
    ['REDIS_URL', 'http://u:SECRETPASS@redis.internal:6379'],
    ['REDIS_URL', 'redis://:SECRETPASS@redis.internal:port'],
    ['DATABASE_URL', 'mysql://u:SECRET@SECRETPASS@db.internal/x'],
    ['REDIS_URL', 'http://:SECRET@SECRETPASS@redis.internal'],
    ['REDIS_URL', 'redis://:SECRET@SECRETPASS@redis.internal:port'],
    ['DATABASE_URL', 'u:SECRETPASS@db.internal/x'],
  ])('a bad %s is named without printing its password (%s)', (variable, value) => {
    let message = '';
    try {
      configFromEnv(loadConfig(envSchema, { [variable]: value }));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(new RegExp(`^${variable} must be`));
    expect(message).not.toContain('SECRETPASS');
  });
});
