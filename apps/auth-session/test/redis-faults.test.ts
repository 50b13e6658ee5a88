import { httpCall, topologiesUnderTest, until, type RedisServer } from '@redis-patterns/testkit';
import { authFixture, call, databaseFixture, registerAndLogin, replicasOf } from './auth-harness';

// 500 ms command timeout + 1 s of slack for two busy cores.
const DEADLINE_MS = 1500;

const database = databaseFixture();

describe.each(topologiesUnderTest())(
  'auth-session while Redis is away on %s (fail closed)',
  (kind) => {
    // Failure detection far beyond any pause here: these faults must not start a failover.
    const suite = authFixture(kind, database, 2, undefined, { failureDetectionMs: 30000 });
    let paused: RedisServer[] = [];

    const pause = async (servers: RedisServer[]) => {
      paused = servers;
      await Promise.all(servers.map((server) => server.pause()));
    };
    const resume = async () => {
      await Promise.all(paused.map((server) => server.resume()));
      paused = [];
    };

    afterEach(async () => {
      await resume();
      await suite().topology.converged();
    });

    it('answers 503 within the command timeout while every Redis node is SIGSTOPped, then recovers', async () => {
      const { topology, urls } = suite();
      const [a, b] = urls;
      const { username, password, cookie } = await registerAndLogin(a);
      // Logged out below: a logout answered 503 may still happen once Redis is back.
      // A loaded machine may answer a login 503 (hash queue bound): without a session the
      // logout below would be a 204 that never touched Redis.
      const other = await until(
        'a second session',
        async () => {
          const login = await call(a, 'POST', '/auth/login', { body: { username, password } });
          return login.status === 200 && login.cookie ? login : undefined;
        },
        10000,
      );
      await pause(topology.servers);
      const answers = await Promise.all([
        call(a, 'GET', '/auth/me', { cookie }),
        call(b, 'GET', '/auth/sessions', { cookie }),
        call(b, 'POST', '/auth/logout', { cookie: other.cookie }),
        call(a, 'POST', '/auth/login', { body: { username, password } }),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.ms).toBeLessThan(DEADLINE_MS);
        expect(answer.headers.get('retry-after')).toBe('1');
      }
      expect(answers[0].body).toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' });
      expect(answers[3].body).toMatchObject({ code: 'LOCKOUT_UNAVAILABLE' });
      expect((await httpCall(b, 'GET', '/health/ready')).status).toBe(503);
      // Health and metrics do not depend on the session store.
      expect((await httpCall(a, 'GET', '/health/live')).status).toBe(200);
      await resume();
      await until(
        'the session to answer again',
        async () =>
          (await call(b, 'GET', '/auth/me', { cookie })).status === 200 ? true : undefined,
        5000,
      );
      expect((await httpCall(b, 'GET', '/health/ready')).status).toBe(200);
    });

    if (kind === 'standalone') {
      it('fails fast while Redis is down, and after an empty restart says 401, not 200', async () => {
        const { topology, urls } = suite();
        const [a, b] = urls;
        const { cookie } = await registerAndLogin(a);
        const [server] = topology.servers;
        await server.kill();
        try {
          const down = await call(b, 'GET', '/auth/me', { cookie });
          expect(down.status).toBe(503);
          expect(down.ms).toBeLessThan(DEADLINE_MS);
        } finally {
          await server.start();
        }
        const after = await until(
          'an answer other than 503 after the restart',
          async () => {
            const { status } = await call(a, 'GET', '/auth/me', { cookie });
            return status === 503 ? undefined : status;
          },
          10000,
        );
        expect(after).toBe(401);
      });
      return;
    }

    it('refuses logins, logouts and revocations no replica holds (503, no cookie), while sessions still answer', async () => {
      const { topology, urls } = suite();
      const [a, b] = urls;
      const loginAgain = (user: { username: string; password: string }) =>
        call(b, 'POST', '/auth/login', {
          body: { username: user.username, password: user.password },
        });
      const [one, all, out] = [
        await registerAndLogin(a),
        await registerAndLogin(a),
        await registerAndLogin(a),
      ];
      const oneOther = await loginAgain(one);
      const allOther = await loginAgain(all);
      const list = await call(a, 'GET', '/auth/sessions', { cookie: one.cookie });
      const otherId = (list.body.sessions as Array<{ id: string; current: boolean }>).find(
        (s) => !s.current,
      )?.id;
      await pause(await replicasOf(topology));

      const login = await loginAgain(out);
      const writes = [
        login,
        await call(a, 'DELETE', `/auth/sessions/${otherId}`, { cookie: one.cookie }),
        await call(b, 'DELETE', '/auth/sessions', { cookie: all.cookie }),
        await call(b, 'POST', '/auth/logout', { cookie: out.cookie }),
      ];
      for (const answer of writes) {
        expect(answer.status).toBe(503);
        expect(answer.body).toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' });
        expect(answer.ms).toBeLessThan(DEADLINE_MS);
      }
      expect(login.cookie).toBeUndefined();
      // Use does not wait for replicas: a touch only slides the idle expiry.
      for (const user of [one, all]) {
        expect((await call(b, 'GET', '/auth/me', { cookie: user.cookie })).status).toBe(200);
      }

      await resume();
      await topology.converged();
      // A 503 write may have happened anyway: retrying it is what a client relies on.
      expect((await call(a, 'POST', '/auth/logout', { cookie: out.cookie })).status).toBe(204);
      expect((await call(b, 'GET', '/auth/me', { cookie: out.cookie })).status).toBe(401);
      expect((await call(b, 'DELETE', '/auth/sessions', { cookie: all.cookie })).status).toBe(200);
      expect((await call(a, 'GET', '/auth/me', { cookie: allOther.cookie })).status).toBe(401);
      expect((await call(a, 'GET', '/auth/me', { cookie: one.cookie })).status).toBe(200);
      expect(oneOther.status).toBe(200);
    });
  },
);
