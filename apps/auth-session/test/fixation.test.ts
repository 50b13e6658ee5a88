import { topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin } from './auth-harness';

// Guarantee: a login never keeps the session id the browser came with (session fixation); the
// bearer side is in bearer-tokens.test.ts, the script's side in session-store.test.ts.
const database = databaseFixture();

describe.each(topologiesUnderTest())('session fixation across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('destroys the session id a browser had before login (fixation)', async () => {
    const [a, b] = suite().urls;
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
