import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import {
  perFileFixture,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisServer,
  type RedisTopology,
} from '@redis-patterns/testkit';
import { LoginLockout } from '../src/login/login-lockout';
import { reserveAttempt, settleAttempt } from '../src/login/login-scripts';
import { RedisSessionStore } from '../src/session/redis-session-store';
import { createSessionKeys, type SessionKeys } from '../src/session/session-keys';
import { touchSession } from '../src/session/session-scripts';
import { replicasOf } from './auth-harness';

const sid = (n: number) => `session${String(n).padStart(25, '0')}`;
const identity = { userId: '1', username: 'alice', ip: '10.0.0.1', userAgent: 'test' };

describe.each(topologiesUnderTest())('the Redis session store and its scripts on %s', (kind) => {
  let topology: RedisTopology;
  let redis: RedisClient;
  let keys: SessionKeys;
  let store: RedisSessionStore;

  perFileFixture(async (cleanup) => {
    topology = await startTopology(kind);
    cleanup(() => topology.stop());
    redis = createRedis({ ...topology.config, commandTimeoutMs: 500 });
    cleanup(() => closeRedis(redis));
    await waitForReady(redis, 5000);
  });
  beforeEach(() => {
    keys = createSessionKeys(uniquePrefix('auth'));
    store = new RedisSessionStore({ redis, keys, idleSeconds: 60, maxSeconds: 3600 });
  });

  // app.ts turns on ioredis auto-pipelining; an auto-pipeline takes its client's scripts when
  // created. A script defined on first use while one was pending answered 500 (touchSession is
  // not a function), then wedged the client: every later command hung.
  it('scripts are defined on the client when the store and lockout are built, so a first use in a pending auto-pipeline works', async () => {
    const client = createRedis({ ...topology.config, commandTimeoutMs: 500 });
    try {
      await waitForReady(client, 5000);
      client.options.enableAutoPipelining = true;
      const fresh = new RedisSessionStore({
        redis: client,
        keys,
        idleSeconds: 60,
        maxSeconds: 3600,
      });
      const lockout = new LoginLockout({
        redis: client,
        keys,
        maxFailures: 3,
        maxFailuresPerUser: 5,
        windowSeconds: 60,
      });
      // Defined by the constructors, before any use (the typed scripts src runs).
      for (const script of [touchSession, reserveAttempt, settleAttempt]) {
        expect(typeof (client as unknown as Record<string, unknown>)[script.name]).toBe('function');
      }
      await store.save(sid(20), identity);
      // Same tick: the first command opens an auto-pipeline, the scripts' first uses join it.
      const [, loaded] = await Promise.all([
        client.exists(keys.session(sid(20))),
        fresh.load(sid(20)),
        lockout.reserve('alice', '10.0.0.9'),
        lockout.unused('alice', '10.0.0.9'),
      ]);
      expect(loaded).toMatchObject({ userId: '1' });
      // And the client still answers afterwards (a mismatch left its auto-pipelining stuck).
      await expect(fresh.load(sid(20))).resolves.toMatchObject({ userId: '1' });
    } finally {
      await closeRedis(client);
    }
  });

  it('keeps every field update under concurrent touches and saves (no last writer wins)', async () => {
    await store.save(sid(1), identity);
    await Promise.all([
      ...Array.from({ length: 100 }, () => store.load(sid(1))),
      ...Array.from({ length: 10 }, () => store.save(sid(1), { ...identity, ip: '10.0.0.2' })),
    ]);
    const record = await store.load(sid(1));
    expect(record).toMatchObject({ userId: '1', username: 'alice', ip: '10.0.0.2', requests: 101 });
    expect(record?.lastSeenAt).toBeGreaterThanOrEqual(record?.createdAt ?? Infinity);
  });

  it('bounds the TTL by the idle time and by the absolute end, and never extends the end', async () => {
    const { createdAt, expiresAt } = await store.save(sid(2), identity);
    expect(expiresAt - createdAt).toBe(3_600_000);
    const ttl = await redis.pttl(keys.session(sid(2)));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await store.save(sid(2), identity);
    expect((await store.load(sid(2)))?.expiresAt).toBe(expiresAt);

    const short = new RedisSessionStore({ redis, keys, idleSeconds: 60, maxSeconds: 1 });
    await short.save(sid(3), identity);
    expect(await redis.pttl(keys.session(sid(3)))).toBeLessThanOrEqual(1000);
  });

  it('refuses to merge another user into a session', async () => {
    await store.save(sid(4), identity);
    // A script's refusal is no outage: it is not turned into a 503 that invites a retry.
    await expect(store.save(sid(4), { ...identity, userId: '2' })).rejects.toThrow(
      /SESSION_USER_MISMATCH/,
    );
    expect((await store.load(sid(4)))?.userId).toBe('1');
  });

  it('keeps a user index alive as long as its longest session, and never shortens it', async () => {
    const brief = new RedisSessionStore({ redis, keys, idleSeconds: 60, maxSeconds: 60 });
    await brief.save(sid(20), identity);
    const first = await redis.pttl(keys.userSessions('1'));
    expect(first).toBeGreaterThan(55_000);
    expect(first).toBeLessThanOrEqual(60_000);
    await store.save(sid(21), identity);
    expect(await redis.pttl(keys.userSessions('1'))).toBeGreaterThan(3_590_000);
    await brief.save(sid(22), identity);
    expect(await redis.pttl(keys.userSessions('1'))).toBeGreaterThan(3_590_000);
    expect(await redis.zcard(keys.userSessions('1'))).toBe(3);
  });

  it('deletes a session past its absolute end even when its key is still there', async () => {
    await store.save(sid(5), identity);
    await redis.hset(keys.session(sid(5)), 'expiresAt', Date.now() - 1);
    await expect(store.load(sid(5))).resolves.toBeUndefined();
    expect(await redis.exists(keys.session(sid(5)))).toBe(0);
  });

  it('indexes sessions per user, prunes vanished ones, and removes everywhere', async () => {
    await store.save(sid(6), identity);
    await store.save(sid(7), identity);
    await store.save(sid(8), { ...identity, userId: '2' });
    expect((await store.listForUser('1')).map((s) => s.sessionId)).toEqual([sid(6), sid(7)]);
    await redis.del(keys.session(sid(6)));
    expect((await store.listForUser('1')).map((s) => s.sessionId)).toEqual([sid(7)]);
    expect(await redis.zrange(keys.userSessions('1'), 0, -1)).toEqual([sid(7)]);
    expect(await store.remove(sid(7))).toBe(true);
    expect(await store.remove(sid(7))).toBe(false);
    expect(await store.listForUser('1')).toEqual([]);
    expect(await store.countActive()).toBe(1);
  });

  it('ignores ids that are not session ids, without asking Redis', async () => {
    await expect(store.load('a b')).resolves.toBeUndefined();
    await expect(store.load('{tag}')).resolves.toBeUndefined();
    await expect(store.remove('x')).resolves.toBe(false);
  });

  if (kind === 'standalone') return;

  describe('acknowledged writes (replicas must hold them)', () => {
    let paused: RedisServer[] = [];
    const pause = async (servers: RedisServer[]) => {
      paused = servers;
      await Promise.all(servers.map((server) => server.pause()));
    };
    afterEach(async () => {
      await Promise.all(paused.map((server) => server.resume()));
      paused = [];
      await topology.converged();
    });
    /** `count` session ids whose keys live on `master` (any ids, on Sentinel). */
    const idsOn = async (master: RedisServer, count: number) => {
      const ids: string[] = [];
      for (let n = 30; ids.length < count; n += 1) {
        if ((await topology.master(keys.session(sid(n)))).port === master.port) ids.push(sid(n));
      }
      return ids;
    };

    it('refuses a login and a logout no replica holds (503), while reads still answer', async () => {
      const master = await topology.master(keys.session(sid(30)));
      const [kept, created, removed] = await idsOn(master, 3);
      await store.save(kept, identity);
      await store.save(removed, identity);
      await pause(await replicasOf(topology, keys.session(kept)));

      const unavailable = { statusCode: 503, code: 'SESSION_STORE_UNAVAILABLE' };
      await expect(store.save(created, identity)).rejects.toMatchObject(unavailable);
      await expect(store.remove(removed)).rejects.toMatchObject(unavailable);
      // A touch only slides the idle expiry: it does not wait, so use goes on.
      await expect(store.load(kept)).resolves.toMatchObject({ userId: '1' });
    });

    if (kind !== 'cluster') return;

    it('refuses a login whose user-index entry is on a master whose replica is away', async () => {
      const sessionId = sid(60);
      const sessionMaster = await topology.master(keys.session(sessionId));
      let userId = 100;
      while ((await topology.master(keys.userSessions(String(userId)))).port === sessionMaster.port)
        userId += 1;
      await pause(await replicasOf(topology, keys.userSessions(String(userId))));

      await expect(
        store.save(sessionId, { ...identity, userId: String(userId) }),
      ).rejects.toMatchObject({ statusCode: 503, code: 'SESSION_STORE_UNAVAILABLE' });
      // The session itself was acknowledged; the 503 came from its index entry.
      expect(await redis.exists(keys.session(sessionId))).toBe(1);
    });
  });
});
