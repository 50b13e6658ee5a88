import { Signer } from '@fastify/cookie';
import {
  startTopology,
  topologiesUnderTest,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  call,
  newUsername,
  registerAndLogin,
  SECRET,
  startAuthReplicas,
  TEST_LOGIN,
  startDatabase,
  type Database,
} from './harness';

let database: Database;
beforeAll(async () => {
  database = await startDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe.each(topologiesUnderTest())('auth-session across two replicas on %s', (kind) => {
  let topology: RedisTopology;
  let replicas: Replicas<ServiceInstance>;
  let a: string;
  let b: string;

  beforeAll(async () => {
    topology = await startTopology(kind);
    replicas = await startAuthReplicas(topology, database.url, 2);
    [a, b] = replicas.urls;
  });
  afterAll(async () => {
    await replicas?.close();
    await topology?.stop();
  });

  describe('register', () => {
    it('creates a user, and refuses the same name in another letter case', async () => {
      const username = newUsername();
      const created = await call(a, 'POST', '/auth/register', {
        body: { username, password: 'password-1' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), username });
      const again = await call(b, 'POST', '/auth/register', {
        body: { username: username.toUpperCase(), password: 'password-2' },
      });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ statusCode: 409, code: 'USERNAME_TAKEN' });
    });

    it('names the field that is invalid', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ username: 'ab', password: 'password-1' }, /username/],
        [{ username: 'a'.repeat(33), password: 'password-1' }, /username/],
        [{ username: 'bad name!', password: 'password-1' }, /username/],
        [{ username: newUsername(), password: 'short' }, /password/],
        [{ username: newUsername(), password: 'p'.repeat(129) }, /password/],
        [{ username: newUsername() }, /password/],
      ];
      for (const [body, field] of cases) {
        const answer = await call(a, 'POST', '/auth/register', { body });
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({ code: 'VALIDATION_ERROR' });
        expect(String(answer.body?.message)).toMatch(field);
      }
    });
  });

  describe('login and logout', () => {
    it('logs in on A, is known on B; logout on B is seen by A at once', async () => {
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

    it('sets an HttpOnly, SameSite=Lax cookie on Path=/ that lives as long as the session', async () => {
      const username = newUsername();
      await call(a, 'POST', '/auth/register', { body: { username, password: 'password-1' } });
      const login = await call(a, 'POST', '/auth/login', {
        body: { username, password: 'password-1' },
      });
      const line = login.headers.getSetCookie().find((l) => l.startsWith('sid='));
      expect(line).toMatch(/HttpOnly/i);
      expect(line).toMatch(/SameSite=Lax/i);
      expect(line).toMatch(/Path=\//);
      expect(line).not.toMatch(/Secure/i);
      expect(line).toMatch(/Expires=/);
    });

    it('answers wrong credentials the same way whether or not the user exists', async () => {
      const { username } = await registerAndLogin(a);
      const wrongPassword = await call(a, 'POST', '/auth/login', {
        body: { username, password: 'wrong password' },
      });
      const unknownUser = await call(a, 'POST', '/auth/login', {
        body: { username: newUsername(), password: 'wrong password' },
      });
      expect(wrongPassword.status).toBe(401);
      expect(unknownUser.status).toBe(401);
      expect(unknownUser.body).toEqual(wrongPassword.body);
      expect(wrongPassword.body).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    });

    it('destroys the session id a browser had before login (fixation)', async () => {
      const first = await registerAndLogin(a);
      const second = await registerAndLogin(a);
      // The browser arrives with first's cookie (planted or left over) and logs in as second.
      const login = await call(b, 'POST', '/auth/login', {
        body: { username: second.username, password: second.password },
        cookie: first.cookie,
      });
      expect(login.status).toBe(200);
      expect(login.cookie).toBeDefined();
      expect(login.cookie).not.toBe(first.cookie);
      expect((await call(a, 'GET', '/auth/me', { cookie: first.cookie })).status).toBe(401);
      const me = await call(a, 'GET', '/auth/me', { cookie: login.cookie });
      expect(me.body).toMatchObject({ user: { username: second.username } });
    });
  });

  describe('sessions of one user', () => {
    it('lists both devices, and DELETE /auth/sessions logs the other one out', async () => {
      const phone = await registerAndLogin(a, newUsername(), 'password-1', {
        'user-agent': 'phone',
      });
      const laptop = await call(b, 'POST', '/auth/login', {
        body: { username: phone.username, password: 'password-1' },
        headers: { 'user-agent': 'laptop' },
      });
      const before = await call(a, 'GET', '/auth/sessions', { cookie: laptop.cookie });
      expect(before.status).toBe(200);
      const listed = before.body?.sessions as Array<Record<string, unknown>>;
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
        (after.body?.sessions as unknown[]).map((s) => (s as { current: boolean }).current),
      ).toEqual([true]);
    });

    it("revokes one session by id, and another user's id is 404", async () => {
      const one = await registerAndLogin(a);
      const two = await call(b, 'POST', '/auth/login', {
        body: { username: one.username, password: one.password },
      });
      const stranger = await registerAndLogin(b);
      const list = await call(a, 'GET', '/auth/sessions', { cookie: one.cookie });
      const other = (list.body?.sessions as Array<{ id: string; current: boolean }>).find(
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

    it('loses no update when 50 concurrent requests use one session on two replicas', async () => {
      const { cookie } = await registerAndLogin(a);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => call(replicas.url(i), 'GET', '/auth/me', { cookie })),
      );
      expect(answers.map((x) => x.status)).toEqual(Array(50).fill(200));
      const list = await call(a, 'GET', '/auth/sessions', { cookie });
      const [session] = list.body?.sessions as Array<{ requests: number; lastSeenAt: string }>;
      // 50 uses plus the list call itself: every increment landed, none was overwritten.
      expect(session.requests).toBe(51);
      const latest = Math.max(
        ...answers.map((x) => Date.parse((x.body?.session as { lastSeenAt: string }).lastSeenAt)),
      );
      expect(Date.parse(session.lastSeenAt)).toBeGreaterThanOrEqual(latest);
      expect((await call(b, 'GET', '/auth/me', { cookie })).status).toBe(200);
    });
  });

  describe('brute force', () => {
    it('locks one (username, IP) pair out after 5 failures on any replica; other IPs still log in', async () => {
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
  });

  describe('origin check', () => {
    const body = { username: 'nobody_here', password: 'wrong password' };

    it('refuses state-changing requests from a foreign Origin', async () => {
      const answer = await call(a, 'POST', '/auth/login', {
        body,
        headers: { origin: 'https://evil.example' },
      });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ statusCode: 403, code: 'FOREIGN_ORIGIN' });
      const { cookie } = await registerAndLogin(a);
      const logout = await call(b, 'POST', '/auth/logout', {
        cookie,
        headers: { origin: 'null' },
      });
      expect(logout.status).toBe(403);
      expect((await call(a, 'GET', '/auth/me', { cookie })).status).toBe(200);
    });

    it('lets same-origin, listed and non-browser clients through', async () => {
      const sameOrigin = await call(a, 'POST', '/auth/login', {
        body,
        headers: { origin: a },
      });
      expect(sameOrigin.status).toBe(401);
      const listed = await call(a, 'POST', '/auth/login', {
        body,
        headers: { origin: 'https://app.example.com' },
      });
      expect(listed.status).toBe(401);
      expect((await call(a, 'POST', '/auth/login', { body })).status).toBe(401);
    });
  });

  describe('bad cookies', () => {
    it('answers 401, never 500, for tampered, unknown and garbage cookies', async () => {
      const { cookie } = await registerAndLogin(a);
      const [id, signature] = cookie.split('.');
      const unknownButSigned = new Signer([SECRET]).sign('A'.repeat(32));
      const cookies = [
        `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}.${signature}`,
        `${id}.${signature.slice(0, -2)}xx`,
        id,
        unknownButSigned,
        new Signer(['another-secret-0123456789abcdefghij']).sign(id),
        '%%%',
        '.'.repeat(300),
      ];
      for (const bad of cookies) {
        const answer = await call(b, 'GET', '/auth/me', { cookie: bad });
        expect(answer.status).toBe(401);
      }
      expect((await call(b, 'GET', '/auth/me')).status).toBe(401);
      expect((await call(b, 'GET', '/auth/me', { cookie })).status).toBe(200);
    });
  });

  describe('metrics', () => {
    it('exposes sessions_active, logins_total and session_lookups_total', async () => {
      await registerAndLogin(a);
      const text = await (await fetch(`${a}/metrics`)).text();
      expect(text).toMatch(/^sessions_active \d+$/m);
      expect(Number(/^sessions_active (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
      expect(text).toMatch(/^logins_total\{result="success"\} \d+$/m);
      expect(text).toMatch(/^logins_total\{result="invalid_credentials"\} \d+$/m);
      expect(text).toMatch(/^session_lookups_total\{result="hit"\} \d+$/m);
      expect(text).toMatch(/^session_lookups_total\{result="miss"\} \d+$/m);
    });
  });

  describe('timing of wrong credentials', () => {
    let slow: Replicas<ServiceInstance>;
    beforeAll(async () => {
      slow = await startAuthReplicas(topology, database.url, 1, () => ({
        login: { ...TEST_LOGIN, maxFailures: 100, scryptCost: 16384 },
      }));
    });
    afterAll(async () => {
      await slow?.close();
    });

    it('spends a password hash on unknown users too', async () => {
      const url = slow.url(0);
      const { username } = await registerAndLogin(url);
      const median = async (name: string) => {
        const times: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          const answer = await call(url, 'POST', '/auth/login', {
            body: { username: name, password: 'wrong password' },
          });
          expect(answer.status).toBe(401);
          times.push(answer.ms);
        }
        return times.sort((x, y) => x - y)[2];
      };
      const known = await median(username);
      const unknown = await median(newUsername());
      // Without the dummy hash an unknown name answers in a fraction of a millisecond of work.
      expect(unknown).toBeGreaterThan(known * 0.4);
    });
  });
});
