import { Type } from '@sinclair/typebox';
import { ConfigError, commonEnv, databaseEnv, loadConfig, redisEnv } from './env-config';

const schema = Type.Object({ ...commonEnv(3004), ...redisEnv('lb'), ...databaseEnv() });

describe('loadConfig', () => {
  it('applies defaults and coerces numbers', () => {
    const config = loadConfig(schema, { PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config.HOST).toBe('0.0.0.0');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.REDIS_KEY_PREFIX).toBe('lb');
    expect(config.REDIS_COMMAND_TIMEOUT_MS).toBe(500);
  });

  it.each([
    [
      'REDIS_URL',
      'not-a-url',
      /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(value not shown: it may hold credentials\)/,
    ],
    ['PORT', 'eighty', /PORT/],
    ['PORT', '70000', /PORT/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL must be a postgres:\/\/ URL/],
    ['REDIS_CLUSTER_NODES', 'host-without-port', /REDIS_CLUSTER_NODES/],
  ])('names %s when it is %s', (variable, value, message) => {
    let error: unknown;
    try {
      loadConfig(schema, { [variable]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toMatch(message);
  });

  it('names a required variable that is missing', () => {
    const required = Type.Object({ SESSION_SECRET: Type.String({ minLength: 32 }) });
    expect(() => loadConfig(required, {})).toThrow(/SESSION_SECRET is required/);
  });

  it('ignores variables the schema does not know', () => {
    expect(() => loadConfig(schema, { UNRELATED: 'x' })).not.toThrow();
  });

  it('refuses a URL that matches its pattern but does not parse, without printing it', () => {
    const urls = Type.Object({
      AUTH_URL: Type.String({ pattern: '^https?://\\S+$' }),
      PEER_URLS: Type.Optional(Type.String({ pattern: '^\\S+$' })),
    });
    expect(() => loadConfig(urls, { AUTH_URL: 'http://u:SECRETPASS@[bad' })).toThrow(
      /^AUTH_URL must be a valid URL \(value not shown/,
    );
    expect(() =>
      loadConfig(urls, { AUTH_URL: 'http://a:1', PEER_URLS: 'redis://x:1,SECRETPASS' }),
    ).toThrow(/^PEER_URLS must be a valid URL list/);
    expect(() => loadConfig(urls, { AUTH_URL: 'http://u:SECRETPASS@[bad' })).not.toThrow(
      /SECRETPASS/,
    );
    expect(loadConfig(urls, { AUTH_URL: 'http://u:p@auth:3002' }).AUTH_URL).toBe(
      'http://u:p@auth:3002',
    );
  });
});
