import { loadavg } from 'node:os';
import { createSigner, createVerifier } from 'fast-jwt';
import {
  httpLoad,
  percentile,
  ratio,
  startReplicas,
  startTopology,
  uniquePrefix,
  writeBenchReport,
  type RedisTopology,
  type ScenarioResult,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { call, registerAndLogin, startDatabase, testConfig } from '../test/auth-harness';

const JWT_KEY = 'bench-jwt-key-0123456789abcdefghijklmnop';
const DURATION_S = 5;
const CONNECTIONS = 20;
const REVOKE_ROUNDS = 200;
/** Throughput rounds per route: JWT, cookie and bearer alternate, each round in a new order. */
const THROUGHPUT_ROUNDS = 7;
const ROUND_S = 3;
const PASSWORD = 'correct horse battery';

const ms = (values: number[], p: number) => Math.round(percentile(values, p) * 100) / 100;
const median = (values: number[]) => percentile(values, 50);

interface Route {
  name: string;
  url: string;
  headers: Record<string, string>;
}

/**
 * The three routes in alternating rounds (the order rotates every round), so drift in the
 * machine's load hits each alike; the medians over rounds are compared.
 */
async function alternatingRounds(routes: Route[]): Promise<Map<string, ScenarioResult[]>> {
  const results = new Map<string, ScenarioResult[]>(routes.map((route) => [route.name, []]));
  for (const route of routes) {
    // Warm every path up (JIT, pools), so order does not decide.
    await httpLoad({ scenario: 'warm-up', ...route, connections: CONNECTIONS, durationSeconds: 2 });
  }
  for (let round = 0; round < THROUGHPUT_ROUNDS; round += 1) {
    for (let i = 0; i < routes.length; i += 1) {
      const route = routes[(round + i) % routes.length];
      results.get(route.name)?.push(
        await httpLoad({
          scenario: route.name,
          url: route.url,
          headers: route.headers,
          connections: CONNECTIONS,
          durationSeconds: ROUND_S,
        }),
      );
    }
  }
  return results;
}

/** One row per route: total requests, median rps and latencies over the rounds. */
function medianRow(name: string, rounds: ScenarioResult[]): ScenarioResult {
  return {
    scenario: `${name} (median of ${rounds.length} rounds)`,
    requests: rounds.reduce((sum, r) => sum + r.requests, 0),
    rps: median(rounds.map((r) => r.rps)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
  };
}

/** Two replicas on `topology`, each also serving the JWT baseline route. */
function startBenchReplicas(topology: RedisTopology, databaseUrl: string) {
  const verify = createVerifier({ key: JWT_KEY, algorithms: ['HS256'] });
  const prefix = uniquePrefix('auth-bench');
  return startReplicas(2, async () => {
    const app = await buildApp(
      testConfig({ redis: topology.config, databaseUrl, keyPrefix: prefix }),
    );
    // The baseline: the same process, the same Fastify, a stateless token instead of a session.
    app.get('/bench/jwt-me', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      try {
        const claims = verify(header.replace(/^Bearer /, '')) as { sub: string; name: string };
        return { user: { id: claims.sub, username: claims.name } };
      } catch {
        return reply.code(401).send({ statusCode: 401, code: 'UNAUTHENTICATED' });
      }
    });
    return app;
  });
}

interface RoundTimes {
  loginMs: number[];
  revokeMs: number[];
  acceptedAfterRevoke: number;
}

/**
 * Login on B, logout on A, then the very next request on B: the login's latency, the time from
 * sending the logout until B answered, and whether B still accepted that request.
 */
async function revokeRound(urls: string[], username: string, times: RoundTimes): Promise<void> {
  const [a, b] = urls;
  const login = await call(b, 'POST', '/auth/login', { body: { username, password: PASSWORD } });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  times.loginMs.push(login.ms);
  const started = performance.now();
  const logout = await call(a, 'POST', '/auth/logout', { cookie: login.cookie });
  if (logout.status !== 204) throw new Error(`logout answered ${logout.status}`);
  const next = await call(b, 'GET', '/auth/me', { cookie: login.cookie });
  times.revokeMs.push(performance.now() - started);
  if (next.status !== 401) times.acceptedAfterRevoke += 1;
}

function roundRows(times: RoundTimes, label: string): ScenarioResult[] {
  const row = { requests: REVOKE_ROUNDS, rps: 0, errors: 0, non2xx: 0 };
  return [
    {
      scenario: `login (${label})`,
      ...row,
      p50Ms: ms(times.loginMs, 50),
      p99Ms: ms(times.loginMs, 99),
    },
    {
      scenario: `revoke on A -> next request on B (${label})`,
      ...row,
      requests: REVOKE_ROUNDS * 2,
      p50Ms: ms(times.revokeMs, 50),
      p99Ms: ms(times.revokeMs, 99),
      acceptedAfterRevoke: times.acceptedAfterRevoke,
    },
  ];
}

async function sessionLoad(url: string, cookie: string, label: string): Promise<ScenarioResult> {
  const route = { url: `${url}/auth/me`, headers: { cookie: `sid=${cookie}` } };
  await httpLoad({ scenario: 'warm-up', ...route, connections: CONNECTIONS, durationSeconds: 2 });
  return httpLoad({
    scenario: `redis session GET /auth/me (${label})`,
    ...route,
    connections: CONNECTIONS,
    durationSeconds: DURATION_S,
  });
}

async function main(): Promise<void> {
  // Other work on the machine decides the absolute numbers; the report says how much there was.
  const loadBefore = loadavg()[0];
  const stopDatabase: Array<() => unknown> = [];
  const database = await startDatabase((step) => stopDatabase.push(step));
  const standalone = await startTopology('standalone');
  const replicas = await startBenchReplicas(standalone, database.url);
  let sentinel: RedisTopology | undefined;
  let onSentinel: Awaited<ReturnType<typeof startBenchReplicas>> | undefined;
  try {
    const [a] = replicas.urls;
    const { username, cookie } = await registerAndLogin(a, undefined, PASSWORD);
    const token = createSigner({ key: JWT_KEY, expiresIn: 3_600_000 })({
      sub: '1',
      name: username,
    });

    const bearerToken = (
      await call(a, 'POST', '/auth/login', { body: { username, password: PASSWORD, token: true } })
    ).body?.token;
    if (typeof bearerToken !== 'string') throw new Error('no token login');
    const JWT = 'jwt GET /bench/jwt-me (baseline)';
    const COOKIE = 'redis session GET /auth/me, cookie (standalone)';
    const BEARER = 'redis session GET /auth/me, bearer token (standalone)';
    const rounds = await alternatingRounds([
      { name: JWT, url: `${a}/bench/jwt-me`, headers: { authorization: `Bearer ${token}` } },
      { name: COOKIE, url: `${a}/auth/me`, headers: { cookie: `sid=${cookie}` } },
      { name: BEARER, url: `${a}/auth/me`, headers: { authorization: `Bearer ${bearerToken}` } },
    ]);
    const jwtRounds = rounds.get(JWT) ?? [];
    const cookieRounds = rounds.get(COOKIE) ?? [];
    const bearerRounds = rounds.get(BEARER) ?? [];
    const jwt = medianRow(JWT, jwtRounds);
    const session = medianRow(COOKIE, cookieRounds);
    const bearerSession = medianRow(BEARER, bearerRounds);
    // Each round's session rps over the JWT rps of the same round.
    const perRound = (mine: ScenarioResult[]) =>
      mine.map((r, i) => ratio(r.rps, jwtRounds[i]?.rps ?? 0));

    // The same service on Sentinel: logins and logouts wait for a replica (WAIT 1), use does not.
    sentinel = await startTopology('sentinel');
    onSentinel = await startBenchReplicas(sentinel, database.url);
    const sentinelCookie = (
      await call(onSentinel.url(0), 'POST', '/auth/login', {
        body: { username, password: PASSWORD },
      })
    ).cookie;
    if (!sentinelCookie) throw new Error('no login on Sentinel');
    const sentinelSession = await sessionLoad(onSentinel.url(0), sentinelCookie, 'sentinel');

    // Rounds alternate between the two, so drift in the machine's load hits both alike.
    const onStandalone: RoundTimes = { loginMs: [], revokeMs: [], acceptedAfterRevoke: 0 };
    const onReplicated: RoundTimes = { loginMs: [], revokeMs: [], acceptedAfterRevoke: 0 };
    for (let i = 0; i < REVOKE_ROUNDS; i += 1) {
      await revokeRound(replicas.urls, username, onStandalone);
      await revokeRound(onSentinel.urls, username, onReplicated);
    }
    const [login, revoke] = roundRows(onStandalone, 'standalone');
    const [sentinelLogin, sentinelRevoke] = roundRows(onReplicated, 'sentinel');

    const scenarios = [
      jwt,
      session,
      bearerSession,
      login,
      revoke,
      sentinelSession,
      sentinelLogin,
      sentinelRevoke,
    ];
    const cookieRatios = perRound(cookieRounds);
    const bearerRatios = perRound(bearerRounds);
    writeBenchReport({
      service: 'auth-session-bench',
      scenarios,
      ratios: {
        'session rps / jwt rps': ratio(session.rps, jwt.rps),
        'session rps / jwt rps, median of per-round ratios': median(cookieRatios),
        'session rps / jwt rps, best round': Math.max(...cookieRatios),
        'bearer session rps / jwt rps': ratio(bearerSession.rps, jwt.rps),
        'bearer session rps / jwt rps, best round': Math.max(...bearerRatios),
        'session p99 / jwt p99': ratio(session.p99Ms, jwt.p99Ms),
        'session rps: sentinel / standalone': ratio(sentinelSession.rps, session.rps),
        'login p50: sentinel (WAIT 1) / standalone': ratio(sentinelLogin.p50Ms, login.p50Ms),
        'revoke p50: sentinel (WAIT 1) / standalone': ratio(sentinelRevoke.p50Ms, revoke.p50Ms),
        'revoke p99: sentinel (WAIT 1) / standalone': ratio(sentinelRevoke.p99Ms, revoke.p99Ms),
      },
      goals: [{ ratio: 'session rps / jwt rps', atLeast: 0.8 }],
      targets: {
        'revoked session refused on the very next request (0 accepted)':
          revoke.acceptedAfterRevoke === 0 && sentinelRevoke.acceptedAfterRevoke === 0,
        'no errors under load':
          [jwt, session, bearerSession, sentinelSession].reduce(
            (sum, r) => sum + r.errors + r.non2xx,
            0,
          ) === 0,
      },
      notes: {
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        loadAverageBefore: Math.round(loadBefore * 10) / 10,
        loadAverageAfter: Math.round(loadavg()[0] * 10) / 10,
        throughputRounds: THROUGHPUT_ROUNDS,
        roundSeconds: ROUND_S,
        sessionPerRoundRatios: cookieRatios.join(' '),
        bearerPerRoundRatios: bearerRatios.join(' '),
        revokeRounds: REVOKE_ROUNDS,
        setup:
          '2 replicas, load generator and local redis-servers (standalone; Sentinel: master, 2 replicas, 3 Sentinels) on the same machine',
        jwtRevocation:
          'a JWT stays valid until it expires: revoke-to-rejection is its whole lifetime',
      },
    });
  } finally {
    await onSentinel?.close();
    await replicas.close();
    await Promise.allSettled([
      sentinel?.stop(),
      standalone.stop(),
      ...stopDatabase.map((step) => step()),
    ]);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
