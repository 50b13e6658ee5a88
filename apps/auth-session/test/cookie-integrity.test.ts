import { Signer } from '@fastify/cookie';
import { topologiesUnderTest } from '@redis-patterns/testkit';
import {
  authFixture,
  call,
  databaseFixture,
  newUsername,
  registerAndLogin,
  SECRET,
} from './auth-harness';

// Guarantee: the session cookie is out of scripts' reach (HttpOnly, SameSite=Lax) and lives as
// long as the session; a cookie that is not one this service signed for a live session is a
// 401, never a 500.
const database = databaseFixture();

describe.each(topologiesUnderTest())('the session cookie across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('sets an HttpOnly, SameSite=Lax cookie on Path=/ that lives as long as the session', async () => {
    const [a] = suite().urls;
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

  it('answers 401, never 500, for tampered, unknown and garbage cookies', async () => {
    const [a, b] = suite().urls;
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
