import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { delay, perFileFixture, topologiesUnderTest, uniquePrefix } from '@redis-patterns/testkit';
import { LoginLockout } from '../src/login/login-lockout';
import { createSessionKeys, type SessionKeys } from '../src/session/session-keys';
import {
  authFixture,
  call,
  databaseFixture,
  loginHashes,
  newUsername,
  recordFloodFigures,
  registerAndLogin,
  TEST_LOGIN,
  type Answer,
} from './auth-harness';

// Guarantee: at most the configured guesses per (username, IP) and per username are ever
// evaluated in a window, whatever the parallelism and on any replica; other clients (and a
// client that logged in before) still log in.

/** The per-(user, client) and per-user limits these suites run with. */
const PER_CLIENT = TEST_LOGIN.maxFailures;
const PER_USER = 20;

const database = databaseFixture();

const statuses = (answers: Answer[]) =>
  answers.reduce<Record<number, number>>((counts, { status }) => {
    counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  }, {});

/** Distinct client addresses (documentation ranges), trusted through X-Forwarded-For. */
const client = (i: number) => ({
  'x-forwarded-for': `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`,
});

describe.each(topologiesUnderTest())('login lockout under parallel floods on %s', (kind) => {
  const suite = authFixture(kind, database, 2, () => ({
    login: { ...TEST_LOGIN, maxFailuresPerUser: PER_USER },
  }));
  /** This run's parallel floods, recorded in bench-results/auth-session-login-flood.json. */
  const floods: Record<string, { hashes: number; statuses: Record<number, number> }> = {};
  afterAll(() => {
    if (Object.keys(floods).length) recordFloodFigures(kind, 'parallelFloods', floods);
  });

  const flood = (username: string, n: number, headers: (i: number) => Record<string, string>) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        call(suite().replicas.url(i % 2), 'POST', '/auth/login', {
          body: { username, password: 'wrong password' },
          headers: headers(i),
        }),
      ),
    );

  it.each([30, 120, 500])(
    '%i parallel wrong logins from one client evaluate at most the per-client limit',
    async (n) => {
      const { replicas } = suite();
      const { username, password } = await registerAndLogin(replicas.url(0));
      const before = await loginHashes(replicas.urls);
      const answers = await flood(username, n, () => ({ 'x-forwarded-for': '203.0.113.7' }));
      const hashed = (await loginHashes(replicas.urls)) - before;
      const counts = statuses(answers);
      console.log(
        `${kind}: ${n} parallel, one client: hashes ${hashed}, statuses ${JSON.stringify(counts)}`,
      );
      floods[`${n} parallel, one client`] = { hashes: hashed, statuses: counts };
      expect(hashed).toBeLessThanOrEqual(PER_CLIENT);
      expect(counts[401] ?? 0).toBe(hashed);
      expect((counts[401] ?? 0) + (counts[429] ?? 0) + (counts[503] ?? 0)).toBe(n);
      expect(counts[429]).toBeGreaterThanOrEqual(n - PER_CLIENT - (counts[503] ?? 0));
      for (const answer of answers.filter((a) => a.status === 429 || a.status === 503)) {
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      // The per-user limit is above the per-client one: the owner elsewhere still logs in.
      const owner = await call(replicas.url(1), 'POST', '/auth/login', {
        body: { username, password },
        headers: { 'x-forwarded-for': '198.51.100.2' },
      });
      expect(owner.status).toBe(200);
    },
  );

  it.each([30, 120, 500])(
    '%i parallel wrong logins from distinct clients evaluate at most the per-user limit',
    async (n) => {
      const { replicas } = suite();
      const { username, password } = await registerAndLogin(
        replicas.url(0),
        newUsername(),
        undefined,
        {
          'x-forwarded-for': '198.51.100.9',
        },
      );
      const before = await loginHashes(replicas.urls);
      const answers = await flood(username, n, client);
      const hashed = (await loginHashes(replicas.urls)) - before;
      const counts = statuses(answers);
      console.log(
        `${kind}: ${n} parallel, ${n} clients: hashes ${hashed}, statuses ${JSON.stringify(counts)}`,
      );
      floods[`${n} parallel, ${n} clients`] = { hashes: hashed, statuses: counts };
      expect(hashed).toBeLessThanOrEqual(PER_USER);
      expect(counts[401] ?? 0).toBe(hashed);
      // Beyond the per-user limit nothing is evaluated: 429, or 503 when no hash slot could be
      // had in time (whose reservation is given back, so it may turn a later one into a 401).
      expect((counts[429] ?? 0) + (counts[503] ?? 0)).toBeGreaterThanOrEqual(n - PER_USER);
      expect((counts[401] ?? 0) + (counts[429] ?? 0) + (counts[503] ?? 0)).toBe(n);
      // The client that logged in before is a known client: the full user count does not stop it.
      const owner = await call(replicas.url(1), 'POST', '/auth/login', {
        body: { username, password },
        headers: { 'x-forwarded-for': '198.51.100.9' },
      });
      expect(owner.status).toBe(200);
    },
  );

  it('still answers 5 x 401 then 429 to sequential wrong logins of one client', async () => {
    const { replicas } = suite();
    const { username } = await registerAndLogin(replicas.url(0));
    const headers = { 'x-forwarded-for': '203.0.113.9' };
    for (let i = 0; i < PER_CLIENT; i += 1) {
      const failed = await call(replicas.url(i % 2), 'POST', '/auth/login', {
        body: { username, password: 'wrong password' },
        headers,
      });
      expect(failed.status).toBe(401);
    }
    const locked = await call(replicas.url(1), 'POST', '/auth/login', {
      body: { username, password: 'wrong password' },
      headers,
    });
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ code: 'LOGIN_LOCKED' });
  });

  it('locks one (username, IP) pair out after 5 failures on any replica; other IPs still log in', async () => {
    const { replicas, urls } = suite();
    const [a, b] = urls;
    const { username, password } = await registerAndLogin(a);
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 5; i += 1) {
      const failed = await call(replicas.url(i), 'POST', '/auth/login', {
        body: { username, password: 'wrong password' },
        headers: attacker,
      });
      expect(failed.status).toBe(401);
    }
    const locked = await call(a, 'POST', '/auth/login', {
      body: { username, password },
      headers: attacker,
    });
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ statusCode: 429, code: 'LOGIN_LOCKED' });
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(890);
    expect(retryAfter).toBeLessThanOrEqual(900);

    const owner = await call(b, 'POST', '/auth/login', {
      body: { username, password },
      headers: { 'x-forwarded-for': '198.51.100.2' },
    });
    expect(owner.status).toBe(200);
  });

  // The scripts themselves (reserve-attempt-3.lua, settle-attempt-3.lua) on the same topology.
  describe('the lockout scripts', () => {
    let redis: RedisClient;
    let keys: SessionKeys;
    perFileFixture(async (cleanup) => {
      redis = createRedis({ ...suite().topology.config, commandTimeoutMs: 500 });
      cleanup(() => closeRedis(redis));
      await waitForReady(redis, 5000);
    });
    beforeEach(() => {
      keys = createSessionKeys(uniquePrefix('auth'));
    });

    it('reserves at most the limits per pair and per user, in a window that always has a TTL', async () => {
      const lockout = new LoginLockout({
        redis,
        keys,
        maxFailures: 3,
        maxFailuresPerUser: 5,
        windowSeconds: 1,
      });
      const outcome = (p: Promise<void>) =>
        p.then(
          () => 'reserved',
          (e) => e.statusCode,
        );
      const pair = await Promise.all(
        Array.from({ length: 10 }, () => outcome(lockout.reserve('alice', '10.0.0.1'))),
      );
      expect(pair.filter((r) => r === 'reserved')).toHaveLength(3);
      expect(pair.filter((r) => r === 429)).toHaveLength(7);
      await expect(lockout.reserve('alice', '10.0.0.1')).rejects.toMatchObject({
        statusCode: 429,
        headers: { 'retry-after': '1' },
      });
      // Another client still has the user's 2 remaining slots, then the user is full.
      await expect(lockout.reserve('alice', '10.0.0.2')).resolves.toBeUndefined();
      await expect(lockout.reserve('alice', '10.0.0.3')).resolves.toBeUndefined();
      await expect(lockout.reserve('alice', '10.0.0.4')).rejects.toMatchObject({ statusCode: 429 });
      // A success clears its pair and gives back its own slot only; an unused attempt gives both back.
      await lockout.succeeded('alice', '10.0.0.2');
      expect(await redis.get(keys.loginAttempts('alice', '10.0.0.2'))).toBeNull();
      expect(await redis.get(keys.userLoginAttempts('alice'))).toBe('4');
      await lockout.unused('alice', '10.0.0.1');
      expect(await redis.get(keys.loginAttempts('alice', '10.0.0.1'))).toBe('2');
      expect(await redis.get(keys.userLoginAttempts('alice'))).toBe('3');
      // A counter that somehow lost its TTL gets one back on the next attempt.
      await redis.persist(keys.loginAttempts('alice', '10.0.0.1'));
      await redis.persist(keys.userLoginAttempts('alice'));
      await lockout.reserve('alice', '10.0.0.1');
      expect(await redis.pttl(keys.loginAttempts('alice', '10.0.0.1'))).toBeGreaterThan(0);
      expect(await redis.pttl(keys.userLoginAttempts('alice'))).toBeGreaterThan(0);
      await delay(1100);
      await expect(lockout.reserve('alice', '10.0.0.1')).resolves.toBeUndefined();
    });

    it('exempts a client that logged in from the per-user limit, not from its own', async () => {
      const lockout = new LoginLockout({
        redis,
        keys,
        maxFailures: 2,
        maxFailuresPerUser: 3,
        windowSeconds: 60,
        knownClientSeconds: 60,
      });
      await lockout.reserve('carol', '10.0.0.9');
      await lockout.succeeded('carol', '10.0.0.9');
      for (const ip of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) await lockout.reserve('carol', ip);
      await expect(lockout.reserve('carol', '10.0.1.4')).rejects.toMatchObject({ statusCode: 429 });
      // The known client still gets in, up to its pair's limit.
      await expect(lockout.reserve('carol', '10.0.0.9')).resolves.toBeUndefined();
      await expect(lockout.reserve('carol', '10.0.0.9')).resolves.toBeUndefined();
      await expect(lockout.reserve('carol', '10.0.0.9')).rejects.toMatchObject({ statusCode: 429 });
    });
  });
});
