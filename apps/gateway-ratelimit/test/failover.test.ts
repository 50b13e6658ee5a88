import { buildApp } from '../src/app';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import {
  delay,
  httpCall,
  inParallel,
  replicatedTopologiesUnderTest,
  startReplicas,
  startTopology,
  uniquePrefix,
  until,
  type FailoverResult,
  type RedisServer,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  adminCommand,
  closeGateways,
  limiterKey,
  mastersOf,
  pickAddresses,
  quantile,
  startLoad,
  startUpstreams,
  testConfig,
  type LoadClient,
  type Sample,
  type Upstream,
} from './gateway-harness';

const COMMAND_TIMEOUT_MS = 500;
/** No decision may take longer, failover or not: the command timeout, plus HTTP on a busy machine (load average 15-25). */
const HANG_BOUND_MS = COMMAND_TIMEOUT_MS + 3000;
/** Limits the load never reaches, so that every counted answer reports its counter. */
const FW_LIMIT = 1_000_000;
const GCRA_LIMIT = 20_000;
/** 31 days: one GCRA refill per 134 s, longer than a drill, so `remaining` is a pure count. */
const GCRA_WINDOW_MS = 31 * 24 * 3600 * 1000;

const policies = parsePolicies({
  default: { limit: 100, windowMs: 3_600_000 },
  routes: [
    {
      name: 'load-fw',
      path: '/api/products/*',
      limit: FW_LIMIT,
      windowMs: 3_600_000,
      algorithm: 'fixed-window',
    },
    { name: 'load-gcra', path: '/api/players/*', limit: GCRA_LIMIT, windowMs: GCRA_WINDOW_MS },
    {
      name: 'load-closed',
      path: '/api/auth/*',
      limit: FW_LIMIT,
      windowMs: 3_600_000,
      algorithm: 'fixed-window',
      failMode: 'closed',
    },
    {
      name: 'exact-fw',
      path: '/api/inventory/*',
      limit: 100,
      windowMs: 3_600_000,
      algorithm: 'fixed-window',
    },
    { name: 'exact-gcra', path: '/api/leaderboards/*', limit: 100, windowMs: 3_600_000 },
  ],
});

/** The loaded clients: one address, its three counters on the master the fault hits. */
const LOADED: { name: string; path: string; policy: string; failMode: 'open' | 'closed' }[] = [
  { name: 'fw', path: '/api/products/1', policy: 'load-fw', failMode: 'open' },
  { name: 'gcra', path: '/api/players/1', policy: 'load-gcra', failMode: 'open' },
  { name: 'closed', path: '/api/auth/session', policy: 'load-closed', failMode: 'closed' },
];
const LIMITS: Record<string, number> = { fw: FW_LIMIT, gcra: GCRA_LIMIT, closed: FW_LIMIT };

/** A drill waits for promotion, recovery and convergence (a demoted Sentinel master: ~10 s). */
const DRILL_TIMEOUT_MS = 120_000;

const kinds = replicatedTopologiesUnderTest();

interface Fault {
  result: FailoverResult;
  /** Undo the fault (restart the killed master, resume the partitioned one). */
  undo?: () => Promise<void>;
}

