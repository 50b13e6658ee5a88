import { topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin } from './auth-harness';

// Guarantee: a logout or a revocation (one session by id, or all the others) is refused by
// every replica on the very next request; another user's session cannot be revoked.
const database = databaseFixture();

describe.each(topologiesUnderTest())('revocation across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('logs in on A, is known on B; logout on B is seen by A at once', async () => {
    const [a, b] = suite().urls;
    const { username, cookie } = await registerAndLogin(a);
    const me = await call(b, 'GET', '/auth/me', { cookie });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      user: { id: expect.any(String), username },
      session: {
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        createdAt: expect.any(String),
        lastSeenAt: expect.any(String),
        expiresAt: expect.any(String),
      },
    });
    const logout = await call(b, 'POST', '/auth/logout', { cookie });
    expect(logout.status).toBe(204);
    expect(logout.cookie).toBe('');
    const after = await call(a, 'GET', '/auth/me', { cookie });
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
  });

  it('lists both devices, and DELETE /auth/sessions logs the other one out', async () => {
    const [a, b] = suite().urls;
    const phone = await registerAndLogin(a, undefined, 'password-1', { 'user-agent': 'phone' });
    const laptop = await call(b, 'POST', '/auth/login', {
      body: { username: phone.username, password: 'password-1' },
      headers: { 'user-agent': 'laptop' },
    });
    const before = await call(a, 'GET', '/auth/sessions', { cookie: laptop.cookie });
    expect(before.status).toBe(200);
    const listed = before.body.sessions as Array<Record<string, unknown>>;
    expect(listed).toHaveLength(2);
    expect(listed.map((s) => [s.userAgent, s.current])).toEqual([
      ['phone', false],
      ['laptop', true],
    ]);
    expect(listed[0]).toMatchObject({ ip: '127.0.0.1', requests: expect.any(Number) });

    const revoked = await call(b, 'DELETE', '/auth/sessions', { cookie: laptop.cookie });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ revoked: 1 });
    expect((await call(a, 'GET', '/auth/me', { cookie: phone.cookie })).status).toBe(401);
    const after = await call(a, 'GET', '/auth/sessions', { cookie: laptop.cookie });
    expect(
      (after.body.sessions as unknown[]).map((s) => (s as { current: boolean }).current),
    ).toEqual([true]);
  });

  it("revokes one session by id, and another user's id is 404", async () => {
    const [a, b] = suite().urls;
    const one = await registerAndLogin(a);
    const two = await call(b, 'POST', '/auth/login', {
      body: { username: one.username, password: one.password },
    });
    const stranger = await registerAndLogin(b);
    const list = await call(a, 'GET', '/auth/sessions', { cookie: one.cookie });
    const other = (list.body.sessions as Array<{ id: string; current: boolean }>).find(
      (s) => !s.current,
    );
    expect(other).toBeDefined();

    const refused = await call(a, 'DELETE', `/auth/sessions/${other?.id}`, {
      cookie: stranger.cookie,
    });
    expect(refused.status).toBe(404);
    expect(refused.body).toMatchObject({ code: 'SESSION_NOT_FOUND' });
    expect((await call(b, 'GET', '/auth/me', { cookie: two.cookie })).status).toBe(200);

    const deleted = await call(b, 'DELETE', `/auth/sessions/${other?.id}`, {
      cookie: one.cookie,
    });
    expect(deleted.status).toBe(204);
    expect((await call(a, 'GET', '/auth/me', { cookie: two.cookie })).status).toBe(401);
    expect((await call(a, 'GET', '/auth/me', { cookie: one.cookie })).status).toBe(200);

    const malformed = await call(a, 'DELETE', '/auth/sessions/not-an-id', { cookie: one.cookie });
    expect(malformed.status).toBe(400);
  });
});
