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
      /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL, got "not-a-url"/,
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
});
