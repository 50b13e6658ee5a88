import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { LoginLockout } from './login/login-lockout';
import { hashPassword, scryptParams } from './login/password-hash';
import { authRoutes } from './routes/auth-routes';
import { RedisSessionStore } from './session/redis-session-store';
import { createSessionKeys } from './session/session-keys';
import { UserRepository } from './users/user-repository';

/** Builds auth-session from a config object: the skeleton, its Redis and PostgreSQL, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'auth-session',
    description: 'Login sessions shared by every replica, revocable, fixation-safe.',
    logLevel: config.logLevel,
    trustProxy: config.trustProxy,
  });
  await registerRedis(app, { config: config.redis, readiness: 'required' });
  await app.register(postgresPlugin, {
    url: config.database.url,
    poolSize: config.database.poolSize,
    statementTimeoutMs: config.database.statementTimeoutMs,
    migrationsDir: join(__dirname, '..', 'migrations'),
  });

  const keys = createSessionKeys(config.keyPrefix);
  const lookups = app.prom.counter({
    name: 'session_lookups_total',
    help: 'Session lookups by result: hit, miss (unknown, revoked or idle-expired), expired (absolute lifetime), error (store unavailable)',
    labelNames: ['result'],
  });
  const logins = app.prom.counter({
    name: 'logins_total',
    help: 'Login attempts by result: success, invalid_credentials, locked, unavailable',
    labelNames: ['result'],
  });
  const store = new RedisSessionStore({
    redis: app.redis,
    keys,
    idleSeconds: config.session.idleSeconds,
    maxSeconds: config.session.maxSeconds,
    lookups,
  });
  const active = app.prom.gauge({
    name: 'sessions_active',
    help: 'Logged-in sessions not yet expired, across all replicas (may lag use by a tenth of the idle timeout, at most 60 s)',
    collect: async () => {
      // A scrape while Redis is away keeps the last value rather than failing /metrics.
      const count = await store.countActive().catch(() => undefined);
      if (count !== undefined) active.set(count);
    },
  });

  const scrypt = scryptParams(config.login.scryptCost);
  await app.register(authRoutes, {
    prefix: '/auth',
    store,
    lockout: new LoginLockout({
      redis: app.redis,
      keys,
      maxFailures: config.login.maxFailures,
      windowSeconds: config.login.failureWindowSeconds,
    }),
    users: new UserRepository(app.pg),
    session: config.session,
    allowedOrigins: config.allowedOrigins,
    scrypt,
    dummyHash: await hashPassword(randomBytes(16).toString('hex'), scrypt),
    logins,
  });
  return app;
}
