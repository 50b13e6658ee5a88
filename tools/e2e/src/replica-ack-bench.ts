// Replica-acknowledgement overhead: the same built services on a Sentinel group (writes that
// matter wait for one replica, `WAIT 1`) and on a standalone Redis (nothing to wait for), in one
// run, called directly (no gateway) on 127.0.0.1. Sessions (login + logout pairs, and the
// `GET /auth/me` read as a control), score submissions and chat messages; alternating rounds
// (standalone first, then Sentinel first, ...), the median of the rounds per side, and the ratio
// Sentinel / standalone. Writes bench-results/replica-ack.json (the shape of the services').
// Usage: replica-ack-bench.ts [seconds per measurement = 3] [rounds = 3]
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { Redis } from 'ioredis';
import {
  httpCall,
  httpLoad,
  percentile,
  ratio,
  startPostgres,
  startServiceProcess,
  startTopology,
  writeBenchReport,
  type PostgresServer,
  type RedisTopology,
  type ScenarioResult,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import { ChatMember } from './chat-client';
import { cookieOf } from './gateway-client';

const ROOT = join(__dirname, '..', '..', '..');
const CONNECTIONS = 8;
const CHAT_SENDERS = 8;
const PASSWORD = 'bench-password-1';

type Side = 'standalone' | 'sentinel';

interface Deployment {
  side: Side;
  topology: RedisTopology;
  auth: ServiceProcess;
  leaderboard: ServiceProcess;
  chat: ServiceProcess;
  users: string[];
  cookies: string[];
}

/** One measurement: throughput, latency, errors and the WAIT commands it caused per operation. */
interface Measurement {
  ops: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean latency: measured for chat; connections / throughput (Little's law) for HTTP. */
  meanMs: number;
  errors: number;
  non2xx: number;
  waitPerOp: number;
}

const server = (name: string) => join(ROOT, 'apps', name, 'dist', 'server.js');

/** `WAIT` calls so far on the node that is master now. */
async function waitCalls(topology: RedisTopology): Promise<number> {
  const master = await topology.master();
  const client = new Redis({
    host: master.host,
    port: master.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    commandTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const stats = await client.info('commandstats');
    return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  } finally {
    client.disconnect();
  }
}

async function deploy(side: Side, postgres: PostgresServer): Promise<Deployment> {
  const topology = await startTopology(side);
  const redis = topology.env;
  const auth = await startServiceProcess(server('auth-session'), {
    ...redis,
    NODE_ENV: 'development',
    DATABASE_URL: await postgres.createDatabase(),
    // The cheapest allowed password hash: the login measured is the session write, not scrypt.
    PASSWORD_SCRYPT_COST: '1024',
  });
  // Scores and chat history are also recorded in PostgreSQL (each its own database).
  const leaderboard = await startServiceProcess(server('game-leaderboard'), {
    ...redis,
    NODE_ENV: 'development',
    DATABASE_URL: await postgres.createDatabase(),
  });
  const chat = await startServiceProcess(server('chat-realtime'), {
    ...redis,
    NODE_ENV: 'development',
    AUTH_URL: auth.url,
    DATABASE_URL: await postgres.createDatabase(),
    CHAT_ALLOW_GUESTS: 'true',
    CHAT_RATE_LIMIT_MAX: '100000',
  });
  const users: string[] = [];
  const cookies: string[] = [];
  for (let i = 0; i < CONNECTIONS * 2; i += 1) {
    const username = `bench_${side}_${i}`;
    const body = { username, password: PASSWORD };
    const created = await httpCall(auth.url, 'POST', '/auth/register', { body });
    if (created.status !== 201) throw new Error(`register on ${side}: ${created.status}`);
    users.push(username);
    cookies.push(cookieOf(await httpCall(auth.url, 'POST', '/auth/login', { body })));
  }
  return { side, topology, auth, leaderboard, chat, users, cookies };
}

function headerValue(headers: Record<string, unknown>, name: string): string[] {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key ? headers[key] : undefined;
  return Array.isArray(value) ? value.map(String) : value ? [String(value)] : [];
}

/** Login + logout pairs: each connection logs in, then logs that session out. */
function sessionRequests(users: string[]): autocannon.Request[] {
  let n = 0;
  return [
    {
      method: 'POST',
      path: '/auth/login',
      headers: { 'content-type': 'application/json' },
      setupRequest: (request) => ({
        ...request,
        body: JSON.stringify({ username: users[n++ % users.length], password: PASSWORD }),
      }),
      onResponse: (_status, _body, context, headers) => {
        const cookie = headerValue(headers as Record<string, unknown>, 'set-cookie')
          .map((c) => c.split(';')[0])
          .join('; ');
        (context as { cookie?: string }).cookie = cookie;
      },
    },
    {
      method: 'POST',
      path: '/auth/logout',
      setupRequest: (request, context) => ({
        ...request,
        headers: { ...request.headers, cookie: (context as { cookie?: string }).cookie ?? '' },
      }),
    },
  ];
}

type ScenarioName =
  'session login + logout' | 'session check (read, control)' | 'score' | 'chat message';
const SCENARIOS: ScenarioName[] = [
  'session login + logout',
  'session check (read, control)',
  'score',
  'chat message',
];

async function http(
  url: string,
  requests: autocannon.Request[],
  seconds: number,
): Promise<ScenarioResult> {
  return httpLoad({
    scenario: 'run',
    url,
    requests,
    connections: CONNECTIONS,
    durationSeconds: seconds,
  });
}

/** Chat: CHAT_SENDERS members, each sending its next message when the last one is acknowledged. */
async function chatLoad(d: Deployment, seconds: number, round: string): Promise<ScenarioResult> {
  const room = `bench-${d.side}-${round}`;
  const members = Array.from(
    { length: CHAT_SENDERS },
    (_, i) => new ChatMember(d.chat.url, `bench-${round}-${i}`),
  );
  try {
    await Promise.all(members.map((m) => m.connected()));
    await Promise.all(members.map((m) => m.join(room)));
    const latencies: number[] = [];
    let errors = 0;
    const deadline = Date.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      members.map(async (member, i) => {
        let n = 0;
        while (Date.now() < deadline) {
          n += 1;
          const sent = performance.now();
          const ack = await member.send(room, `m${n}`, `${round}-${i}-${n}`);
          if (typeof ack.id === 'string' && !ack.error) latencies.push(performance.now() - sent);
          else errors += 1;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    return {
      scenario: 'run',
      requests: latencies.length + errors,
      rps: Math.round(latencies.length / elapsed),
      p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
      p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
      meanMs: latencies.length
        ? Math.round((latencies.reduce((a, b) => a + b, 0) / latencies.length) * 100) / 100
        : 0,
      errors,
      non2xx: 0,
    };
  } finally {
    for (const member of members) member.close();
  }
}

async function measure(
  d: Deployment,
  scenario: ScenarioName,
  seconds: number,
  round: string,
): Promise<Measurement> {
  const before = await waitCalls(d.topology);
  let result: ScenarioResult;
  switch (scenario) {
    case 'session login + logout':
      result = await http(d.auth.url, sessionRequests(d.users), seconds);
      break;
    case 'session check (read, control)': {
      let n = 0;
      result = await http(
        d.auth.url,
        [
          {
            method: 'GET',
            path: '/auth/me',
            setupRequest: (r) => ({ ...r, headers: { cookie: d.cookies[n++ % d.cookies.length] } }),
          },
        ],
        seconds,
      );
      break;
    }
    case 'score': {
      let n = 0;
      result = await http(
        d.leaderboard.url,
        [
          {
            method: 'POST',
            path: `/leaderboards/bench-${round}/scores`,
            headers: { 'content-type': 'application/json' },
            setupRequest: (r) => ({
              ...r,
              body: JSON.stringify({ playerId: `p${n % 1000}`, score: n++ % 100000 }),
            }),
          },
        ],
        seconds,
      );
      break;
    }
    case 'chat message':
      result = await chatLoad(d, seconds, round);
      break;
  }
  const after = await waitCalls(d.topology);
  return {
    ops: result.requests,
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    meanMs:
      typeof result.meanMs === 'number'
        ? result.meanMs
        : result.rps
          ? Math.round(((CONNECTIONS * 1000) / result.rps) * 100) / 100
          : 0,
    errors: result.errors,
    non2xx: result.non2xx,
    waitPerOp: result.requests ? Math.round(((after - before) / result.requests) * 100) / 100 : 0,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export async function runReplicaAckBench(
  seconds: number,
  rounds: number,
  progress: (line: string) => void = () => undefined,
): Promise<string> {
  // Each deployment gets exactly its topology's variables.
  for (const name of [
    'REDIS_URL',
    'REDIS_SENTINELS',
    'REDIS_SENTINEL_MASTER',
    'REDIS_CLUSTER_NODES',
  ])
    delete process.env[name];
  delete process.env.REDIS_REPLICA_ACKS;
  const postgres = await startPostgres({ faults: true });
  const deployments: Deployment[] = [];
  const results = new Map<string, Measurement[]>();
  try {
    for (const side of ['standalone', 'sentinel'] as Side[]) {
      progress(`starting Redis ${side} and auth-session, game-leaderboard, chat-realtime on it`);
      deployments.push(await deploy(side, postgres));
    }
    progress('warm-up, 1 s per scenario and side');
    for (const scenario of SCENARIOS)
      for (const d of deployments) await measure(d, scenario, 1, `warm-${d.side}`);
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? deployments : [...deployments].reverse();
      progress(`round ${round + 1}/${rounds}: ${order.map((d) => d.side).join(' then ')}`);
      for (const scenario of SCENARIOS) {
        for (const d of order) {
          const m = await measure(d, scenario, seconds, `r${round}-${d.side}`);
          const key = `${scenario}|${d.side}`;
          results.set(key, [...(results.get(key) ?? []), m]);
          progress(
            `  ${scenario} on ${d.side}: ${m.rps}/s, mean ${m.meanMs} ms, WAIT/op ${m.waitPerOp}`,
          );
        }
      }
    }
  } finally {
    for (const d of deployments) {
      await Promise.allSettled([d.chat.stop(), d.leaderboard.stop(), d.auth.stop()]);
      await d.topology.stop();
    }
    await postgres.stop();
  }

  const scenarios: ScenarioResult[] = [];
  const ratios: Record<string, number> = {};
  for (const scenario of SCENARIOS) {
    const side = (s: Side) => results.get(`${scenario}|${s}`) ?? [];
    for (const s of ['standalone', 'sentinel'] as Side[]) {
      const runs = side(s);
      scenarios.push({
        scenario: `${scenario} on ${s}`,
        requests: runs.reduce((sum, r) => sum + r.ops, 0),
        rps: median(runs.map((r) => r.rps)),
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        meanMs: median(runs.map((r) => r.meanMs)),
        errors: runs.reduce((sum, r) => sum + r.errors, 0),
        non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
        waitPerOp: median(runs.map((r) => r.waitPerOp)),
        roundsRps: runs.map((r) => r.rps).join(' / '),
      });
    }
    const rps = (s: Side) => median(side(s).map((r) => r.rps));
    const mean = (s: Side) => median(side(s).map((r) => r.meanMs));
    ratios[`${scenario}: Sentinel / standalone (rps, median of ${rounds})`] = ratio(
      rps('sentinel'),
      rps('standalone'),
    );
    ratios[`${scenario}: Sentinel / standalone (mean latency)`] = ratio(
      mean('sentinel'),
      mean('standalone'),
    );
  }
  const waits = (name: ScenarioName, s: Side) =>
    median((results.get(`${name}|${s}`) ?? []).map((r) => r.waitPerOp));
  const writes: ScenarioName[] = ['session login + logout', 'score', 'chat message'];
  writeBenchReport({
    service: 'replica-ack',
    scenarios,
    ratios,
    targets: {
      'every write on Sentinel waits for a replica (WAIT per operation >= 1)': writes.every(
        (name) => waits(name, 'sentinel') >= 1,
      ),
      'no WAIT on standalone': writes.every((name) => waits(name, 'standalone') === 0),
    },
    notes: {
      topologies:
        'standalone: one redis-server; Sentinel: 1 master + 2 replicas + 3 Sentinels (testkit), replica acks on by default (WAIT 1)',
      services:
        'one process each of auth-session (PASSWORD_SCRYPT_COST 1024), game-leaderboard, chat-realtime per topology, called directly on 127.0.0.1',
      load: `autocannon ${CONNECTIONS} connections (chat: ${CHAT_SENDERS} socket.io members, each waiting for its ack), ${seconds} s per measurement, ${rounds} alternating rounds, median`,
      'session login + logout':
        'one request in the count per login and per logout (pairs/s = rps / 2)',
      waitPerOp: 'WAIT commands counted on the master (INFO commandstats) per request or message',
      meanMs:
        "chat: measured per message; HTTP: connections / rps (Little's law, closed loop), since autocannon's percentiles are whole milliseconds",
    },
  });
  return join(ROOT, 'bench-results', 'replica-ack.json');
}

if (require.main === module) {
  const seconds = Number(process.argv[2] ?? 3);
  const rounds = Number(process.argv[3] ?? 3);
  runReplicaAckBench(seconds, rounds, (line) => console.log(`  replica-ack: ${line}`)).then(
    (file) => console.log(`wrote ${file}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
