import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '@redis-patterns/service-kit';
import { configFromEnv, DEVELOPMENT_SECRET, envSchema } from './config';

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
    expect(config.login).toEqual({
      maxFailures: 5,
      maxFailuresPerUser: 100,
      failureWindowSeconds: 900,
      knownClientSeconds: 2_592_000,
      scryptCost: 32768,
      hashConcurrency: Math.min(4, availableParallelism()),
      hashQueue: 8,
      hashQueueMs: 100,
    });
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
    expect(() =>
      configOf({ ...base, LOGIN_MAX_FAILURES: '10', LOGIN_MAX_FAILURES_PER_USER: '9' }),
    ).toThrow(/LOGIN_MAX_FAILURES_PER_USER/);
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

describe('production defaults', () => {
  const production = { NODE_ENV: 'production', SESSION_SECRET: secret };

  it('production implies Secure cookies unless COOKIE_SECURE=false says otherwise', () => {
    expect(configOf(production).session.cookieSecure).toBe(true);
    expect(configOf({ ...production, COOKIE_SECURE: 'true' }).session.cookieSecure).toBe(true);
    // The k8s dev overlay's plain-HTTP ingress: an explicit choice, never a default.
    expect(configOf({ ...production, COOKIE_SECURE: 'false' }).session.cookieSecure).toBe(false);
    expect(configOf({ SESSION_SECRET: secret }).session.cookieSecure).toBe(false);
  });

  it('refuses the development secret outside development, naming the variable, never printing it', () => {
    for (const NODE_ENV of ['production', 'staging', 'test']) {
      for (const value of [DEVELOPMENT_SECRET, `${secret},${DEVELOPMENT_SECRET}`]) {
        const error = configErrorOf({ NODE_ENV, SESSION_SECRET: value });
        expect(error.variable).toBe('SESSION_SECRET');
        expect(error.message).toMatch(/development secret published with this code/);
        expect(error.message).not.toContain(DEVELOPMENT_SECRET);
      }
    }
    expect(configOf({ NODE_ENV: 'development', SESSION_SECRET: DEVELOPMENT_SECRET })).toBeDefined();
  });
});

/** The ConfigError `env` raises; fails the test when there is none. */
function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    configOf(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`no ConfigError for ${Object.keys(env).join(', ')}`);
}

// Issue 14: a config error echoed DATABASE_URL's password. Each secret-bearing variable of
// auth-session, wrong in each way we know, must name itself and never show its secret part.
describe('config errors never print a secret', () => {
  const SECRET_PART = 'S3CRETPASS';
  const cases: Array<[variable: string, value: string]> = [
    ['SESSION_SECRET', `short${SECRET_PART}`],
    ['SESSION_SECRET', `${'x'.repeat(32)},${SECRET_PART}`],
    ['SESSION_SECRET', ` , `],
    ['DATABASE_URL', `mysql://u:${SECRET_PART}@h/x`],
    ['DATABASE_URL', `postgres://u:${SECRET_PART}@h x/db`],
    ['DATABASE_URL', `u:${SECRET_PART}@h/x`],
    ['REDIS_URL', `http://u:${SECRET_PART}@h:6379`],
    ['REDIS_URL', `redis://u:${SECRET_PART}@h:6379 x`],
    ['REDIS_URL', `${SECRET_PART}`],
  ];

  it.each(cases)('%s=%s names the variable and hides the value', (variable, value) => {
    const error = configErrorOf({
      NODE_ENV: 'production',
      SESSION_SECRET: secret,
      [variable]: value,
    });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}`));
    expect(error.message).not.toContain(SECRET_PART);
    expect(error.message).not.toContain(value.trim() || '\u0000');
  });
});
