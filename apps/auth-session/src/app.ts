import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  buildService,
  registerPostgres,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { HashLimiter } from './login/hash-limiter';
import { LoginFlow } from './login/login-flow';
import { LoginLockout } from './login/login-lockout';
import { hashPassword, scryptParams } from './login/password-hash';
import { authRoutes } from './routes/auth-routes';
import { sessionRoutes } from './routes/session-routes';
import { RedisSessionStore } from './session/redis-session-store';
import { sessionCookiePlugin } from './session/session-cookie-plugin';
import { createSessionKeys } from './session/session-keys';
import { UserRepository } from './users/user-repository';

/**
 * Builds auth-session from a config object: the skeleton, its Redis and PostgreSQL, its routes.
 * A build that fails closes what it had opened (connections, pools), so nothing outlives it.
 */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'auth-session',
    description: 'Login sessions shared by every replica, revocable, fixation-safe.',
    logLevel: config.logLevel,
    trustProxy: config.trustProxy,
  };
  return buildService(service, (app) => assemble(app, config));
}

async function assemble(app: ServiceInstance, config: AppConfig): Promise<void> {
  // Every request's session touch is one EVALSHA; under load, the ones issued in the same turn
  // of the event loop go out in one write instead of one syscall each (the largest cost of
  // GET /auth/me in the profile, see the README).
  await registerRedis(app, {
    config: { ...config.redis, autoPipelining: true },
    readiness: 'required',
  });
  await registerPostgres(app, config.database, {
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
    help: 'Login attempts by result: success, invalid_credentials, locked, unavailable, busy (hash queue full)',
    labelNames: ['result'],
  });
  const hashes = app.prom.counter({
    name: 'password_hashes_total',
    help: 'Password hashes evaluated (scrypt runs) by purpose: login, register',
    labelNames: ['purpose'],
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
  const login = new LoginFlow({
    store,
    lockout: new LoginLockout({
      redis: app.redis,
      keys,
      maxFailures: config.login.maxFailures,
      maxFailuresPerUser: config.login.maxFailuresPerUser,
      windowSeconds: config.login.failureWindowSeconds,
      knownClientSeconds: config.login.knownClientSeconds,
    }),
    users: new UserRepository(app.pg),
    scrypt,
    dummyHash: await hashPassword(randomBytes(16).toString('hex'), scrypt),
    logins,
    hashes,
    hashLimiter: new HashLimiter({
      concurrency: config.login.hashConcurrency,
      queueLimit: config.login.hashQueue,
      queueTimeoutMs: config.login.hashQueueMs,
    }),
  });
  // The /auth scope: the session layer (its decorator and Origin check apply to these routes
  // only, not to health, metrics and docs), then the routes that depend on it.
  await app.register(
    async (scope) => {
      await scope.register(sessionCookiePlugin, {
        store,
        session: config.session,
        allowedOrigins: config.allowedOrigins,
      });
      await scope.register(authRoutes, { store, login });
      await scope.register(sessionRoutes, { store });
    },
    { prefix: '/auth' },
  );
}