describe.each(kinds)('gateway-ratelimit: Redis failovers under steady load on %s', (kind) => {
  let topology: RedisTopology;
  let prefix: string;
  let upstreams: Upstream[] = [];
  let gateways: Replicas<ServiceInstance>;
  let block = 0;

  beforeAll(async () => {
    topology = await startTopology(kind);
    const started = await startUpstreams();
    upstreams = started.all;
    prefix = uniquePrefix('gw');
    gateways = await startReplicas(3, () =>
      buildApp(
        testConfig({
          keyPrefix: prefix,
          upstreams: started.urls,
          policies,
          redis: { ...topology.config, commandTimeoutMs: COMMAND_TIMEOUT_MS },
          upstreamTimeoutMs: 10000,
        }),
      ),
    );
  });
  afterAll(async () => {
    await closeGateways(gateways);
    await Promise.all(upstreams.map((u) => u.close()));
    await topology?.stop();
  });

  const keyOf = (policy: string, ip: string) =>
    limiterKey(prefix, policy === 'load-gcra' ? 'gcra' : 'fixed-window', policy, ip);

  /**
   * One fresh address per loaded client, each counter on the same master (`on`, or the first
   * one's). Not one address for all three: keys that differ only in the policy name have slots
   * a fixed CRC16 XOR apart, which for some prefixes never share a master.
   */
  async function loadedClients(
    on?: RedisServer,
  ): Promise<{ loaded: LoadClient[]; master: RedisServer }> {
    block += 1;
    const loaded: LoadClient[] = [];
    let master = on;
    for (const [i, c] of LOADED.entries()) {
      const [picked] = await pickAddresses(
        topology,
        1,
        (n) => `10.${30 + block}.${i}.${n + 1}`,
        (ip) => [keyOf(c.policy, ip)],
        master,
      );
      master = picked.master;
      loaded.push({ name: c.name, ip: picked.ip, path: c.path, failMode: c.failMode });
    }
    return { loaded, master: master as RedisServer };
  }

  /** The loaded clients, the key whose master the fault hits, and (Cluster) a control elsewhere. */
  async function clientsForDrill(): Promise<{
    loaded: LoadClient[];
    key: string;
    control?: LoadClient;
  }> {
    const { loaded, master } = await loadedClients();
    const key = keyOf('load-fw', loaded[0].ip);
    if (kind !== 'cluster') return { loaded, key };
    let control: LoadClient | undefined;
    for (let n = 0; !control; n += 1) {
      const candidate = `10.${60 + block}.0.${n + 1}`;
      if ((await topology.master(keyOf('load-fw', candidate))) !== master) {
        control = { name: 'control', ip: candidate, path: '/api/products/1', failMode: 'open' };
      }
    }
    return { loaded, key, control };
  }

  /** The counter Redis holds now for a loaded client, read through one more counted request. */
  async function counterNow(client: LoadClient): Promise<number> {
    const answer = await until(
      `a counted answer for ${client.name}`,
      async () => {
        const probe = await httpCall(gateways.url(0), 'GET', client.path, {
          headers: { 'x-forwarded-for': client.ip },
        });
        return probe.headers.get('x-ratelimit-remaining') === null ? undefined : probe;
      },
      10000,
    );
    // fixed window: remaining = limit - INCR; GCRA: remaining = limit - admitted (no refill yet).
    return LIMITS[client.name] - Number(answer.headers.get('x-ratelimit-remaining')) - 1;
  }

  /** A fresh client gets exactly the limit, counted by Redis, over all three replicas. */
  async function exactAgain() {
    for (const path of ['/api/inventory/x', '/api/leaderboards/x']) {
      const ip = `10.90.${block}.${path.length}`;
      const answers = await inParallel(300, 20, (i) =>
        httpCall(gateways.url(i), 'GET', path, { headers: { 'x-forwarded-for': ip } }),
      );
      const counted = answers.filter(
        (a) => a.status === 200 && a.headers.get('x-ratelimit-remaining') !== null,
      );
      expect(counted).toHaveLength(100);
      expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(190);
    }
  }

  function summary(name: string, samples: Sample[], since: number, promotedAt: number) {
    const mine = (client: string) => samples.filter((s) => s.client === client);
    const undecided = samples.filter((s) => s.client !== 'control' && !s.counted);
    const latencies = samples.map((s) => s.end - s.start);
    return {
      name,
      sent: samples.length,
      counted: samples.filter((s) => s.counted).length,
      failOpen: samples.filter((s) => s.status === 200 && !s.counted).length,
      failClosed: samples.filter((s) => s.code === 'RATE_LIMIT_UNAVAILABLE').length,
      undecidedMs: undecided.length
        ? Math.round(
            Math.max(...undecided.map((s) => s.end)) - Math.min(...undecided.map((s) => s.start)),
          )
        : 0,
      backAfterPromotionMs: undecided.length
        ? Math.max(0, Math.round(Math.max(...undecided.map((s) => s.end)) - promotedAt))
        : 0,
      promotedMs: Math.round(promotedAt - since),
      maxMs: Math.round(Math.max(...latencies)),
      p99Ms: Math.round(quantile(latencies, 0.99)),
      controlUndecided: mine('control').filter((s) => !s.counted).length,
      controlSent: mine('control').length,
    };
  }

  async function drill(name: string, fault: (key: string) => Promise<Fault>) {
    const { loaded, key, control } = await clientsForDrill();
    const load = startLoad(gateways.urls, control ? [...loaded, control] : loaded);
    const countedSince = (at: number) =>
      loaded.every((c) =>
        load.samples.some((s) => s.client === c.name && s.counted && s.start > at),
      )
        ? true
        : undefined;
    let samples: Sample[] = [];
    let since = 0;
    let promotedAt = 0;
    try {
      await until('counted decisions for every loaded client', async () => countedSince(0), 10000);
      await delay(500);
      since = performance.now();
      const { result, undo } = await fault(key);
      promotedAt = since + result.promotedMs;
      await until(
        'decisions to resume after the promotion',
        async () => countedSince(promotedAt),
        20000,
      );
      await delay(500);
      if (undo) await undo();
      await topology.converged();
      const convergedAt = performance.now();
      await until('decisions after convergence', async () => countedSince(convergedAt), 20000);
    } finally {
      samples = await load.stop();
    }

    // Counters are not WAITed for: what the promoted replica had not received is lost, and each
    // lost increment is one more request that client may send. Positive: lost; negative: Redis
    // counted more than the gateways saw (a timed-out command ioredis resent, applied after all).
    const lost: Record<string, { lost: number; counted: number; perSecond: number }> = {};
    const exposed: Record<string, number> = {};
    for (const client of loaded) {
      const mine = samples.filter((s) => s.client === client.name && s.counted);
      const before = mine.filter((s) => s.end < since);
      lost[client.name] = {
        lost: mine.length - (await counterNow(client)),
        counted: mine.length,
        perSecond: Math.round(before.length / ((since - before[0].start) / 1000)),
      };
      exposed[client.name] = mine.filter(
        (s) => s.start >= since && s.start <= promotedAt + 1000,
      ).length;
    }
    process.stdout.write(
      `${kind} ${JSON.stringify({ ...summary(name, samples, since, promotedAt), lost })}\n`,
    );

    // At most what was written between the fault and 1 s after the promotion is lost (a client
    // that stayed on the demoted master, as without ioredis' failover detector, loses far more).
    for (const client of loaded) {
      expect(lost[client.name].lost).toBeLessThanOrEqual(exposed[client.name]);
    }
    // Every answer is a decision, a fail-open pass or (fail-closed only) a 503; never a hang.
    for (const sample of samples) {
      const failMode = sample.client === 'closed' ? 'closed' : 'open';
      if (failMode === 'open') expect(sample.status).toBe(200);
      else if (sample.status !== 200) {
        expect(sample.status).toBe(503);
        expect(sample.code).toBe('RATE_LIMIT_UNAVAILABLE');
      }
      expect(sample.end - sample.start).toBeLessThan(HANG_BOUND_MS);
    }
    await exactAgain();
  }

  it(
    'forced failover: no hang, no 500, decisions resume after the promotion',
    async () => {
      await drill('forced failover', async (key) => ({ result: await topology.failover(key) }));
    },
    DRILL_TIMEOUT_MS,
  );

  it(
    'master SIGKILLed: no hang, no 500, decisions resume after the promotion',
    async () => {
      await drill('master SIGKILL', async (key) => {
        const result = await topology.killMaster(key);
        return { result, undo: result.restart };
      });
    },
    DRILL_TIMEOUT_MS,
  );

  it(
    'master partitioned (SIGSTOP) while a replica is promoted: no hang, no 500, decisions resume',
    async () => {
      await drill('partitioned master', async (key) => {
        const result = await topology.partitionMaster(key);
        return { result, undo: result.heal };
      });
    },
    DRILL_TIMEOUT_MS,
  );

  if (kind === 'cluster') {
    it(
      'answers CLUSTERDOWN (a shard without any node) by the fail mode, never 500',
      async () => {
        const masters = await mastersOf(topology);
        const [down, healthy] = masters;
        const replicaOfDown = (
          await Promise.all(
            topology.servers.map(async (server) => {
              const role = (await adminCommand(server, 'ROLE')) as unknown[];
              return role[0] === 'slave' && Number(role[2]) === down.port ? server : undefined;
            }),
          )
        ).find((server): server is RedisServer => server !== undefined);
        if (!replicaOfDown) throw new Error(`master ${down.port} has no replica`);
        const { loaded } = await loadedClients(healthy);
        await down.pause();
        await replicaOfDown.pause();
        try {
          await until(
            'cluster_state:fail on a healthy master',
            async () =>
              String(await adminCommand(healthy, 'CLUSTER', 'INFO')).includes('cluster_state:fail')
                ? true
                : undefined,
            15000,
          );
          await expect(
            adminCommand(healthy, 'GET', keyOf('load-fw', loaded[0].ip)),
          ).rejects.toThrow(/^CLUSTERDOWN/);
          const latencies: number[] = [];
          for (const client of loaded) {
            const answers = await inParallel(10, 5, (i) =>
              httpCall(gateways.url(i), 'GET', client.path, {
                headers: { 'x-forwarded-for': client.ip },
              }),
            );
            for (const answer of answers) {
              expect(answer.status).toBe(client.failMode === 'open' ? 200 : 503);
              expect(answer.headers.get('x-ratelimit-remaining')).toBeNull();
              expect(answer.ms).toBeLessThan(HANG_BOUND_MS);
            }
            latencies.push(...answers.map((a) => a.ms));
          }
          process.stdout.write(
            `cluster, CLUSTERDOWN: answers max ${Math.round(Math.max(...latencies))} ms, median ${Math.round(quantile(latencies, 0.5))} ms\n`,
          );
        } finally {
          await down.resume();
          await replicaOfDown.resume();
        }
        await until(
          'cluster_state:ok on every node',
          async () => {
            for (const server of topology.servers) {
              const info = String(await adminCommand(server, 'CLUSTER', 'INFO'));
              if (!info.includes('cluster_state:ok')) return undefined;
            }
            return true;
          },
          30000,
        );
        await topology.converged();
        await exactAgain();
      },
      DRILL_TIMEOUT_MS,
    );
  }
});
