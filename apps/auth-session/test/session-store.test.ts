import { setTimeout as sleep } from 'node:timers/promises';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { startRedis, uniquePrefix, type RedisServer } from '@redis-patterns/testkit';
import { LoginLockout } from '../src/login/login-lockout';
import { RedisSessionStore } from '../src/session/redis-session-store';
import { createSessionKeys, type SessionKeys } from '../src/session/session-keys';

const sid = (n: number) => `session${String(n).padStart(25, '0')}`;
const identity = { userId: '1', username: 'alice', ip: '10.0.0.1', userAgent: 'test' };

describe('the Redis session store and its scripts', () => {
  let server: RedisServer;
  let redis: RedisClient;
  let keys: SessionKeys;
  let store: RedisSessionStore;

  beforeAll(async () => {
    server = await startRedis();
    redis = createRedis({ url: server.url, commandTimeoutMs: 500 });
    await waitForReady(redis, 5000);
  });
  beforeEach(() => {
    keys = createSessionKeys(uniquePrefix('auth'));
    store = new RedisSessionStore({ redis, keys, idleSeconds: 60, maxSeconds: 3600 });
  });
  afterAll(async () => {
    await closeRedis(redis);
    await server.stop();
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
    await expect(store.save(sid(4), { ...identity, userId: '2' })).rejects.toMatchObject({
      statusCode: 503,
    });
    expect((await store.load(sid(4)))?.userId).toBe('1');
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

  it('counts failed logins in a window that always has a TTL', async () => {
    const lockout = new LoginLockout({ redis, keys, maxFailures: 3, windowSeconds: 1 });
    const counts = await Promise.all(
      Array.from({ length: 5 }, () => lockout.recordFailure('alice', '10.0.0.1')),
    );
    expect(counts.sort()).toEqual([1, 2, 3, 4, 5]);
    await expect(lockout.assertAllowed('alice', '10.0.0.1')).rejects.toMatchObject({
      statusCode: 429,
      headers: { 'retry-after': '1' },
    });
    await expect(lockout.assertAllowed('alice', '10.0.0.2')).resolves.toBeUndefined();
    // A counter that somehow lost its TTL gets one back on the next failure.
    await redis.persist(keys.loginFailures('alice', '10.0.0.1'));
    await lockout.recordFailure('alice', '10.0.0.1');
    expect(await redis.pttl(keys.loginFailures('alice', '10.0.0.1'))).toBeGreaterThan(0);
    await sleep(1100);
    await expect(lockout.assertAllowed('alice', '10.0.0.1')).resolves.toBeUndefined();
  });
});
