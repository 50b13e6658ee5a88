import { delay, topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin, SECRET } from './auth-harness';

const OLD_SECRET = 'old-secret-0123456789abcdefghijklmnopqr';

const database = databaseFixture();

describe.each(topologiesUnderTest())('session lifetime and secret rotation on %s', (kind) => {
  // Replica 0 still signs with the old secret; replica 1 has rotated: new first, old still verifies.
  const suite = authFixture(kind, database, 2, (i) => ({
    session: {
      secrets: i === 0 ? [OLD_SECRET] : [SECRET, OLD_SECRET],
      cookieName: 'sid',
      cookieSecure: false,
      idleSeconds: 2,
      maxSeconds: 5,
    },
  }));

  it('expires an unused session after the idle time, while use keeps another alive', async () => {
    const { replicas, urls } = suite();
    const [a, b] = urls;
    const idle = await registerAndLogin(a);
    const used = await registerAndLogin(a);
    for (let i = 0; i < 3; i += 1) {
      await delay(1000);
      expect((await call(replicas.url(i), 'GET', '/auth/me', { cookie: used.cookie })).status).toBe(
        200,
      );
    }
    // 3 s after login: past the 2 s idle time of the unused one, the used one is still alive.
    expect((await call(b, 'GET', '/auth/me', { cookie: idle.cookie })).status).toBe(401);
    expect((await call(b, 'GET', '/auth/me', { cookie: used.cookie })).status).toBe(200);
  });

  it('gives a bearer token the same idle and absolute lifetimes, and ignores secret rotation', async () => {
    const { replicas, urls } = suite();
    const [a, b] = urls;
    const { username, password } = await registerAndLogin(a);
    const login = await call(a, 'POST', '/auth/login', {
      body: { username, password, token: true },
    });
    const authorization = `Bearer ${String(login.body.token)}`;
    const idle = await call(a, 'POST', '/auth/login', {
      body: { username, password, token: true },
    });
    const me = await call(b, 'GET', '/auth/me', { headers: { authorization } });
    expect(me.status).toBe(200);
    const session = me.body.session as { createdAt: string; expiresAt: string };
    expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(5000);
    const statuses: number[] = [];
    const started = Date.now();
    while (Date.now() - started < 6000) {
      await delay(700);
      statuses.push(
        (
          await call(replicas.url(statuses.length), 'GET', '/auth/me', {
            headers: { authorization },
          })
        ).status,
      );
    }
    expect(statuses[0]).toBe(200);
    expect(statuses[statuses.length - 1]).toBe(401);
    const unused = await call(b, 'GET', '/auth/me', {
      headers: { authorization: `Bearer ${String(idle.body.token)}` },
    });
    expect(unused.status).toBe(401);
  });

  it('ends a session at its absolute lifetime however much it is used', async () => {
    const { replicas, urls } = suite();
    const [a] = urls;
    const { cookie } = await registerAndLogin(a);
    const me = await call(a, 'GET', '/auth/me', { cookie });
    const session = me.body.session as { createdAt: string; expiresAt: string };
    expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(5000);
    const statuses: number[] = [];
    const started = Date.now();
    while (Date.now() - started < 6000) {
      await delay(700);
      statuses.push(
        (await call(replicas.url(statuses.length), 'GET', '/auth/me', { cookie })).status,
      );
    }
    expect(statuses[0]).toBe(200);
    expect(statuses[statuses.length - 1]).toBe(401);
    // Once rejected it stays rejected: a late touch cannot revive it.
    expect(statuses.slice(statuses.indexOf(401)).every((s) => s === 401)).toBe(true);
  });

  it('accepts a cookie signed with the old secret and re-issues it under the new one', async () => {
    const [a, b] = suite().urls;
    const { cookie } = await registerAndLogin(a);
    const rotated = await call(b, 'GET', '/auth/me', { cookie });
    expect(rotated.status).toBe(200);
    expect(rotated.cookie).toBeDefined();
    expect(rotated.cookie).not.toBe(cookie);
    expect(rotated.cookie?.split('.')[0]).toBe(cookie.split('.')[0]);
    const again = await call(b, 'GET', '/auth/me', { cookie: rotated.cookie });
    expect(again.status).toBe(200);
    expect(again.cookie).toBeUndefined();
  });
});
