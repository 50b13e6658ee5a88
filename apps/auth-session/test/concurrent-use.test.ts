import { topologiesUnderTest } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin } from './auth-harness';

// Guarantee: use of a session is one touch, never a rewrite, so concurrent requests on several
// replicas lose no update.
const database = databaseFixture();

describe.each(topologiesUnderTest())('concurrent use across two replicas on %s', (kind) => {
  const suite = authFixture(kind, database, 2);

  it('loses no update when 50 concurrent requests use one session on two replicas', async () => {
    const { replicas, urls } = suite();
    const [a, b] = urls;
    const { cookie } = await registerAndLogin(a);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(replicas.url(i), 'GET', '/auth/me', { cookie })),
    );
    expect(answers.map((x) => x.status)).toEqual(Array(50).fill(200));
    const list = await call(a, 'GET', '/auth/sessions', { cookie });
    const [session] = list.body.sessions as Array<{ requests: number; lastSeenAt: string }>;
    // 50 uses plus the list call itself: every increment landed, none was overwritten.
    expect(session.requests).toBe(51);
    const latest = Math.max(
      ...answers.map((x) => Date.parse((x.body.session as { lastSeenAt: string }).lastSeenAt)),
    );
    expect(Date.parse(session.lastSeenAt)).toBeGreaterThanOrEqual(latest);
    expect((await call(b, 'GET', '/auth/me', { cookie })).status).toBe(200);
  });
});
