import { createSigner, createVerifier } from 'fast-jwt';
import {
  httpLoad,
  percentile,
  ratio,
  startReplicas,
  uniquePrefix,
  writeBenchReport,
  type ScenarioResult,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { call, registerAndLogin, startServers, testConfig } from '../test/harness';

const JWT_KEY = 'bench-jwt-key-0123456789abcdefghijklmnop';
const DURATION_S = 5;
const CONNECTIONS = 20;
const REVOKE_ROUNDS = 50;

async function main(): Promise<void> {
  const servers = await startServers();
  const verify = createVerifier({ key: JWT_KEY, algorithms: ['HS256'] });
  const prefix = uniquePrefix('auth-bench');
  const replicas = await startReplicas(2, async () => {
    const app = await buildApp(testConfig(servers.redis.url, servers.databaseUrl, prefix));
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
  try {
    const [a, b] = replicas.urls;
    const { username, cookie } = await registerAndLogin(a);
    const token = createSigner({ key: JWT_KEY, expiresIn: 3_600_000 })({
      sub: '1',
      name: username,
    });

    const jwtRoute = { url: `${a}/bench/jwt-me`, headers: { authorization: `Bearer ${token}` } };
    const sessionRoute = { url: `${a}/auth/me`, headers: { cookie: `sid=${cookie}` } };
    // Warm both paths up first (JIT, script cache, connection pools), so order does not decide.
    for (const route of [jwtRoute, sessionRoute]) {
      await httpLoad({
        scenario: 'warm-up',
        ...route,
        connections: CONNECTIONS,
        durationSeconds: 2,
      });
    }

    const scenarios: ScenarioResult[] = [];
    scenarios.push(
      await httpLoad({
        scenario: 'jwt GET /bench/jwt-me (baseline)',
        ...jwtRoute,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
      }),
    );
    scenarios.push(
      await httpLoad({
        scenario: 'redis session GET /auth/me',
        ...sessionRoute,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
      }),
    );
    const [jwt, session] = scenarios;

    // Revoke on A, then the very next request on B: how long until B refuses, and how many
    // requests it still accepted after the revoke was acknowledged (target: none).
    const revokeMs: number[] = [];
    let acceptedAfterRevoke = 0;
    for (let i = 0; i < REVOKE_ROUNDS; i += 1) {
      const login = await call(b, 'POST', '/auth/login', {
        body: { username, password: 'correct horse battery' },
      });
      const started = performance.now();
      const logout = await call(a, 'POST', '/auth/logout', { cookie: login.cookie });
      if (logout.status !== 204) throw new Error(`logout answered ${logout.status}`);
      const next = await call(b, 'GET', '/auth/me', { cookie: login.cookie });
      revokeMs.push(performance.now() - started);
      if (next.status !== 401) acceptedAfterRevoke += 1;
    }
    scenarios.push({
      scenario: 'revoke on A -> next request on B',
      requests: REVOKE_ROUNDS * 2,
      rps: 0,
      p50Ms: Math.round(percentile(revokeMs, 50) * 100) / 100,
      p99Ms: Math.round(percentile(revokeMs, 99) * 100) / 100,
      errors: 0,
      non2xx: 0,
      acceptedAfterRevoke,
    });

    writeBenchReport({
      service: 'auth-session',
      scenarios,
      ratios: {
        'session rps / jwt rps': ratio(session.rps, jwt.rps),
        'session p99 / jwt p99': ratio(session.p99Ms, jwt.p99Ms),
      },
      targets: {
        'revoked session refused on the very next request (0 accepted)': acceptedAfterRevoke === 0,
        'no errors under load': session.errors + session.non2xx + jwt.errors + jwt.non2xx === 0,
      },
      notes: {
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        revokeRounds: REVOKE_ROUNDS,
        setup: '2 replicas, load generator and a local redis-server on the same machine',
        jwtRevocation:
          'a JWT stays valid until it expires: revoke-to-rejection is its whole lifetime',
      },
    });
  } finally {
    await replicas.close();
    await servers.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
