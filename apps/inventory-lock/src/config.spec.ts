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

  it('refuses REDLOCK_URLS unset when the service Redis is a Cluster or Sentinel-managed', () => {
    expect(() => load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000' })).toThrow(
      /REDLOCK_URLS is unset.*Cluster/,
    );
    expect(() =>
      load({ REDIS_URL: 'redis://:s3cret@x:6379', REDIS_SENTINELS: '10.0.0.1:26379' }),
    ).toThrow(/REDLOCK_URLS is unset.*Sentinel/);
    try {
      load({ REDIS_URL: 'redis://:s3cret@x:6379', REDIS_SENTINELS: '10.0.0.1:26379' });
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
    const set = load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDLOCK_URLS: 'redis://a:1' });
    expect(set.lock).toMatchObject({ urls: ['redis://a:1'], fromRedisUrl: false });
    // No lock, nothing to refuse.
    expect(
      load({ REDIS_SENTINELS: '10.0.0.1:26379', INVENTORY_STRATEGY: 'atomic-sql' }).strategy,
    ).toBe('atomic-sql');
    expect(load({ REDIS_URL: 'redis://cache:6379' }).lock.fromRedisUrl).toBe(true);
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

  it('reads the hold TTLs and sweep interval, and refuses a default above the maximum', () => {
    expect(load({}).holds).toEqual({
      defaultTtlMs: 600000,
      maxTtlMs: 3600000,
      sweepIntervalMs: 1000,
    });
    expect(load({ HOLD_TTL_DEFAULT_MS: '5000', HOLD_TTL_MAX_MS: '60000' }).holds).toMatchObject({
      defaultTtlMs: 5000,
      maxTtlMs: 60000,
    });
    expect(() => load({ HOLD_TTL_DEFAULT_MS: '70000', HOLD_TTL_MAX_MS: '60000' })).toThrow(
      /HOLD_TTL_DEFAULT_MS/,
    );
    expect(() => load({ HOLD_TTL_MAX_MS: '999' })).toThrow(/HOLD_TTL_MAX_MS/);
    expect(() => load({ HOLD_SWEEP_INTERVAL_MS: '0' })).toThrow(/HOLD_SWEEP_INTERVAL_MS/);
  });
});

describe('inventory-lock config errors never print a secret', () => {
  const SECRET = 'SECRETPASS';
  /** The error `load` throws, with its message checked for the variable and against the secret. */
  const refusal = (env: Record<string, string>, variable: string): string => {
    let message = '';
    try {
      load(env);
    } catch (error) {
      message = String((error as Error).message);
    }
    expect(message).toContain(variable);
    expect(message).not.toContain(SECRET);
    return message;
  };

  it('DATABASE_URL: a foreign scheme or a malformed URL names the variable, not the password', () => {
    refusal({ DATABASE_URL: `mysql://u:${SECRET}@h/x` }, 'DATABASE_URL');
    refusal({ DATABASE_URL: `postgres://u:${SECRET}@h /x` }, 'DATABASE_URL');
    refusal({ DATABASE_URL: `u:${SECRET}@h/x` }, 'DATABASE_URL');
    refusal({ DATABASE_URL: `postgres://u:${SECRET}/@h/x` }, 'DATABASE_URL');
  });

  it('REDIS_URL: a foreign scheme or a malformed URL names the variable, not the password', () => {
    refusal({ REDIS_URL: `http://u:${SECRET}@h:6379` }, 'REDIS_URL');
    refusal({ REDIS_URL: `redis://u:${SECRET}@h:notaport` }, 'REDIS_URL');
    refusal({ REDIS_URL: `redis://:${SECRET}@h:6379 x` }, 'REDIS_URL');
    // Past what redaction can see: an unencoded `/` or `@` in the password, no scheme at all.
    refusal({ REDIS_URL: `redis://:${SECRET}/x@h:6379` }, 'REDIS_URL');
    refusal({ REDIS_URL: `:${SECRET}@h:6379` }, 'REDIS_URL');
  });

  it('REDLOCK_URLS: a bad list, a foreign scheme or a duplicate names the variable, not the password', () => {
    refusal({ REDLOCK_URLS: `http://u:${SECRET}@a:1` }, 'REDLOCK_URLS');
    refusal({ REDLOCK_URLS: `redis://:${SECRET}@a:1;redis://b:1 x` }, 'REDLOCK_URLS');
    refusal({ REDLOCK_URLS: `redis://:${SECRET}@a:notaport` }, 'REDLOCK_URLS');
    refusal({ REDLOCK_URLS: `redis://a:1,redis://:${SECRET}@/b:1` }, 'REDLOCK_URLS');
    refusal({ REDLOCK_URLS: `redis://a:1,,redis://:${SECRET}@b:1` }, 'REDLOCK_URLS');
    refusal({ REDLOCK_URLS: `redis://:${SECRET}@a:1,redis://:${SECRET}@a:1` }, 'REDLOCK_URLS');
  });
});
