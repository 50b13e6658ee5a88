import { Cluster } from 'ioredis';
import { buildApp } from '../src/app';
import { DECIDE_LUA } from '../src/rate-limit/rate-limit-scripts';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import { createRedis, waitForReady } from '@redis-patterns/redis-core';
import {
  delay,
  freePort,
  httpCall,
  inParallel,
  keySlot,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  until,
  type HttpAnswer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  gatewayMetrics,
  adminCommand,
  closeClient,
  closeGateways,
  gcraDecide,
  limiterKey,
  mastersOf,
  quantile,
  startUpstreams,
  testConfig,
  type Upstream,
} from './gateway-harness';

const COMMAND_TIMEOUT_MS = 500;
/** Generous for a loaded 2-core machine (load average 15-25 while other suites run); the measured figures are printed. */
const BOUND_MS = COMMAND_TIMEOUT_MS + 3000;
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

/** Every request of `answers` passed without a decision (fail-open) and in time. */
function expectFailOpen(answers: HttpAnswer[]) {
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-ratelimit-limit')).toBeNull();
    expect(answer.ms).toBeLessThan(BOUND_MS);
  }
}

function expectFailClosed(answer: HttpAnswer) {
  expect(answer.status).toBe(503);
  expect(answer.body).toMatchObject({
    statusCode: 503,
    code: 'RATE_LIMIT_UNAVAILABLE',
  });
  expect(answer.headers.get('retry-after')).toBe('1');
  expect(answer.ms).toBeLessThan(BOUND_MS);
}

