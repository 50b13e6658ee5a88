// System benchmark: a mixed load through the gateway replicas of a local cluster, with the rate
// limiter on (GCRA, limits never reached) and off, plus the gateway's cost on one route against a
// direct call to the upstream. Writes bench-results/system.json (the same shape as the services').
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { httpLoad, ratio, writeBenchReport, type ScenarioResult } from '@redis-patterns/testkit';
import { GatewayClient, cookieOf } from './gateway-client';
import { startTestCluster, stopInstance, waitAllReady, type TestCluster } from './test-cluster';

const ROOT = join(__dirname, '..', '..', '..');

function load(
  scenario: string,
  url: string,
  requests: autocannon.Request[],
  seconds: number,
): Promise<ScenarioResult> {
  return httpLoad({ scenario, url, requests, connections: 16, durationSeconds: seconds });
}

/** Reads, a session check and a score write, in the proportions of a browsing user. */
function mixedRequests(cookies: string[]): autocannon.Request[] {
  let n = 0;
  const product = () => `/api/products/${1 + (n++ % 500)}`;
  return [
    { method: 'GET', setupRequest: (r) => ({ ...r, path: product() }) },
    { method: 'GET', setupRequest: (r) => ({ ...r, path: product() }) },
    { method: 'GET', setupRequest: (r) => ({ ...r, path: product() }) },
    {
      method: 'GET',
      path: '/api/auth/me',
      setupRequest: (r) => ({ ...r, headers: { cookie: cookies[n++ % cookies.length] } }),
    },
    { method: 'GET', path: '/api/leaderboards/bench/top?limit=10' },
    {
      method: 'POST',
      path: '/api/leaderboards/bench/scores',
      headers: { 'content-type': 'application/json' },
      setupRequest: (r) => ({
        ...r,
        body: JSON.stringify({ playerId: `p${n % 1000}`, score: n++ % 100000 }),
      }),
    },
  ];
}

async function setLimiting(cluster: TestCluster, enabled: boolean): Promise<void> {
  for (const gateway of cluster.instances.filter((i) => i.service === 'gateway-ratelimit')) {
    await stopInstance(gateway, 'SIGTERM', 30_000);
    gateway.env.RATE_LIMIT_ENABLED = String(enabled);
    await cluster.restart(gateway);
  }
  await waitAllReady(cluster, 60_000);
}

export async function runSystemBench(
  seconds: number,
  progress: (line: string) => void = () => undefined,
): Promise<string> {
  progress('starting the local cluster');
  const cluster = await startTestCluster();
  const scenarios: ScenarioResult[] = [];
  try {
    const gateways = cluster.instances.filter((i) => i.service === 'gateway-ratelimit');
    const client = new GatewayClient(cluster.gatewayUrl);
    // Several users, as in real traffic (one session hammered by every connection is not).
    const cookies: string[] = [];
    for (let i = 0; i < 16; i += 1) {
      const username = `bench_${Date.now()}_${i}`;
      await client.post('/api/auth/register', { username, password: 'bench-password-1' });
      cookies.push(
        cookieOf(await client.post('/api/auth/login', { username, password: 'bench-password-1' })),
      );
    }
    const requests = mixedRequests(cookies);
    const product = cluster.instances.find((i) => i.service === 'product-api-cache');
    const warm = async () => {
      for (let id = 1; id <= 500; id += 1) await client.get(`/api/products/${id}`);
    };
    await warm();

    progress('mixed load through the gateway, limiter on');
    const mixedOn = await Promise.all(
      gateways.map((g, i) => load(`mixed via gateway #${i}, limiter on`, g.url, requests, seconds)),
    );
    progress('GET product through the gateway, limiter on');
    scenarios.push(
      await load(
        'GET product via gateway, limiter on',
        gateways[0].url,
        [{ method: 'GET', path: '/api/products/7' }],
        seconds,
      ),
    );
    progress('GET product directly on product-api-cache (baseline)');
    scenarios.push(
      await load(
        'GET product direct to upstream',
        (product ?? gateways[0]).url,
        [{ method: 'GET', path: '/products/7' }],
        seconds,
      ),
    );

    progress('restarting the gateways with the limiter off');
    await setLimiting(cluster, false);
    await warm();
    progress('mixed load through the gateway, limiter off');
    const mixedOff = await Promise.all(
      gateways.map((g, i) =>
        load(`mixed via gateway #${i}, limiter off`, g.url, requests, seconds),
      ),
    );
    progress('GET product through the gateway, limiter off');
    scenarios.push(
      await load(
        'GET product via gateway, limiter off',
        gateways[0].url,
        [{ method: 'GET', path: '/api/products/7' }],
        seconds,
      ),
    );
    // On again after off, so the order (warm-up, JIT, data growth) does not favour either.
    progress('restarting the gateways with the limiter on again');
    await setLimiting(cluster, true);
    await warm();
    progress('mixed load through the gateway, limiter on (again)');
    const mixedOnAgain = await Promise.all(
      gateways.map((g, i) =>
        load(`mixed via gateway #${i}, limiter on (again)`, g.url, requests, seconds),
      ),
    );
    const combine = (name: string, parts: ScenarioResult[]): ScenarioResult => ({
      scenario: name,
      requests: parts.reduce((s, p) => s + p.requests, 0),
      rps: parts.reduce((s, p) => s + p.rps, 0),
      p50Ms: Math.max(...parts.map((p) => p.p50Ms)),
      p99Ms: Math.max(...parts.map((p) => p.p99Ms)),
      errors: parts.reduce((s, p) => s + p.errors, 0),
      non2xx: parts.reduce((s, p) => s + p.non2xx, 0),
    });
    scenarios.unshift(
      combine('mixed via 2 gateways, limiter on (first)', mixedOn),
      combine('mixed via 2 gateways, limiter off', mixedOff),
      combine('mixed via 2 gateways, limiter on (last)', mixedOnAgain),
    );
  } finally {
    await cluster.close();
  }
  const by = (name: string) => scenarios.find((s) => s.scenario === name) as ScenarioResult;
  const mixedOnBest = Math.max(
    by('mixed via 2 gateways, limiter on (first)').rps,
    by('mixed via 2 gateways, limiter on (last)').rps,
  );
  const mixedRatio = ratio(mixedOnBest, by('mixed via 2 gateways, limiter off').rps);
  writeBenchReport({
    service: 'system',
    scenarios,
    ratios: {
      'mixed: limiter on (better of first, last) / off (rps)': mixedRatio,
      'GET product: gateway limiter on / off (rps)': ratio(
        by('GET product via gateway, limiter on').rps,
        by('GET product via gateway, limiter off').rps,
      ),
      'GET product: via gateway (limiter on) / direct (rps)': ratio(
        by('GET product via gateway, limiter on').rps,
        by('GET product direct to upstream').rps,
      ),
    },
    targets: { 'limiter overhead <= 10% on the mixed load': mixedRatio >= 0.9 },
    notes: {
      topology: '6 services x 2 replicas as processes, Redis and PostgreSQL on the same machine',
      load: `autocannon, 16 connections per gateway replica, ${seconds} s per scenario, 127.0.0.1`,
      mix: '3 x GET product, GET /auth/me (16 users), GET top 10, POST score',
    },
  });
  return join(ROOT, 'bench-results', 'system.json');
}

if (require.main === module) {
  const seconds = Number(process.argv[2] ?? 8);
  runSystemBench(seconds, (line) => console.log(`  system: ${line}`)).then(
    (file) => console.log(`wrote ${file}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
