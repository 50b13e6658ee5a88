import { buildApp } from '../src/app';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import {
  freePort,
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { call, inParallel, sleep, startUpstreams, testConfig, type Upstream } from './support';

const COMMAND_TIMEOUT_MS = 500;
const policies = parsePolicies({
  default: { limit: 1000, windowMs: 60000, algorithm: 'fixed-window' },
  routes: [
    { name: 'players', path: '/api/players/*', limit: 1000, windowMs: 60000 },
    {
      name: 'login',
      method: 'POST',
      path: '/api/auth/login',
      limit: 3,
      windowMs: 60000,
      failMode: 'closed',
    },
  ],
});

describe('gateway-ratelimit: when Redis stalls or dies', () => {
  let redis: RedisServer;
  let upstreams: Upstream[] = [];
  let gateways: Replicas<ServiceInstance>;
  let ipCounter = 0;
  const freshIp = () => `10.2.0.${++ipCounter}`;

  beforeAll(async () => {
    redis = await startRedis({ faults: true });
    const started = await startUpstreams();
    upstreams = started.all;
    const prefix = uniquePrefix('gw');
    gateways = await startReplicas(2, () =>
      buildApp(
        testConfig(redis.url, prefix, started.urls, {
          policies,
          redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS },
        }),
      ),
    );
  });
  afterAll(async () => {
    await redis?.resume().catch(() => {});
    await gateways?.close();
    await Promise.all(upstreams.map((u) => u.close()));
    await redis?.stop();
  });

  const login = (i: number, ip: string) =>
    call(`${gateways.url(i)}/api/auth/login`, {
      method: 'POST',
      headers: { 'x-forwarded-for': ip },
    });

  async function limitingWorks(ip: string) {
    const answers = [
      await login(0, ip),
      await login(1, ip),
      await login(0, ip),
      await login(1, ip),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
  }

  async function waitUntilLimiting() {
    const deadline = Date.now() + 10000;
    for (;;) {
      const answer = await call(`${gateways.url(0)}/api/products/1`, {
        headers: { 'x-forwarded-for': freshIp() },
      });
      if (answer.headers.get('x-ratelimit-limit') || Date.now() > deadline) return;
      await sleep(100);
    }
  }

  it('fails open within the command timeout while Redis is SIGSTOPped, fails closed with 503, and resumes after SIGCONT', async () => {
    await limitingWorks(freshIp());
    await redis.pause();
    let openMs: number[] = [];
    try {
      const ip = freshIp();
      const open = await inParallel(20, 10, (i) =>
        call(`${gateways.url(i)}${i % 2 ? '/api/players/1' : '/api/products/1'}`, {
          headers: { 'x-forwarded-for': ip },
        }),
      );
      openMs = open.map((a) => a.ms);
      for (const answer of open) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('x-ratelimit-limit')).toBeNull();
      }
      const closed = await login(0, ip);
      expect(closed.status).toBe(503);
      expect(JSON.parse(closed.body)).toMatchObject({
        statusCode: 503,
        code: 'RATE_LIMIT_UNAVAILABLE',
      });
      expect(closed.headers.get('retry-after')).toBe('1');
      // Fail-open design: readiness stays up once Redis has been ready.
      expect((await call(`${gateways.url(1)}/health/ready`)).status).toBe(200);
      const metrics = await call(`${gateways.url(0)}/metrics`);
      expect(metrics.body).toMatch(
        /ratelimit_decisions_total\{policy="default",result="fail_open"\} [1-9]/,
      );
      expect(metrics.body).toMatch(
        /ratelimit_decisions_total\{policy="login",result="fail_closed"\} 1/,
      );
    } finally {
      await redis.resume();
    }
    const worst = Math.max(...openMs);
    process.stdout.write(
      `paused Redis: fail-open answers took max ${Math.round(worst)} ms, median ${Math.round(openMs.sort((a, b) => a - b)[10])} ms (command timeout ${COMMAND_TIMEOUT_MS} ms)\n`,
    );
    // Generous bound for a loaded 2-core machine; the measured figure is printed above.
    expect(worst).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
    await waitUntilLimiting();
    await limitingWorks(freshIp());
  });

  it('fails open at once while Redis is down, and limits again after it restarts', async () => {
    await redis.kill();
    try {
      const ip = freshIp();
      const answer = await call(`${gateways.url(0)}/api/products/1`, {
        headers: { 'x-forwarded-for': ip },
      });
      expect(answer.status).toBe(200);
      expect(answer.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
      expect((await login(1, ip)).status).toBe(503);
    } finally {
      await redis.start();
    }
    await waitUntilLimiting();
    await limitingWorks(freshIp());
  });

  it('does not start without Redis: no unlimited window at boot', async () => {
    const port = await freePort();
    const config = testConfig(`redis://127.0.0.1:${port}`, uniquePrefix('gw'), {
      products: ['http://127.0.0.1:1'],
      auth: ['http://127.0.0.1:1'],
      inventory: ['http://127.0.0.1:1'],
      leaderboard: ['http://127.0.0.1:1'],
      chat: ['http://127.0.0.1:1'],
    });
    await expect(buildApp(config)).rejects.toThrow(/Cannot reach Redis/);
    // The refused client's last reconnect timer (at most 2 s) outlives its disconnect() while
    // it is `reconnecting` (ioredis); let it end so the test leaves nothing running.
    await sleep(2100);
  });
});
