import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  hostileInputTests,
  startRedis,
  uniquePrefix,
  type HostileExample,
  type RedisServer,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { ApiKeyRegistry, apiKeyDigest } from '../src/rate-limit/api-key-registry';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import { testConfig } from './gateway-harness';

const ISSUED_KEY = 'hostile-issued-key-0123456789';

// Generated from the gateway's own OpenAPI document (its probes; proxied routes belong to each
// service's document and suite), plus fixed hostile requests on the proxied surface. The state
// a refusal must leave unchanged is what reached an upstream. The Redis topology changes none
// of this: standalone is enough.
let redis: RedisServer;
let upstream: Server;
let forwarded = 0;
let app: ServiceInstance;
beforeAll(async () => {
  redis = await startRedis();
  upstream = createServer((request, response) => {
    forwarded += 1;
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      response.end('{}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  app = await buildApp(
    testConfig({
      redis: redis.url,
      keyPrefix: uniquePrefix('gw'),
      upstreams: {
        products: [url],
        auth: [url],
        inventory: [url],
        leaderboard: [url],
        chat: [url],
      },
      policies: parsePolicies({ default: { limit: 1_000_000, windowMs: 60_000 } }),
      apiKeys: ApiKeyRegistry.parse({
        keys: [{ sha256: apiKeyDigest(ISSUED_KEY), consumer: 'hostile-suite' }],
      }),
    }),
  );
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  await redis?.stop();
});

const refused = (
  name: string,
  url: string,
  status: number,
  headers: Record<string, string> = {},
): HostileExample => ({ name, method: 'GET', url, headers, status });

/** Issue 16's hostile client, and what the gateway must answer it without asking an upstream. */
const examples: HostileExample[] = [
  refused('X-Forwarded-For that is not an address', '/api/products/1', 400, {
    'x-forwarded-for': 'pick-my-bucket',
  }),
  refused('X-Forwarded-For with a port', '/api/products/1', 400, {
    'x-forwarded-for': '203.0.113.9:443',
  }),
  refused('a malformed API key', '/api/products/1', 400, { 'x-api-key': 'short' }),
  refused('two API keys', '/api/products/1', 400, {
    'x-api-key': `${ISSUED_KEY}, ${ISSUED_KEY}`,
  }),
  refused('an invented API key', '/api/products/1', 401, {
    'x-api-key': 'invented-key-0123456789abcdef',
  }),
  refused('broken percent-encoding', '/api/products/%zz', 400),
  refused('an encoded NUL', '/api/products/a%00', 400),
  refused('an upstream /metrics', '/chat/metrics', 404),
  refused('an encoded upstream /metrics', '/chat/%6Detrics', 404),
  refused('a dot-segment way to an upstream /docs', '/chat/x/../docs/json', 404),
  refused('an upstream health probe', '/chat/health/ready', 404),
  refused('no route', '/api/nothing-here', 404),
  refused('a traversal out of the API', '/api/../../etc/passwd', 404),
  {
    name: 'a declared body over BODY_LIMIT',
    method: 'POST',
    url: '/api/products',
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.alloc(64 * 1024 + 1),
    status: 413,
  },
  // Accepted and forwarded, never a 502: what undici refused before.
  {
    name: 'Keep-Alive, Upgrade: h2c and TE request headers',
    method: 'GET',
    url: '/api/products/1',
    headers: { 'keep-alive': 'timeout=5', upgrade: 'h2c', te: 'trailers', connection: 'upgrade' },
    status: 200,
  },
  {
    name: 'Expect: 100-continue',
    method: 'POST',
    url: '/api/products',
    headers: { expect: '100-continue', 'content-type': 'application/json' },
    payload: { priceCents: 1 },
    status: 200,
  },
  {
    name: 'an issued key, an encoded and dot-segment path',
    method: 'POST',
    url: '/api/auth/./%6Cogin',
    headers: { 'x-api-key': ISSUED_KEY, 'content-type': 'application/json' },
    payload: { username: 'a', password: 'b' },
    status: 200,
  },
];

describe('hostile input on every route of /docs/json and on the proxied surface', () => {
  hostileInputTests({
    suite: () => ({
      app,
      exclude: ['/metrics'],
      snapshot: async () => forwarded,
      examples,
      bodyLimit: 64 * 1024,
    }),
    refusal: 'reaches no upstream',
    coverage: { routes: ['GET /health/live', 'GET /health/ready'] },
  });
});
