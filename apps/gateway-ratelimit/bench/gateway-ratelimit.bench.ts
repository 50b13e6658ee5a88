import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  httpLoad,
  ratio,
  spawnTracked,
  startRedis,
  startReplicas,
  startServiceProcess,
  stopChild,
  uniquePrefix,
  waitForPort,
  writeBenchReport,
  type ScenarioResult,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { defaultConfig, type AppConfig } from '../src/config';
import { parsePolicies, type Algorithm } from '../src/rate-limit/rate-limit-policy';

const SECONDS = 3;
/** Alternating rounds: every scenario once per round, in the same order. */
const ROUNDS = 5;
const CONNECTIONS = 20;
/** Debian's nginx (`apt-get install nginx-light`); the comparison is skipped without it. */
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

// The upstream runs in its own process so that neither it nor autocannon shares a CPU loop
// with the gateway under test.
const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ id: 1, name: 'product', price: 9.99 });
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const neverTriggering = (algorithm: Algorithm) =>
  JSON.stringify({ default: { limit: 1_000_000_000, windowMs: 60_000, algorithm } });
/** One route with two limits (a per-second GCRA and an hourly fixed window), never reached. */
const twoLimits = JSON.stringify({
  default: {
    limits: [
      { limit: 1_000_000_000, windowMs: 1000, algorithm: 'gcra' },
      { limit: 1_000_000_000, windowMs: 3_600_000, algorithm: 'fixed-window' },
    ],
  },
});

/** nginx as a reverse proxy to the upstream with keep-alive, as the gateway is configured. */
function startNginx(upstreamPort: number, port: number): { stop(): Promise<void> } | undefined {
  if (!NGINX) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  upstream products { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /api/products/ {
      proxy_pass http://products/products/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = spawnTracked(NGINX, [
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-g',
    'daemon off;',
  ]);
  return {
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function startGateway(
  redisUrl: string,
  upstream: string,
  env: Record<string, string>,
): Promise<ServiceProcess> {
  return startServiceProcess(join(__dirname, '..', 'src', 'server.ts'), {
    NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: uniquePrefix('bench-gw'),
    PRODUCTS_URL: upstream,
    LOG_LEVEL: 'warn',
    ADMIN_PORT: '0',
    ...env,
  });
}

/** CPU time (user + system, ms) a process has used so far, from /proc; 0 where unavailable. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

interface Target {
  scenario: string;
  url: string;
  /** The gateway process whose CPU per request is measured. */
  pid?: number;
}

/**
 * Every scenario warmed up once, then measured in ROUNDS alternating rounds (each round runs
 * every scenario once, in the same order), keeping every round: other processes share this
 * machine's cores, and alternating spreads their noise over all scenarios instead of one. Each
 * scenario reports its median round; ratios are the median of the per-round ratios (each pair
 * measured back to back), never a best run against another run. The gateway's CPU time per
 * request is recorded too, being less sensitive to that noise than throughput.
 */
async function alternating(targets: Target[]): Promise<Map<string, ScenarioResult[]>> {
  for (const { url } of targets) {
    await httpLoad({ scenario: 'warm-up', url, connections: CONNECTIONS, durationSeconds: 1 });
  }
  const rounds = new Map<string, ScenarioResult[]>(targets.map(({ scenario }) => [scenario, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const { scenario, url, pid } of targets) {
      const cpuBefore = cpuMs(pid);
      const result = await httpLoad({
        scenario,
        url,
        connections: CONNECTIONS,
        durationSeconds: SECONDS,
      });
      result.gatewayCpuUsPerRequest =
        pid === undefined
          ? 0
          : Math.round(((cpuMs(pid) - cpuBefore) * 1000) / Math.max(1, result.requests));
      rounds.get(scenario)?.push(result);
    }
  }
  return rounds;
}

/** The scenario's median round (by rps), with the median CPU per request. */
function medianRound(results: ScenarioResult[]): ScenarioResult {
  const sorted = [...results].sort((a, b) => a.rps - b.rps);
  return {
    ...sorted[Math.floor(sorted.length / 2)],
    gatewayCpuUsPerRequest: median(results.map((r) => Number(r.gatewayCpuUsPerRequest))),
    rounds: results.map((r) => r.rps).join(' '),
  };
}

/** The median over rounds of a.rps / b.rps, each round's pair measured back to back. */
function pairedRatio(a: ScenarioResult[], b: ScenarioResult[]): number {
  return ratio(median(a.map((one, i) => one.rps / Math.max(1, b[i].rps))) * 1000, 1000);
}

/** 1,000 requests round-robin over three in-process replicas, limit 100: how many pass. */
async function exactness(redisUrl: string, upstream: string, algorithm: Algorithm) {
  const config: AppConfig = {
    ...defaultConfig(),
    logLevel: 'silent',
    admin: { host: '127.0.0.1', port: 0 },
    redis: { url: redisUrl },
    keyPrefix: uniquePrefix('bench-gw'),
    upstreams: {
      products: [upstream],
      auth: [upstream],
      inventory: [upstream],
      leaderboard: [upstream],
      chat: [upstream],
    },
    upstreamTimeoutMs: 10_000,
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    rateLimitEnabled: true,
    policies: parsePolicies({ default: { limit: 100, windowMs: 3_600_000, algorithm } }),
  };
  const replicas = await startReplicas(3, () => buildApp(config));
  try {
    let next = 0;
    let admitted = 0;
    let limited = 0;
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        while (next < 1000) {
          const i = next;
          next += 1;
          const response = await fetch(`${replicas.url(i)}/api/products/1`);
          await response.arrayBuffer();
          if (response.status === 200) admitted += 1;
          else if (response.status === 429) limited += 1;
        }
      }),
    );
    return { admitted, limited };
  } finally {
    await replicas.close();
  }
}

