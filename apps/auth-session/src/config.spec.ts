import { loadConfig } from '@redis-patterns/service-kit';
import { configFromEnv, envSchema } from './config';

const secret = 's'.repeat(32);
const configOf = (env: Record<string, string>) => configFromEnv(loadConfig(envSchema, env));

describe('auth-session config', () => {
  it('has the documented defaults', () => {
    const config = configOf({ SESSION_SECRET: secret });
    expect(config.session).toEqual({
      secrets: [secret],
      cookieName: 'sid',
      cookieSecure: false,
      idleSeconds: 1800,
      maxSeconds: 604800,
    });
    expect(config.login).toEqual({ maxFailures: 5, failureWindowSeconds: 900, scryptCost: 32768 });
    expect(config.trustProxy).toBe(false);
    expect(config.allowedOrigins).toEqual([]);
  });

  it('requires SESSION_SECRET outside development, and accepts none in development', () => {
    expect(() => configOf({ NODE_ENV: 'production' })).toThrow(/SESSION_SECRET is required/);
    expect(configOf({ NODE_ENV: 'development' }).session.secrets).toHaveLength(1);
  });

  it('rotates with a comma list and refuses short secrets', () => {
    const old = 'o'.repeat(40);
    expect(configOf({ SESSION_SECRET: `${secret},${old}` }).session.secrets).toEqual([secret, old]);
    expect(() => configOf({ SESSION_SECRET: 'short' })).toThrow(/SESSION_SECRET/);
  });

  it('names the variable that is wrong', () => {
    const base = { SESSION_SECRET: secret };
    expect(() =>
      configOf({ ...base, SESSION_IDLE_SECONDS: '100', SESSION_MAX_SECONDS: '10' }),
    ).toThrow(/SESSION_MAX_SECONDS/);
    expect(() => configOf({ ...base, PASSWORD_SCRYPT_COST: '5000' })).toThrow(
      /PASSWORD_SCRYPT_COST/,
    );
    expect(() => configOf({ ...base, ALLOWED_ORIGINS: 'nope' })).toThrow(/ALLOWED_ORIGINS/);
    expect(() => configOf({ ...base, TRUST_PROXY: 'a b' })).toThrow(/TRUST_PROXY/);
  });

  it('reads the proxy and origin settings', () => {
    const config = configOf({
      SESSION_SECRET: secret,
      TRUST_PROXY: 'loopback',
      ALLOWED_ORIGINS: 'https://app.example.com',
      COOKIE_SECURE: 'true',
    });
    expect(config.trustProxy).toEqual(['loopback']);
    expect(config.allowedOrigins).toEqual(['https://app.example.com']);
    expect(config.session.cookieSecure).toBe(true);
  });
});
