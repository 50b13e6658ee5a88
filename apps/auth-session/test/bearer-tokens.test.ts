import { topologiesUnderTest } from '@redis-patterns/testkit';
import {
  authFixture,
  call,
  callPast503,
  databaseFixture,
  newUsername,
  registerAndLogin,
  type Answer,
} from './auth-harness';

const PASSWORD = 'correct horse battery';
const EVIL = { origin: 'https://evil.example' };

const database = databaseFixture();

const bearer = (token: string, extra: Record<string, string> = {}) => ({
  headers: { authorization: `Bearer ${token}`, ...extra },
});

/** Logs `username` in on `base` asking for a token (retrying a 503 as a Retry-After client would). */
async function tokenLogin(
  base: string,
  username: string,
): Promise<{ token: string; answer: Answer }> {
  const answer = await callPast503(`a token login of ${username}`, () =>
    call(base, 'POST', '/auth/login', { body: { username, password: PASSWORD, token: true } }),
  );
  expect(answer.status).toBe(200);
  return { token: String(answer.body.token), answer };
}

describe.each(topologiesUnderTest())(
  'bearer session tokens across three replicas on %s',
  (kind) => {
    const suite = authFixture(kind, database, 3);

    it('login with token: true answers an opaque token and sets no cookie; every replica accepts it', async () => {
      const { urls } = suite();
      const { username } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      const { token, answer } = await tokenLogin(urls[0], username);
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(answer.headers.getSetCookie()).toEqual([]);
      expect(answer.body).toEqual({
        user: { id: expect.any(String), username },
        expiresAt: expect.any(String),
        token,
      });
      for (const url of urls) {
        const me = await call(url, 'GET', '/auth/me', bearer(token));
        expect(me.status).toBe(200);
        expect(me.body).toMatchObject({ user: { username } });
        expect(me.headers.getSetCookie()).toEqual([]);
        // Same lifetimes as a cookie session: the absolute end is fixed at login.
        expect((me.body.session as { expiresAt: string }).expiresAt).toBe(answer.body.expiresAt);
      }
      const me = await call(urls[1], 'GET', '/auth/me', bearer(token));
      const session = me.body.session as { createdAt: string; expiresAt: string };
      expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(604_800_000);
    });

    it('a revoked token is refused by another replica on the very next request, every time', async () => {
      const { urls } = suite();
      const { username } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      for (let round = 0; round < 10; round += 1) {
        const [on, off, next] = [urls[round % 3], urls[(round + 1) % 3], urls[(round + 2) % 3]];
        const { token } = await tokenLogin(on, username);
        expect((await call(next, 'GET', '/auth/me', bearer(token))).status).toBe(200);
        const logout = await call(off, 'POST', '/auth/logout', bearer(token));
        expect(logout.status).toBe(204);
        expect(logout.headers.getSetCookie()).toEqual([]);
        const after = await call(next, 'GET', '/auth/me', bearer(token));
        expect(after.status).toBe(401);
        expect(after.body).toMatchObject({ code: 'UNAUTHENTICATED' });
      }
    });

    it('every cookie route takes the token, and revoke-all covers cookies and tokens alike', async () => {
      const { urls } = suite();
      const { username, cookie } = await registerAndLogin(urls[0], newUsername(), PASSWORD, {
        'user-agent': 'browser',
      });
      const cli = await tokenLogin(urls[1], username);
      const other = await tokenLogin(urls[2], username);

      const listed = await call(urls[0], 'GET', '/auth/sessions', bearer(cli.token));
      expect(listed.status).toBe(200);
      const sessions = listed.body.sessions as Array<{
        id: string;
        current: boolean;
        userAgent: string;
      }>;
      expect(sessions).toHaveLength(3);
      expect(sessions.filter((s) => s.current)).toHaveLength(1);

      // One by id, with a token: the other token's session.
      const otherId = (
        (await call(urls[1], 'GET', '/auth/me', bearer(other.token))).body.session as {
          id: string;
        }
      ).id;
      const deleted = await call(urls[2], 'DELETE', `/auth/sessions/${otherId}`, bearer(cli.token));
      expect(deleted.status).toBe(204);
      expect((await call(urls[0], 'GET', '/auth/me', bearer(other.token))).status).toBe(401);

      // All others from a token: the browser's cookie session ends too.
      const revoked = await call(urls[1], 'DELETE', '/auth/sessions', bearer(cli.token));
      expect(revoked.status).toBe(200);
      expect(revoked.body).toEqual({ revoked: 1 });
      expect((await call(urls[2], 'GET', '/auth/me', { cookie })).status).toBe(401);
      expect((await call(urls[2], 'GET', '/auth/me', bearer(cli.token))).status).toBe(200);

      // And from a cookie: the tokens end.
      const browser = await call(urls[0], 'POST', '/auth/login', {
        body: { username, password: PASSWORD },
      });
      expect(browser.cookie).toBeDefined();
      const fresh = await tokenLogin(urls[0], username);
      const fromCookie = await call(urls[2], 'DELETE', '/auth/sessions', {
        cookie: browser.cookie,
      });
      expect(fromCookie.body).toEqual({ revoked: 2 });
      for (const token of [cli.token, fresh.token]) {
        expect((await call(urls[1], 'GET', '/auth/me', bearer(token))).status).toBe(401);
      }
    });

    it('no Origin check for bearer requests; cookie requests keep theirs', async () => {
      const { urls } = suite();
      const { username, cookie } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      const { token } = await tokenLogin(urls[0], username);
      const viaCookie = await call(urls[1], 'DELETE', '/auth/sessions', { cookie, headers: EVIL });
      expect(viaCookie.status).toBe(403);
      expect(viaCookie.body).toMatchObject({ code: 'FOREIGN_ORIGIN' });
      const loginViaCookie = await call(urls[1], 'POST', '/auth/login', {
        body: { username, password: PASSWORD },
        headers: EVIL,
      });
      expect(loginViaCookie.status).toBe(403);
      const viaBearer = await call(urls[1], 'DELETE', '/auth/sessions', bearer(token, EVIL));
      expect(viaBearer.status).toBe(200);
      expect(viaBearer.body).toEqual({ revoked: 1 });
      const logout = await call(urls[2], 'POST', '/auth/logout', bearer(token, EVIL));
      expect(logout.status).toBe(204);
      expect((await call(urls[0], 'GET', '/auth/me', bearer(token))).status).toBe(401);
    });

    it('a request with an Authorization header never uses its cookie', async () => {
      const { urls } = suite();
      const { username, cookie } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      for (const authorization of ['Bearer not-a-token', 'Basic dXNlcjpwYXNz', 'Bearer', '']) {
        const me = await call(urls[1], 'GET', '/auth/me', { cookie, headers: { authorization } });
        expect({ authorization, status: me.status }).toEqual({ authorization, status: 401 });
        // The Origin exemption of bearer requests cannot end a cookie session cross-site.
        const logout = await call(urls[2], 'POST', '/auth/logout', {
          cookie,
          headers: { authorization, ...EVIL },
        });
        expect(logout.status).toBe(204);
        expect(logout.headers.getSetCookie()).toEqual([]);
      }
      expect((await call(urls[0], 'GET', '/auth/me', { cookie })).status).toBe(200);
      expect(username).toBeDefined();
    });

    it('a token is not a cookie and a cookie is not a token', async () => {
      const { urls } = suite();
      const { username, cookie } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      const { token } = await tokenLogin(urls[0], username);
      expect((await call(urls[1], 'GET', '/auth/me', { cookie: token })).status).toBe(401);
      expect((await call(urls[1], 'GET', '/auth/me', bearer(cookie))).status).toBe(401);
      expect((await call(urls[1], 'GET', '/auth/me', bearer(token))).status).toBe(200);
      expect((await call(urls[1], 'GET', '/auth/me', { cookie })).status).toBe(200);
    });

    it('a token login destroys the session the client presented (fixation)', async () => {
      const { urls } = suite();
      const { username } = await registerAndLogin(urls[0], newUsername(), PASSWORD);
      const first = await tokenLogin(urls[0], username);
      const again = await call(urls[1], 'POST', '/auth/login', {
        body: { username, password: PASSWORD, token: true },
        ...bearer(first.token),
      });
      expect(again.status).toBe(200);
      expect(again.body.token).not.toBe(first.token);
      expect((await call(urls[2], 'GET', '/auth/me', bearer(first.token))).status).toBe(401);
      expect(
        (await call(urls[2], 'GET', '/auth/me', bearer(String(again.body.token)))).status,
      ).toBe(200);
    });
  },
);
