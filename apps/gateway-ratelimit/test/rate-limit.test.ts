import { buildApp } from '../src/app';
import { parsePolicies, type Algorithm } from '../src/rate-limit/rate-limit-policy';
import { ApiKeyRegistry, apiKeyDigest } from '../src/rate-limit/api-key-registry';
import { createRedis, waitForReady, type RedisClient } from '@redis-patterns/redis-core';
import {
  delay,
  httpCall,
  inParallel,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  gatewayMetrics,
  closeClient,
  closeGateways,
  limiterKey,
  pickAddresses,
  startUpstreams,
  testConfig,
  type Upstream,
} from './gateway-harness';

const GOLD_KEY = 'gold-key-0123456789abcdef';
/** 31 days: GCRA refills one per 7 h, so a slow run cannot turn refill into extra admissions. */
const MONTH_MS = 31 * 24 * 3600 * 1000;
const policies = parsePolicies({
  default: { limit: 100, windowMs: 60000, algorithm: 'fixed-window' },
  routes: [
    { name: 'players-exact', path: '/api/players/*', limit: 100, windowMs: MONTH_MS },
    {
      name: 'spread-fw',
      path: '/api/inventory/spread/*',
      limit: 100,
      windowMs: 3600000,
      algorithm: 'fixed-window',
    },
    { name: 'spread-gcra', path: '/api/reservations/spread/*', limit: 100, windowMs: MONTH_MS },
    { name: 'edge-gcra', path: '/api/leaderboards/*', limit: 10, windowMs: 2000 },
    {
      name: 'edge-fixed',
      path: '/api/inventory/*',
      limit: 10,
      windowMs: 2000,
      algorithm: 'fixed-window',
    },
    { name: 'retry-gcra', path: '/api/reservations/gcra', limit: 2, windowMs: 4000 },
    {
      name: 'retry-fixed',
      path: '/api/reservations/fixed',
      limit: 2,
      windowMs: 3000,
      algorithm: 'fixed-window',
    },
    { name: 'login', method: 'POST', path: '/api/auth/login', limit: 3, windowMs: 60000 },
  ],
  tiers: { gold: { limit: 6, windowMs: 60000, algorithm: 'fixed-window' } },
});
const apiKeys = ApiKeyRegistry.parse({
  keys: [{ sha256: apiKeyDigest(GOLD_KEY), consumer: 'gold-co', tier: 'gold' }],
});

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: limits across three replicas on %s',
  (kind) => {
    let topology: RedisTopology;
    let redis: RedisClient;
    let prefix: string;
    let upstreams: Upstream[] = [];
    let gateways: Replicas<ServiceInstance>;
    let ipCounter = 0;
    /** A fresh client address per test, so tests never share a bucket. */
    const freshIp = () => `10.1.${Math.floor(ipCounter / 250)}.${(ipCounter++ % 250) + 1}`;

    beforeAll(async () => {
      topology = await startTopology(kind);
      redis = createRedis({ ...topology.config, commandTimeoutMs: 5000 });
      await waitForReady(redis, 10000);
      const started = await startUpstreams();
      upstreams = started.all;
      prefix = uniquePrefix('gw');
      gateways = await startReplicas(3, () =>
        buildApp(
          testConfig({
            keyPrefix: prefix,
            upstreams: started.urls,
            policies,
            apiKeys,
            // Exactness is the property here, not fail-open: generous deadlines so that a loaded
            // machine cannot turn a slow answer into a fail-open pass or an upstream 504.
            redis: { ...topology.config, commandTimeoutMs: 5000 },
            upstreamTimeoutMs: 10000,
          }),
        ),
      );
    });
    afterAll(async () => {
      await closeGateways(gateways);
      await Promise.all(upstreams.map((u) => u.close()));
      await closeClient(redis);
      await topology?.stop();
    });

    async function exactness(path: string, policy: string) {
      const ip = freshIp();
      const answers = await inParallel(1000, 30, (i) =>
        httpCall(gateways.url(i), 'GET', path, { headers: { 'x-forwarded-for': ip } }),
      );
      const passed = answers.filter((a) => a.status === 200);
      const limited = answers.filter((a) => a.status === 429);
      expect(passed).toHaveLength(100);
      expect(limited).toHaveLength(900);
      for (const answer of passed) expect(answer.headers.get('x-ratelimit-limit')).toBe('100');
      const refusal = limited[limited.length - 1];
      expect(refusal.body).toEqual({
        statusCode: 429,
        code: 'RATE_LIMITED',
        error: 'Too Many Requests',
        message: expect.stringMatching(/Rate limit of 100 requests per .* exceeded/),
      });
      const retryAfter = Number(refusal.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(refusal.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(refusal.headers.get('x-ratelimit-reset')).toBe(String(retryAfter));
      expect(refusal.headers.get('ratelimit-policy')).toMatch(
        new RegExp(`^"${policy}";q=100;w=\\d+$`),
      );
      expect(refusal.headers.get('ratelimit')).toBe(`"${policy}";r=0;t=${retryAfter}`);
      return passed.length;
    }

    // Thousands of requests through real HTTP on a shared 2-core machine: minutes, not seconds.
    const HEAVY_MS = 180_000;

    it(
      'admits exactly 100 of 1,000 requests round-robin over 3 replicas (fixed window)',
      async () => {
        await exactness('/api/products/1', 'default');
      },
      HEAVY_MS,
    );

    it(
      'admits exactly 100 of 1,000 requests round-robin over 3 replicas (GCRA)',
      async () => {
        await exactness('/api/players/1', 'players-exact');
      },
      HEAVY_MS,
    );

    it(
      'admits exactly 100 per client with several clients and policies whose counters sit on every master',
      async () => {
        const routes: [Algorithm, string, string][] = [
          ['fixed-window', 'spread-fw', '/api/inventory/spread/1'],
          ['gcra', 'spread-gcra', '/api/reservations/spread/1'],
        ];
        const clients = (
          await Promise.all(
            routes.map(async ([algorithm, policy, path], r) => {
              const picked = await pickAddresses(
                topology,
                3,
                (n) => `10.3.${r}.${n + 1}`,
                (ip) => [limiterKey(prefix, algorithm, policy, ip)],
              );
              return picked.map(({ ip, master }) => ({
                ip,
                master,
                path,
                key: limiterKey(prefix, algorithm, policy, ip),
              }));
            }),
          )
        ).flat();
        if (kind === 'cluster') {
          for (const algorithm of [0, 1]) {
            expect(
              new Set(clients.slice(algorithm * 3, algorithm * 3 + 3).map((c) => c.master)).size,
            ).toBe(3);
          }
        }
        const perClient = 1000;
        const answers = await inParallel(clients.length * perClient, 30, (i) => {
          const client = clients[i % clients.length];
          return httpCall(gateways.url(i), 'GET', client.path, {
            headers: { 'x-forwarded-for': client.ip },
          });
        });
        clients.forEach((_, c) => {
          const mine = answers.filter((_, i) => i % clients.length === c);
          expect(mine.filter((a) => a.status === 200)).toHaveLength(100);
          expect(mine.filter((a) => a.status === 429)).toHaveLength(perClient - 100);
        });
        // The counters are where the test meant them to be (the naming above is the plugin's).
        for (const client of clients) expect(await redis.exists(client.key)).toBe(1);
      },
      HEAVY_MS,
    );

    async function straddle(path: string) {
      const ip = freshIp();
      const send = (i: number) =>
        httpCall(gateways.url(i), 'GET', path, { headers: { 'x-forwarded-for': ip } });
      const t0 = performance.now();
      expect((await send(0)).status).toBe(200);
      await delay(1850 - (performance.now() - t0));
      const burstStart = performance.now();
      const first = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i)));
      await delay(2200 - (performance.now() - t0));
      const second = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i)));
      const spanMs = performance.now() - burstStart;
      const admitted = [...first, ...second].filter((a) => a.status === 200).length;
      return { admitted, spanMs };
    }

    it('holds a burst straddling a window edge to the limit with GCRA', async () => {
      const gcra = await straddle('/api/leaderboards/x');
      const fixed = await straddle('/api/inventory/x');
      // GCRA: at most the burst of 10 plus one per 200 ms of the span (plus one for rounding).
      expect(gcra.admitted).toBeGreaterThanOrEqual(10);
      expect(gcra.admitted).toBeLessThanOrEqual(10 + Math.floor(gcra.spanMs / 200) + 1);
      process.stdout.write(
        `window edge: gcra admitted ${gcra.admitted} in ${Math.round(gcra.spanMs)} ms, fixed window admitted ${fixed.admitted} in ${Math.round(fixed.spanMs)} ms\n`,
      );
    });

    it.each([
      ['GCRA', '/api/reservations/gcra'],
      ['fixed window', '/api/reservations/fixed'],
    ])('gives an honest Retry-After (%s): a retry after it passes', async (_name, path) => {
      const ip = freshIp();
      const send = (i: number) =>
        httpCall(gateways.url(i), 'GET', path, { headers: { 'x-forwarded-for': ip } });
      expect((await send(0)).status).toBe(200);
      expect((await send(1)).status).toBe(200);
      const refused = await send(2);
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(3);
      await delay(retryAfter * 1000);
      expect((await send(0)).status).toBe(200);
    });

    it('counts routes, API keys and tiers separately; an unknown key is 401 and costs the address quota', async () => {
      const ip = freshIp();
      const login = () =>
        httpCall(gateways.url(0), 'POST', '/api/auth/login', {
          headers: { 'x-forwarded-for': ip, 'content-type': 'application/json' },
          body: '{"user":"a"}',
        });
      const logins = [await login(), await login(), await login(), await login()];
      expect(logins.map((a) => a.status)).toEqual([200, 200, 200, 429]);
      expect(logins[3].headers.get('ratelimit-policy')).toBe('"login";q=3;w=60');
      // The same client on another route still has its default quota.
      const other = await httpCall(gateways.url(1), 'GET', '/api/products/1', {
        headers: { 'x-forwarded-for': ip },
      });
      expect(other.status).toBe(200);
      expect(other.headers.get('ratelimit-policy')).toBe('"default";q=100;w=60');

      const gold = await inParallel(8, 4, (i) =>
        httpCall(gateways.url(i), 'GET', '/api/products/2', {
          headers: { 'x-forwarded-for': ip, 'x-api-key': GOLD_KEY },
        }),
      );
      expect(gold.filter((a) => a.status === 200)).toHaveLength(6);
      expect(gold.find((a) => a.status === 429)?.headers.get('ratelimit-policy')).toBe(
        '"gold";q=6;w=60',
      );
      const unknownKey = await httpCall(gateways.url(2), 'GET', '/api/products/2', {
        headers: { 'x-forwarded-for': ip, 'x-api-key': 'someone-else-0123456789' },
      });
      expect(unknownKey.status).toBe(401);
      expect(unknownKey.body).toMatchObject({
        statusCode: 401,
        code: 'INVALID_API_KEY',
      });
      const after = await httpCall(gateways.url(0), 'GET', '/api/products/2', {
        headers: { 'x-forwarded-for': ip },
      });
      // 100: one on /api/products/1, one charged for the unknown key, this one.
      expect(after.headers.get('x-ratelimit-remaining')).toBe('97');
    });

    it('groups IPv6 clients by /64', async () => {
      const login = (ip: string) =>
        httpCall(gateways.url(0), 'POST', '/api/auth/login', {
          headers: { 'x-forwarded-for': ip },
        });
      expect((await login('2001:db8:a:b::1')).status).toBe(200);
      expect((await login('2001:db8:a:b:ffff:ffff:ffff:ffff')).status).toBe(200);
      expect((await login('2001:db8:a:b:1234::7')).status).toBe(200);
      expect((await login('2001:db8:a:b::2')).status).toBe(429);
      expect((await login('2001:db8:a:c::1')).status).toBe(200);
    });

    it('rejects a malformed API key with 400 and limits unknown routes (404) too', async () => {
      const bad = await httpCall(gateways.url(0), 'GET', '/api/products/1', {
        headers: { 'x-api-key': 'bad key!' },
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ statusCode: 400, code: 'INVALID_API_KEY' });

      const ip = freshIp();
      const answers = await inParallel(101, 10, (i) =>
        httpCall(gateways.url(i), 'GET', '/no/such/route', { headers: { 'x-forwarded-for': ip } }),
      );
      expect(answers.filter((a) => a.status === 404)).toHaveLength(100);
      const limited = answers.filter((a) => a.status === 429);
      expect(limited).toHaveLength(1);
      expect(answers.find((a) => a.status === 404)?.headers.get('x-ratelimit-limit')).toBe('100');
    });

    it('counts decisions in ratelimit_decisions_total', async () => {
      const metrics = await gatewayMetrics(gateways.apps[0]);
      expect(metrics).toMatch(/ratelimit_decisions_total\{policy="default",result="allowed"\} \d+/);
      expect(metrics).toMatch(/ratelimit_decisions_total\{policy="default",result="limited"\} \d+/);
      expect(metrics).toMatch(/gateway_upstream_duration_seconds_bucket\{.*upstream="products"/);
    });
  },
);
