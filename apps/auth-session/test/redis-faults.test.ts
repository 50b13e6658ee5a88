import type { Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { call, registerAndLogin, startAuthReplicas, startServers, type Servers } from './harness';

// 500 ms command timeout + 1 s of slack for two busy cores.
const DEADLINE_MS = 1500;

describe('auth-session while Redis is away (fail closed)', () => {
  let servers: Servers;
  let replicas: Replicas<ServiceInstance>;

  beforeAll(async () => {
    servers = await startServers({ faults: true });
    replicas = await startAuthReplicas(servers, 2);
  });
  afterAll(async () => {
    await servers?.redis.resume().catch(() => undefined);
    await replicas?.close();
    await servers?.close();
  });

  it('answers 503 within the command timeout while Redis is SIGSTOPped, then recovers', async () => {
    const [a, b] = replicas.urls;
    const { username, password, cookie } = await registerAndLogin(a);
    await servers.redis.pause();
    try {
      const answers = await Promise.all([
        call(a, 'GET', '/auth/me', { cookie }),
        call(b, 'GET', '/auth/sessions', { cookie }),
        call(b, 'POST', '/auth/logout', { cookie }),
        call(a, 'POST', '/auth/login', { body: { username, password } }),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.ms).toBeLessThan(DEADLINE_MS);
        expect(answer.headers.get('retry-after')).toBe('1');
      }
      expect(answers[0].body).toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' });
      expect(answers[3].body).toMatchObject({ code: 'LOCKOUT_UNAVAILABLE' });
      const ready = await fetch(`${b}/health/ready`);
      expect(ready.status).toBe(503);
      // Health and metrics do not depend on the session store.
      expect((await fetch(`${a}/health/live`)).status).toBe(200);
    } finally {
      await servers.redis.resume();
    }
    expect((await call(b, 'GET', '/auth/me', { cookie })).status).toBe(200);
    expect((await fetch(`${b}/health/ready`)).status).toBe(200);
  });

  it('fails fast while Redis is down, and after an empty restart says 401, not 200', async () => {
    const [a, b] = replicas.urls;
    const { cookie } = await registerAndLogin(a);
    await servers.redis.kill();
    try {
      const down = await call(b, 'GET', '/auth/me', { cookie });
      expect(down.status).toBe(503);
      expect(down.ms).toBeLessThan(DEADLINE_MS);
    } finally {
      await servers.redis.start();
    }
    let status = 503;
    const started = Date.now();
    while (status === 503 && Date.now() - started < 10000) {
      status = (await call(a, 'GET', '/auth/me', { cookie })).status;
      if (status === 503) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(401);
  });
});
