import { topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin } from './auth-harness';

// Guarantee: a cookie request that changes state from a foreign Origin is refused before any
// work; same-origin, listed and non-browser clients pass (bearer requests: bearer-tokens.test.ts).
const database = databaseFixture();

describe.each(topologiesUnderTest())('the Origin check across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);
  const body = { username: 'nobody_here', password: 'wrong password' };

  it('refuses state-changing requests from a foreign Origin', async () => {
    const [a, b] = suite().urls;
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
    const [a] = suite().urls;
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
