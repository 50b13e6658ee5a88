import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { buildApp } from '../src/app';
import { ApiKeyRegistry, apiKeyDigest } from '../src/rate-limit/api-key-registry';
import { DEFAULT_POLICIES, parsePolicies } from '../src/rate-limit/rate-limit-policy';
import {
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
import { closeGateways, startUpstreams, testConfig, type Upstream } from './gateway-harness';

/** An auth upstream that counts the logins it evaluates (every one reaching it is a guess). */
async function startCountingAuth(): Promise<{
  url: string;
  logins: () => number;
  close(): Promise<void>;
}> {
  let logins = 0;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/auth/login') logins += 1;
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(
        '{"statusCode":401,"code":"INVALID_CREDENTIALS","error":"Unauthorized","message":"no"}',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logins: () => logins,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const ISSUED = Array.from({ length: 6 }, (_, i) => `issued-key-${i}-0123456789abcdef`);
const apiKeys = ApiKeyRegistry.parse({
  keys: ISSUED.map((key, i) => ({ sha256: apiKeyDigest(key), consumer: `consumer-${i}` })),
});
/** Every limited route of this set, whose encoded and dot-segment variants must count the same. */
const policies = parsePolicies({
  default: { limit: 100, windowMs: 60_000 },
  routes: [
    ...DEFAULT_POLICIES.routes.map(({ name, method, path, limits, failMode }) => ({
      name,
      method,
      path,
      limits: limits.map(({ algorithm, limit, windowMs, by }) => ({
        algorithm,
        limit,
        windowMs,
        by,
      })),
      failMode,
    })),
    { name: 'reserve', method: 'POST', path: '/api/reservations', limit: 20, windowMs: 60_000 },
    { name: 'products', path: '/api/products/*', limit: 50, windowMs: 60_000 },
  ],
});

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: the login guard and path variants on %s',
  (kind) => {
    let topology: RedisTopology;
    let upstreams: Upstream[] = [];
    let auth: Awaited<ReturnType<typeof startCountingAuth>>;
    let gateways: Replicas<ServiceInstance>;
    let block = 0;
    const ipOf = (n: number) => `10.8.${block}.${n + 1}`;

    beforeAll(async () => {
      topology = await startTopology(kind);
      const started = await startUpstreams();
      upstreams = started.all;
      auth = await startCountingAuth();
      // One prefix for all three: the replicas share their counters.
      const prefix = uniquePrefix('gw');
      gateways = await startReplicas(3, () =>
        buildApp(
          testConfig({
            keyPrefix: prefix,
            upstreams: { ...started.urls, auth: [auth.url] },
            policies,
            apiKeys,
            redis: { ...topology.config, commandTimeoutMs: 5000 },
            upstreamTimeoutMs: 10000,
          }),
        ),
      );
    });
    beforeEach(() => {
      block += 1;
    });
    afterAll(async () => {
      await closeGateways(gateways);
      await auth?.close();
      await Promise.all(upstreams.map((u) => u.close()));
      await topology?.stop();
    });

    const login = (i: number, ip: string, username: string, key?: string) =>
      httpCall(gateways.url(i), 'POST', '/api/auth/login', {
        headers: {
          'content-type': 'application/json',
          'x-forwarded-for': ip,
          ...(key ? { 'x-api-key': key } : {}),
        },
        body: JSON.stringify({ username, password: 'guess' }),
      });

    it('60 parallel logins with invented keys: every one is 401 INVALID_API_KEY, none is evaluated', async () => {
      const before = auth.logins();
      const answers = await inParallel(60, 60, (i) =>
        login(i, ipOf(0), 'alice', `invented-${randomBytes(12).toString('hex')}`),
      );
      expect(auth.logins() - before).toBe(0);
      // They cost the caller's address quota (default 100/min): all 401 here, limited after.
      expect(answers.every((a) => a.status === 401)).toBe(true);
      expect(answers[0].body).toMatchObject({
        statusCode: 401,
        code: 'INVALID_API_KEY',
      });
    });

    it('60 parallel logins from one address with issued keys of six consumers: at most the per-address limit is evaluated', async () => {
      const before = auth.logins();
      const answers = await inParallel(60, 60, (i) =>
        login(i, ipOf(0), `user-${block}-${i % 20}`, ISSUED[i % ISSUED.length]),
      );
      const evaluated = auth.logins() - before;
      expect(evaluated).toBe(10);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(50);
    });

    it('guesses at one username from 60 addresses, whatever key: at most the per-username limit is evaluated', async () => {
      const before = auth.logins();
      const answers = await inParallel(60, 60, (i) =>
        login(i, ipOf(i), ` Target-${block} `, i % 2 ? ISSUED[i % ISSUED.length] : undefined),
      );
      expect(auth.logins() - before).toBe(5);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(55);
      // Another username from one of those addresses is still let through.
      expect((await login(0, ipOf(1), `other-${block}`)).status).toBe(401);
    });

    const variants = (path: string) => {
      const [, first, ...rest] = path.split('/');
      const last = rest.pop() as string;
      const encode = (segment: string) =>
        `%${segment.charCodeAt(0).toString(16)}${segment.slice(1)}`;
      return [
        `/${first}/${rest.join('/')}/${encode(last)}`,
        `/${encode(first)}/${rest.join('/')}/${last}`,
        `/${first}/${rest.join('/')}/./${last}`,
        `/${first}/x/../${rest.join('/')}/${last}`,
        `/${first}//${rest.join('/')}/${last}`,
        `/${first}/${rest.join('/')}/%2E/${last}`,
      ].map((variant) =>
        variant.replace(/\/\/+/g, (m, at: number) => (at === first.length + 1 ? m : '/')),
      );
    };

    it.each([
      ['POST', '/api/auth/login', 'login'],
      ['POST', '/api/reservations', 'reserve'],
      ['GET', '/api/products/7', 'products'],
    ])(
      'counts encoded and dot-segment variants of %s %s against %s',
      async (method, path, policy) => {
        const ip = ipOf(200);
        for (const variant of variants(path)) {
          const answer = await httpCall(gateways.url(0), method, variant, {
            headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
            body: method === 'GET' ? undefined : JSON.stringify({ username: `v-${block}` }),
          });
          expect([variant, answer.headers.get('ratelimit-policy')?.split(';')[0]]).toEqual([
            variant,
            `"${policy}"`,
          ]);
        }
      },
    );
  },
);