const summary = (answers: HttpAnswer[]) => {
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  return `max ${Math.round(ms[ms.length - 1])} ms, median ${Math.round(ms[Math.floor(ms.length / 2)])} ms`;
};

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: when Redis stalls or dies on %s',
  (kind) => {
    let topology: RedisTopology;
    let prefix: string;
    let upstreams: Upstream[] = [];
    let upstreamUrls: Awaited<ReturnType<typeof startUpstreams>>['urls'];
    let gateways: Replicas<ServiceInstance>;
    let ipCounter = 0;
    const freshIp = () => `10.2.${Math.floor(ipCounter / 250) % 250}.${(ipCounter++ % 250) + 1}`;

    beforeAll(async () => {
      // Failure detection far beyond the test: a stalled master stays the master (no promotion),
      // which is "Redis away"; failovers have their own suite (failover.test.ts).
      topology = await startTopology(kind, { failureDetectionMs: 60000 });
      const started = await startUpstreams();
      upstreams = started.all;
      upstreamUrls = started.urls;
      prefix = uniquePrefix('gw');
      gateways = await startReplicas(2, () =>
        buildApp(
          testConfig({
            keyPrefix: prefix,
            upstreams: started.urls,
            policies,
            redis: { ...topology.config, commandTimeoutMs: COMMAND_TIMEOUT_MS },
          }),
        ),
      );
    });
    afterAll(async () => {
      await Promise.allSettled(topology?.servers.map((server) => server.resume()) ?? []);
      await closeGateways(gateways);
      await Promise.all(upstreams.map((u) => u.close()));
      await topology?.stop();
    });

    const login = (i: number, ip: string) =>
      httpCall(gateways.url(i), 'POST', '/api/auth/login', { headers: { 'x-forwarded-for': ip } });
    const both = (ip: string) =>
      inParallel(20, 10, (i) =>
        httpCall(gateways.url(i), 'GET', i % 2 ? '/api/players/1' : '/api/products/1', {
          headers: { 'x-forwarded-for': ip },
        }),
      );

    async function limitingWorks(ip: string) {
      const answers = [
        await login(0, ip),
        await login(1, ip),
        await login(0, ip),
        await login(1, ip),
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    }

    /** Until both gateways decide again for fresh clients of every shard. */
    async function waitUntilLimiting() {
      await until(
        'limiting on both gateways',
        async () => {
          const answers = await both(freshIp());
          return answers.every((a) => a.headers.get('x-ratelimit-limit')) ? true : undefined;
        },
        15000,
      );
    }

    it('fails open within the command timeout while every master is SIGSTOPped, fails closed with 503, and resumes after SIGCONT', async () => {
      await limitingWorks(freshIp());
      const masters = await mastersOf(topology);
      await Promise.all(masters.map((master) => master.pause()));
      let open: HttpAnswer[] = [];
      try {
        const ip = freshIp();
        open = await both(ip);
        expectFailOpen(open);
        expectFailClosed(await login(0, ip));
        // Fail-open design: readiness stays up once Redis has been ready.
        expect((await httpCall(gateways.url(1), 'GET', '/health/ready')).status).toBe(200);
        const metrics = await gatewayMetrics(gateways.apps[0]);
        expect(metrics).toMatch(
          /ratelimit_decisions_total\{policy="default",result="fail_open"\} [1-9]/,
        );
        expect(metrics).toMatch(
          /ratelimit_decisions_total\{policy="login",result="fail_closed"\} [1-9]/,
        );
      } finally {
        await Promise.all(masters.map((master) => master.resume()));
      }
      process.stdout.write(
        `${kind}, ${masters.length} paused master(s): fail-open answers ${summary(open)} (command timeout ${COMMAND_TIMEOUT_MS} ms)\n`,
      );
      await waitUntilLimiting();
      await limitingWorks(freshIp());
    });

    it('decides at once through the whole SIGSTOP once the circuit breaker has opened', async () => {
      await limitingWorks(freshIp());
      const masters = await mastersOf(topology);
      const ip = freshIp();
      const samples: { start: number; ms: number; status: number; login: boolean }[] = [];
      let running = true;
      const worker = async (w: number) => {
        for (let i = 0; running; i += 1) {
          const isLogin = i % 5 === 4;
          const start = performance.now();
          const answer = isLogin
            ? await login(w, ip)
            : // A fresh client each time: this measures decision time, and one client's
              // local limit (limit / replicas while open) is reached in a second on a quiet machine.
              await httpCall(gateways.url(w), 'GET', '/api/products/1', {
                headers: { 'x-forwarded-for': freshIp() },
              });
          samples.push({ start, ms: answer.ms, status: answer.status, login: isLogin });
        }
      };
      await Promise.all(masters.map((master) => master.pause()));
      let openedAt = 0;
      let openFor = 0;
      const workers = Array.from({ length: 12 }, (_, w) => worker(w));
      try {
        await until(
          'the breaker to open on both gateways',
          async () => {
            const open = await Promise.all(
              gateways.apps.map(async (app) =>
                /ratelimit_breaker_open 1/.test(await gatewayMetrics(app)),
              ),
            );
            return open.every(Boolean) ? true : undefined;
          },
          15000,
        );
        openedAt = performance.now();
        await delay(4000);
      } finally {
        running = false;
        await Promise.all(workers);
        openFor = performance.now() - openedAt;
        await Promise.all(masters.map((master) => master.resume()));
      }
      const afterOpen = samples.filter((s) => s.start > openedAt);
      const latencies = afterOpen.map((s) => s.ms);
      // The gateways' own decision times while the breaker was open (Redis not asked).
      let fast = 0;
      let nearly = 0;
      let all = 0;
      for (const app of gateways.apps) {
        const metrics = await gatewayMetrics(app);
        const bucket = (le: string) =>
          Number(
            new RegExp(
              `ratelimit_decision_duration_seconds_bucket\\{le="${le.replace('+', '\\+')}",redis="breaker_open"\\} (\\d+)`,
            ).exec(metrics)?.[1] ?? 0,
          );
        fast += bucket('0.005');
        nearly += bucket('0.025');
        all += bucket('+Inf');
      }
      process.stdout.write(
        `${kind}, breaker open during SIGSTOP: ${all} decisions without Redis, ${fast} within 5 ms, ${nearly} within 25 ms; HTTP answers after it opened: ${afterOpen.length}, p50 ${Math.round(quantile(latencies, 0.5))} ms, p99 ${Math.round(quantile(latencies, 0.99))} ms (the machine's own HTTP latency included)\n`,
      );
      expect(afterOpen.length).toBeGreaterThan(20);
      for (const sample of afterOpen) expect(sample.status).toBe(sample.login ? 503 : 200);
      // Without the breaker each decision would wait the command timeout (500 ms). Most take
      // under 5 ms; the p99 bound leaves room for event-loop stalls of a machine at load 15-25.
      // Every answer after the breaker opened was decided without Redis, except the half-open
      // probes: one per RATE_LIMIT_BREAKER_RESET_MS (1 s) per gateway, each sent to the paused
      // Redis (it fails in the command timeout, and the breaker opens again).
      const probes = gateways.apps.length * (Math.ceil(openFor / 1000) + 1);
      expect(all).toBeGreaterThanOrEqual(afterOpen.length - probes);
      expect(fast / all).toBeGreaterThanOrEqual(0.9);
      expect(nearly / all).toBeGreaterThanOrEqual(0.99);
      // No answer after the breaker opened waited a command timeout on top of its HTTP time.
      expect(quantile(latencies, 0.5)).toBeLessThan(COMMAND_TIMEOUT_MS);
      await waitUntilLimiting();
      await limitingWorks(freshIp());
    });

    it('fails open at once while every master is down, and limits again after they restart', async () => {
      const masters = await mastersOf(topology);
      await Promise.all(masters.map((master) => master.kill()));
      let open: HttpAnswer[] = [];
      try {
        const ip = freshIp();
        open = await both(ip);
        expectFailOpen(open);
        expectFailClosed(await login(1, ip));
      } finally {
        await Promise.all(masters.map((master) => master.start()));
      }
      process.stdout.write(`${kind}, master(s) down: fail-open answers ${summary(open)}\n`);
      await topology.converged();
      await waitUntilLimiting();
      await limitingWorks(freshIp());
    });

    it('answers a bug (a counter key of the wrong type) with 500, not with a silent fail-open', async () => {
      const ip = freshIp();
      const direct = createRedis({ ...topology.config, commandTimeoutMs: 2000 });
      try {
        await waitForReady(direct, 5000);
        await direct.lpush(limiterKey(prefix, 'gcra', 'players', ip), 'not a counter');
        const answer = await httpCall(gateways.url(0), 'GET', '/api/players/1', {
          headers: { 'x-forwarded-for': ip },
        });
        expect(answer.status).toBe(500);
        expect(answer.body).toMatchObject({ statusCode: 500 });
      } finally {
        await closeClient(direct);
      }
    });

    if (kind === 'sentinel') {
      it('answers READONLY (a client left on a replica) by the fail mode, never 500', async () => {
        const master = await topology.master();
        const replica = topology.servers.find((server) => server !== master) as RedisServer;
        const pinned = await startReplicas(1, () =>
          buildApp(
            testConfig({
              keyPrefix: uniquePrefix('gw'),
              upstreams: upstreamUrls,
              policies,
              redis: { url: replica.url, commandTimeoutMs: COMMAND_TIMEOUT_MS },
            }),
          ),
        );
        try {
          // What the replica answers the limiter's script. The gateway's client then reconnects
          // (redis-core's READONLY policy) and its resend fails at once (no offline queue).
          await expect(
            adminCommand(
              replica,
              'EVAL',
              DECIDE_LUA,
              1,
              'gw:readonly-probe',
              'gcra',
              10,
              1000,
              10,
              1,
              60000,
              '',
            ),
          ).rejects.toThrow(/^READONLY/);
          const ip = freshIp();
          const open = await inParallel(10, 5, (i) =>
            httpCall(pinned.url(0), 'GET', i % 2 ? '/api/players/1' : '/api/products/1', {
              headers: { 'x-forwarded-for': ip },
            }),
          );
          expectFailOpen(open);
          expectFailClosed(
            await httpCall(pinned.url(0), 'POST', '/api/auth/login', {
              headers: { 'x-forwarded-for': ip },
            }),
          );
          process.stdout.write(`sentinel, READONLY replica: fail-open answers ${summary(open)}\n`);
        } finally {
          await closeGateways(pinned);
        }
      });
    }

    if (kind === 'cluster') {
      it('answers a redirection storm (ASK/MOVED ping-pong on a migrating slot) by the fail mode, never 500', async () => {
        const ip = freshIp();
        const keys = [
          limiterKey(prefix, 'fixed-window', 'default', ip),
          limiterKey(prefix, 'gcra', 'players', ip),
          limiterKey(prefix, 'gcra', 'login', ip),
        ];
        const masters = await mastersOf(topology);
        const ids = new Map(
          await Promise.all(
            masters.map(
              async (m) => [m, String(await adminCommand(m, 'CLUSTER', 'MYID'))] as const,
            ),
          ),
        );
        // The owner says "ask the other node", which (not importing) answers MOVED back.
        const migrating: { owner: RedisServer; slot: number }[] = [];
        for (const key of keys) {
          const owner = await topology.master(key);
          const slot = keySlot(key);
          if (migrating.some((m) => m.slot === slot)) continue;
          const target = masters.find((m) => m !== owner) as RedisServer;
          await adminCommand(owner, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids.get(target) ?? '');
          migrating.push({ owner, slot });
        }
        const direct = createRedis({ ...topology.config, commandTimeoutMs: COMMAND_TIMEOUT_MS });
        try {
          await waitForReady(direct, 5000);
          expect(direct).toBeInstanceOf(Cluster);
          // 16 redirections; on a loaded machine they may outlast the command timeout first.
          await expect(gcraDecide(direct, keys[1], 10, 1000)).rejects.toThrow(
            /Too many Cluster redirections|Command timed out/,
          );
          const open = await both(ip);
          expectFailOpen(open);
          expectFailClosed(await login(0, ip));
          process.stdout.write(`cluster, redirection storm: fail-open answers ${summary(open)}\n`);
        } finally {
          for (const { owner, slot } of migrating) {
            await adminCommand(owner, 'CLUSTER', 'SETSLOT', slot, 'STABLE');
          }
          await closeClient(direct);
        }
        // The storm opened the breaker: limiting resumes once its probe finds Redis answering.
        await waitUntilLimiting();
        await limitingWorks(ip);
      });
    }
  },
);

describe('gateway-ratelimit: boot', () => {
  it('does not start without Redis: no unlimited window at boot', async () => {
    const port = await freePort();
    const config = testConfig({
      redis: `redis://127.0.0.1:${port}`,
      keyPrefix: uniquePrefix('gw'),
      upstreams: {
        products: ['http://127.0.0.1:1'],
        auth: ['http://127.0.0.1:1'],
        inventory: ['http://127.0.0.1:1'],
        leaderboard: ['http://127.0.0.1:1'],
        chat: ['http://127.0.0.1:1'],
      },
    });
    await expect(buildApp(config)).rejects.toThrow(/Cannot reach Redis/);
    // The refused client's last reconnect timer (at most 2 s) outlives its disconnect() while
    // it is `reconnecting` (ioredis); let it end so the test leaves nothing running.
    await delay(2100);
  });
});