async function main(): Promise<void> {
  const redis = await startRedis({ faults: true });
  const port = await freePort();
  const upstreamProcess = spawnTracked(process.execPath, ['-e', UPSTREAM], {
    env: { ...process.env, PORT: String(port) },
  });
  const upstream = `http://127.0.0.1:${port}`;
  const loadBefore = loadavg()[0];
  const scenarios: ScenarioResult[] = [];
  const gateways: ServiceProcess[] = [];
  let nginx: ReturnType<typeof startNginx>;
  try {
    await waitForPort(port, 10_000);
    const variants: Array<[string, Record<string, string>]> = [
      ['gateway: limiter off', { RATE_LIMIT_ENABLED: 'false' }],
      ['gateway: fixed window', { RATE_LIMIT_POLICIES: neverTriggering('fixed-window') }],
      ['gateway: GCRA', { RATE_LIMIT_POLICIES: neverTriggering('gcra') }],
      [
        'gateway: two limits (GCRA + fixed window, one script call)',
        { RATE_LIMIT_POLICIES: twoLimits },
      ],
    ];
    for (const [, env] of variants) gateways.push(await startGateway(redis.url, upstream, env));
    const nginxPort = await freePort();
    nginx = startNginx(port, nginxPort);
    if (nginx) await waitForPort(nginxPort, 10_000);
    const rounds = await alternating([
      { scenario: 'direct: GET upstream, no gateway', url: `${upstream}/products/1` },
      ...(nginx
        ? [{ scenario: 'nginx reverse proxy', url: `http://127.0.0.1:${nginxPort}/api/products/1` }]
        : []),
      ...variants.map(([scenario], i): Target => ({
        scenario,
        url: `${gateways[i].url}/api/products/1`,
        pid: gateways[i].child.pid,
      })),
    ]);
    scenarios.push(...[...rounds.values()].map(medianRound));
    const fixedRun = await exactness(redis.url, upstream, 'fixed-window');
    const gcraRun = await exactness(redis.url, upstream, 'gcra');

    const of = (name: string) => rounds.get(name) ?? [];
    const off = of('gateway: limiter off');
    const ratios: Record<string, number> = {
      'gateway off / direct (rps, median of rounds)': pairedRatio(
        off,
        of('direct: GET upstream, no gateway'),
      ),
      'fixed window / gateway off (rps, median of rounds)': pairedRatio(
        of('gateway: fixed window'),
        off,
      ),
      'GCRA / gateway off (rps, median of rounds)': pairedRatio(of('gateway: GCRA'), off),
      'two limits / gateway off (rps, median of rounds)': pairedRatio(
        of('gateway: two limits (GCRA + fixed window, one script call)'),
        off,
      ),
    };
    if (nginx)
      ratios['gateway off / nginx (rps, median of rounds)'] = pairedRatio(
        off,
        of('nginx reverse proxy'),
      );
    const targets: Record<string, boolean> = {
      'fixed window / off >= 0.9':
        ratios['fixed window / gateway off (rps, median of rounds)'] >= 0.9,
      'GCRA / off >= 0.9': ratios['GCRA / gateway off (rps, median of rounds)'] >= 0.9,
      'two limits / off >= 0.9': ratios['two limits / gateway off (rps, median of rounds)'] >= 0.9,
      'exactness: 3 replicas admit exactly 100 of 1000 (fixed window)': fixedRun.admitted === 100,
      'exactness: 3 replicas admit exactly 100 of 1000 (GCRA)': gcraRun.admitted === 100,
    };
    if (nginx)
      targets['gateway off / nginx >= 0.7'] =
        ratios['gateway off / nginx (rps, median of rounds)'] >= 0.7;
    writeBenchReport({
      service: 'gateway-ratelimit-bench',
      scenarios,
      ratios,
      targets,
      notes: {
        'exactness fixed window admitted / limited': `${fixedRun.admitted} / ${fixedRun.limited}`,
        'exactness GCRA admitted / limited': `${gcraRun.admitted} / ${gcraRun.limited}`,
        load: `${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s after a 1 s warm-up, one client (one hot key); scenario rows are each one's median round (all rounds in "rounds"), ratios the median of per-round ratios`,
        nginx: nginx
          ? `${NGINX}, 1 worker, keep-alive to the upstream`
          : 'not installed (apt-get install nginx-light): comparison skipped',
        processes: 'gateway and upstream each in its own process; autocannon in the bench process',
        'load average (1 min) before / after': `${loadBefore.toFixed(1)} / ${loadavg()[0].toFixed(1)}`,
      },
    });
  } finally {
    await nginx?.stop();
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await stopChild(upstreamProcess, 'SIGKILL');
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
