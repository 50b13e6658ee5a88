import { join } from 'node:path';
import { buildApp } from '../src/app';
import { parsePolicies, type RoutePolicy } from '../src/rate-limit/rate-limit-policy';
import { limitKeys, rateLimitKeyBuilder } from '../src/rate-limit/rate-limit-keys';
import { clientIdentity } from '../src/rate-limit/client-identity';
import { createRedis, waitForReady, type RedisClient } from '@redis-patterns/redis-core';
import {
  startReplicas,
  startServiceProcess,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  until,
  type RedisTopology,
  type Replicas,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  call,
  closeClient,
  closeGateways,
  inParallel,
  sleep,
  startUpstreams,
  testConfig,
  type Answer,
  type Upstream,
} from './support';

const HOUR = 3_600_000;
const SLIDING_WINDOW_MS = 10_000;
const LEASE_MS = 2000;
const POLICY_DOCUMENT = {
  default: { limit: 1_000_000, windowMs: HOUR },
  routes: [
    {
      name: 'fixed',
      path: '/api/inventory/fixed',
      limit: 50,
      windowMs: HOUR,
      algorithm: 'fixed-window',
    },
    {
      name: 'sliding',
      path: '/api/inventory/sliding',
      limit: 50,
      windowMs: HOUR,
      algorithm: 'sliding-window',
    },
    {
      name: 'sliding-edge',
      path: '/api/inventory/sliding-edge',
      limit: 40,
      windowMs: SLIDING_WINDOW_MS,
      algorithm: 'sliding-window',
    },
    { name: 'burst', path: '/api/inventory/burst', limit: 10, windowMs: HOUR, burst: 30 },
    {
      name: 'two-limits',
      path: '/api/inventory/two',
      limits: [
        { limit: 5, windowMs: HOUR, algorithm: 'fixed-window' },
        { limit: 100, windowMs: HOUR, algorithm: 'fixed-window' },
      ],
    },
    { name: 'costly', path: '/api/inventory/costly', cost: 10, limit: 100, windowMs: HOUR },
    {
      name: 'in-flight',
      path: '/api/products/*',
      limit: 3,
      algorithm: 'concurrency',
      leaseMs: LEASE_MS,
    },
    { name: 'shadowed', path: '/api/inventory/shadow', mode: 'shadow', limit: 5, windowMs: HOUR },
  ],
} as const;
const policies = parsePolicies(POLICY_DOCUMENT);
const route = (name: string) => policies.routes.find((r) => r.name === name) as RoutePolicy;

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: every algorithm across three replicas on %s',
  (kind) => {
    let topology: RedisTopology;
    let redis: RedisClient;
    let prefix: string;
    let upstreams: Upstream[] = [];
    let upstreamUrls: Awaited<ReturnType<typeof startUpstreams>>['urls'];
    let gateways: Replicas<ServiceInstance>;
    let ipCounter = 0;
    const freshIp = () => `10.7.${Math.floor(ipCounter / 250)}.${(ipCounter++ % 250) + 1}`;

    beforeAll(async () => {
      topology = await startTopology(kind);
      redis = createRedis({ ...topology.config, commandTimeoutMs: 5000 });
      await waitForReady(redis, 10000);
      const started = await startUpstreams();
      upstreams = started.all;
      upstreamUrls = started.urls;
      prefix = uniquePrefix('gw');
      gateways = await startReplicas(3, () =>
        buildApp(
          testConfig(topology.config, prefix, started.urls, {
            policies,
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

    const burst = (count: number, path: string, ip: string, concurrency = 20) =>
      inParallel(count, concurrency, (i) =>
        call(`${gateways.url(i)}${path}`, { headers: { 'x-forwarded-for': ip } }),
      );
    const passed = (answers: Answer[]) => answers.filter((a) => a.status === 200).length;
    const refusedAll = (answers: Answer[]) =>
      answers.every((a) => a.status === 200 || a.status === 429);

    it('fixed window: exactly the limit of 300 concurrent requests', async () => {
      const answers = await burst(300, '/api/inventory/fixed', freshIp());
      expect(refusedAll(answers)).toBe(true);
      expect(passed(answers)).toBe(50);
    });

    it('sliding window: exactly the limit in a fresh window', async () => {
      const answers = await burst(300, '/api/inventory/sliding', freshIp());
      expect(refusedAll(answers)).toBe(true);
      expect(passed(answers)).toBe(50);
    });

    it('sliding window: the next window admits what the weighted previous one leaves, within the stated error', async () => {
      const ip = freshIp();
      const send = (i: number) =>
        call(`${gateways.url(i)}/api/inventory/sliding-edge`, {
          headers: { 'x-forwarded-for': ip },
        });
      // Start just after a window boundary (Redis and this process share the machine's clock).
      await sleep(SLIDING_WINDOW_MS - (Date.now() % SLIDING_WINDOW_MS) + 50);
      const windowOf = () => Math.floor(Date.now() / SLIDING_WINDOW_MS);
      const firstWindow = windowOf();
      const first = await inParallel(40, 10, send);
      expect(windowOf()).toBe(firstWindow);
      expect(passed(first)).toBe(40);
      // Half-way into the next window the previous 40 weigh about 20: admitted until then.
      await sleep(SLIDING_WINDOW_MS - (Date.now() % SLIDING_WINDOW_MS) + SLIDING_WINDOW_MS / 2);
      const from = (Date.now() % SLIDING_WINDOW_MS) / SLIDING_WINDOW_MS;
      let admitted = 0;
      for (let i = 0; ; i += 1) {
        const answer = await send(i);
        if (answer.status !== 200) break;
        admitted += 1;
      }
      expect(windowOf()).toBe(firstWindow + 1);
      const to = (Date.now() % SLIDING_WINDOW_MS) / SLIDING_WINDOW_MS;
      process.stdout.write(
        `${kind} sliding window: ${admitted} admitted at ${from.toFixed(2)}-${to.toFixed(2)} of the next window (estimate 40 x f)\n`,
      );
      // The estimate is previous x (1 - f) + current <= limit: current reaches 40 x f.
      expect(admitted).toBeGreaterThanOrEqual(Math.floor(40 * from) - 1);
      expect(admitted).toBeLessThanOrEqual(Math.ceil(40 * to) + 1);
    }, 60_000);

    it('GCRA: exactly the burst at once, not the rate', async () => {
      const answers = await burst(200, '/api/inventory/burst', freshIp());
      expect(passed(answers)).toBe(30);
    });

    it('several limits per route: the tightest decides, and a refused request consumes no quota of any', async () => {
      const ip = freshIp();
      const answers = await burst(60, '/api/inventory/two', ip);
      expect(passed(answers)).toBe(5);
      const keys = limitKeys(rateLimitKeyBuilder(prefix), route('two-limits'), [
        clientIdentity(undefined, ip),
        clientIdentity(undefined, ip),
      ]);
      // Both counters hold the 5 admitted requests, not the 55 refused ones.
      expect(await redis.get(keys[0])).toBe('5');
      expect(await redis.get(keys[1])).toBe('5');
    });

    it('cost-weighted requests: a route costing 10 of 100 admits exactly 10', async () => {
      const answers = await burst(60, '/api/inventory/costly', freshIp());
      expect(passed(answers)).toBe(10);
    });

    it('shadow mode admits everything and counts what it would have refused', async () => {
      const answers = await burst(20, '/api/inventory/shadow', freshIp(), 5);
      expect(passed(answers)).toBe(20);
      let shadowed = 0;
      for (const url of gateways.urls) {
        const metrics = (await call(`${url}/metrics`)).body;
        const match =
          /ratelimit_decisions_total\{policy="shadowed",result="shadow_limited"\} (\d+)/.exec(
            metrics,
          );
        shadowed += Number(match?.[1] ?? 0);
      }
      expect(shadowed).toBe(15);
    });

    it('concurrency: at most the limit in flight, slots freed on response and on client abort', async () => {
      const ip = freshIp();
      const slow = (i: number, signal?: AbortSignal) =>
        call(`${gateways.url(i)}/api/products/slow`, {
          headers: { 'x-forwarded-for': ip },
          signal,
        });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => slow(i)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
      const refusal = answers.find((a) => a.status === 429) as Answer;
      expect(JSON.parse(refusal.body).message).toMatch(/Concurrency limit of 3 requests in flight/);
      // Responses ended: all three slots are free again.
      const again = await Promise.all(Array.from({ length: 3 }, (_, i) => slow(i)));
      expect(again.map((a) => a.status)).toEqual([200, 200, 200]);

      // Three clients abort while upstream still works: their slots are freed at once, long
      // before the upstream would answer (3 s) or a lease would expire.
      const controller = new AbortController();
      const aborted = Array.from({ length: 3 }, (_, i) =>
        slow(i, controller.signal).catch(() => undefined),
      );
      await sleep(500);
      controller.abort();
      await Promise.all(aborted);
      await sleep(200);
      const started = Date.now();
      const afterAbort = await Promise.all(Array.from({ length: 3 }, (_, i) => slow(i)));
      expect(afterAbort.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(Date.now() - started).toBeLessThan(3000 + 2500);
    });

    it('concurrency: a SIGKILLed replica leaks no slot beyond the lease', async () => {
      const ip = freshIp();
      let doomed: ServiceProcess | undefined = await startServiceProcess(
        join(__dirname, '..', 'src', 'server.ts'),
        {
          NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
          ...topology.env,
          REDIS_KEY_PREFIX: prefix,
          PRODUCTS_URL: upstreamUrls.products.join(','),
          TRUST_PROXY: 'true',
          RATE_LIMIT_POLICIES: JSON.stringify(POLICY_DOCUMENT),
          // Decisions, not a loaded machine's slow answers turned into local fail-open ones.
          REDIS_COMMAND_TIMEOUT_MS: '5000',
          LOG_LEVEL: 'error',
        },
      );
      try {
        const held = Array.from({ length: 3 }, () =>
          call(`${doomed?.url}/api/products/hold`, { headers: { 'x-forwarded-for': ip } }).catch(
            () => undefined,
          ),
        );
        await until(
          'three leases held by the doomed replica',
          async () => {
            const probe = await call(`${gateways.url(0)}/api/products/fast`, {
              headers: { 'x-forwarded-for': ip },
            });
            return probe.status === 429 ? true : undefined;
          },
          10000,
        );
        await doomed.stop('SIGKILL');
        doomed = undefined;
        const killedAt = Date.now();
        await Promise.all(held);
        // Its slots stay held (nobody released them) ...
        const during = await call(`${gateways.url(1)}/api/products/fast`, {
          headers: { 'x-forwarded-for': ip },
        });
        expect(during.status).toBe(429);
        // ... until their lease expires: then they are free again.
        const freed = await until(
          'the dead replica leases to expire',
          async () => {
            const probe = await call(`${gateways.url(2)}/api/products/fast`, {
              headers: { 'x-forwarded-for': ip },
            });
            return probe.status === 200 ? Date.now() - killedAt : undefined;
          },
          LEASE_MS + 8000,
        );
        process.stdout.write(
          `${kind} concurrency: slots of a SIGKILLed replica free after ${freed} ms (lease ${LEASE_MS} ms)\n`,
        );
        expect(freed).toBeLessThan(LEASE_MS + 5000);
      } finally {
        await doomed?.stop('SIGKILL');
      }
    }, 60_000);
  },
);
