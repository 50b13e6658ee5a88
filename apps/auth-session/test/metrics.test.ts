import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin } from './auth-harness';

// Guarantee: operators see live sessions, logins by result and session lookups by result.
const database = databaseFixture();

describe.each(topologiesUnderTest())('metrics on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('exposes sessions_active, logins_total and session_lookups_total', async () => {
    const [a] = suite().urls;
    const { username, password, cookie } = await registerAndLogin(a);
    // One of each result the scrape must show (a labelled counter appears once incremented):
    // a wrong password, a hit, and a miss (a session logged out), the first session still live.
    const wrong = await call(a, 'POST', '/auth/login', {
      body: { username, password: 'wrong password' },
    });
    expect(wrong.status).toBe(401);
    expect((await call(a, 'GET', '/auth/me', { cookie })).status).toBe(200);
    const other = await call(a, 'POST', '/auth/login', { body: { username, password } });
    expect((await call(a, 'POST', '/auth/logout', { cookie: other.cookie })).status).toBe(204);
    expect((await call(a, 'GET', '/auth/me', { cookie: other.cookie })).status).toBe(401);
    const { text } = await httpCall(a, 'GET', '/metrics');
    expect(text).toMatch(/^sessions_active \d+$/m);
    expect(Number(/^sessions_active (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^logins_total\{result="success"\} \d+$/m);
    expect(text).toMatch(/^logins_total\{result="invalid_credentials"\} \d+$/m);
    expect(text).toMatch(/^session_lookups_total\{result="hit"\} \d+$/m);
    expect(text).toMatch(/^session_lookups_total\{result="miss"\} \d+$/m);
  });
});
