import { Value } from '@sinclair/typebox/value';
import { configFromEnv, envSchema, type Env } from './config';

const env = (set: Partial<Env>): Env => ({ ...(Value.Default(envSchema, {}) as Env), ...set });

describe('the admin port (ADMIN_PORT)', () => {
  it('defaults to PORT + 1000 on HOST, and to a free port when PORT is 0', () => {
    expect(configFromEnv(env({})).admin).toEqual({ host: '0.0.0.0', port: 4000 });
    expect(configFromEnv(env({ PORT: 3100, HOST: '127.0.0.1' })).admin).toEqual({
      host: '127.0.0.1',
      port: 4100,
    });
    expect(configFromEnv(env({ PORT: 0 })).admin.port).toBe(0);
  });

  it('takes ADMIN_PORT as set, and refuses one equal to PORT or a default past 65535', () => {
    expect(configFromEnv(env({ ADMIN_PORT: 9464 })).admin.port).toBe(9464);
    expect(() => configFromEnv(env({ ADMIN_PORT: 3000 }))).toThrow(/ADMIN_PORT must differ/);
    expect(() => configFromEnv(env({ PORT: 65000 }))).toThrow(/ADMIN_PORT must be set/);
  });
});
