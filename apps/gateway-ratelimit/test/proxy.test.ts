import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { buildApp } from '../src/app';
import {
  httpCall,
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  gatewayMetrics,
  startUpstream,
  startUpstreams,
  testConfig,
  type Echo,
  type Upstream,
} from './gateway-harness';

/** A port on 127.0.0.1 that refuses connections (bound, then released). */
async function refusedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('gateway-ratelimit: the proxy', () => {
  let redis: RedisServer;
  let upstreams: Upstream[] = [];
  let gateways: Replicas<ServiceInstance>;
  let deadOnly: ServiceInstance | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    const started = await startUpstreams(2);
    const slowAuth = await startUpstream('auth-slow');
    upstreams = [...started.all, slowAuth];
    const dead = await refusedPort();
    const urls = {
      ...started.urls,
      // A refusing replica between two live ones: requests must skip it.
      products: [started.urls.products[0], dead, started.urls.products[1]],
    };
    gateways = await startReplicas(2, () =>
      buildApp(testConfig({ redis: redis.url, keyPrefix: uniquePrefix('gw'), upstreams: urls })),
    );
    deadOnly = await buildApp(
      testConfig({
        redis: redis.url,
        keyPrefix: uniquePrefix('gw'),
        upstreams: {
          ...urls,
          products: [dead],
          auth: [slowAuth.url],
        },
      }),
    );
  });
  afterAll(async () => {
    await gateways?.close();
    await deadOnly?.close();
    await Promise.all(upstreams.map((u) => u.close()));
    await redis?.stop();
  });

  const echoOf = (body: string) => JSON.parse(body) as Echo;

  it.each([
    ['/api/products/7?x=1', 'products', '/products/7?x=1'],
    ['/api/auth/session', 'auth', '/auth/session'],
    ['/api/inventory/sku-1', 'inventory', '/inventory/sku-1'],
    ['/api/reservations/r1', 'inventory', '/reservations/r1'],
    ['/api/leaderboards/global/top', 'leaderboard', '/leaderboards/global/top'],
    ['/api/players/p1/rank', 'leaderboard', '/players/p1/rank'],
    ['/socket.io/?EIO=4&transport=polling', 'chat', '/socket.io/?EIO=4&transport=polling'],
    ['/chat', 'chat', '/'],
    ['/chat/app.js', 'chat', '/app.js'],
  ])('proxies %s to %s as %s', async (path, service, upstreamPath) => {
    const answer = await httpCall(gateways.url(0), 'GET', path);
    expect(answer.status).toBe(200);
    expect(echoOf(answer.text)).toMatchObject({ service, url: upstreamPath });
  });

  it('balances round-robin and skips a replica that refuses connections', async () => {
    const served: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      const answer = await httpCall(gateways.url(0), 'GET', `/api/products/${i}`);
      expect(answer.status).toBe(200);
      served.push(echoOf(answer.text).replica);
    }
    expect(served.filter((r) => r === 0).length).toBeGreaterThanOrEqual(5);
    expect(served.filter((r) => r === 1).length).toBeGreaterThanOrEqual(5);
  });

  it('replays a POST/PUT body on the next replica when one refuses the connection', async () => {
    for (let i = 0; i < 6; i += 1) {
      const method = i % 2 ? 'PUT' : 'POST';
      const payload = JSON.stringify({ n: i, name: 'caf\u00e9' });
      const answer = await httpCall(gateways.url(i), method, `/api/products/${i}`, {
        headers: { 'content-type': 'application/json' },
        body: payload,
      });
      expect(answer.status).toBe(200);
      const echo = echoOf(answer.text);
      expect(echo.method).toBe(method);
      expect(JSON.parse(echo.body)).toEqual(JSON.parse(payload));
    }
    const raw = await httpCall(gateways.url(0), 'POST', '/api/products/raw', {
      headers: { 'content-type': 'application/octet-stream' },
      body: 'bytes as they are',
    });
    expect(raw.status).toBe(200);
    expect(echoOf(raw.text).body).toBe('bytes as they are');
  });

  it('passes request ids, sets X-Forwarded-For, leaves cookies and Set-Cookie alone', async () => {
    const answer = await httpCall(gateways.url(1), 'GET', '/api/auth/cookies', {
      headers: {
        'x-request-id': 'req-abc-123',
        cookie: 'sid=s%3Aabc; theme=dark',
        'x-forwarded-for': '198.51.100.7',
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBe('req-abc-123');
    expect(answer.headers.getSetCookie()).toEqual(['a=1; HttpOnly', 'b=2; Path=/']);
    const echo = echoOf(answer.text);
    expect(echo.headers['x-request-id']).toBe('req-abc-123');
    expect(echo.headers.cookie).toBe('sid=s%3Aabc; theme=dark');
    expect(echo.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');

    const generated = await httpCall(gateways.url(0), 'GET', '/api/auth/x');
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(echoOf(generated.text).headers['x-request-id']).toBe(id);
  });

  it('proxies a POST body unchanged', async () => {
    const answer = await httpCall(gateways.url(0), 'POST', '/api/reservations', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'a', qty: 2 }),
    });
    expect(answer.status).toBe(200);
    expect(echoOf(answer.text)).toMatchObject({ method: 'POST', body: '{"sku":"a","qty":2}' });
  });

  it('answers 502 when no replica accepts and 504 when the upstream is too slow', async () => {
    const down = await deadOnly!.inject({ url: '/api/products/1' });
    expect(down.statusCode).toBe(502);
    expect(down.json()).toEqual({
      statusCode: 502,
      code: 'BAD_GATEWAY',
      error: 'Bad Gateway',
      message: 'products is unavailable',
    });
    const started = Date.now();
    const slow = await deadOnly!.inject({ url: '/api/auth/slow' });
    expect(slow.statusCode).toBe(504);
    expect(slow.json()).toMatchObject({ statusCode: 504, code: 'GATEWAY_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(1000 + 1500);
  });

  it('proxies a WebSocket upgrade on /socket.io to the chat upstream', async () => {
    const ws = new WebSocket(
      `${gateways.url(1).replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) =>
        ws.once('message', (data) => resolve(String(data))),
      );
      ws.send('hello');
      await expect(reply).resolves.toBe('chat:/socket.io/?EIO=4&transport=websocket:hello');
    } finally {
      ws.terminate();
    }
  });

  it('refuses oversized headers (431) and bodies (413)', async () => {
    const headers = await httpCall(gateways.url(0), 'GET', '/api/products/1', {
      headers: { 'x-big': 'x'.repeat(20 * 1024) },
    });
    expect(headers.status).toBe(431);
    const body = await httpCall(gateways.url(0), 'POST', '/api/reservations', {
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(100 * 1024),
    });
    expect(body.status).toBe(413);
    expect(body.body).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('is ready, and reports upstream latency by upstream', async () => {
    expect((await httpCall(gateways.url(0), 'GET', '/health/ready')).status).toBe(200);
    const metrics = await gatewayMetrics(gateways.apps[0]);
    expect(metrics).toMatch(
      /gateway_upstream_duration_seconds_count\{upstream="products",outcome="response"\} \d+/,
    );
  });
});

describe('gateway-ratelimit: a replica that is shutting down', () => {
  let redis: RedisServer;
  let closing: Server;
  let busy: Server;
  let live: Upstream;
  let other: Upstream[] = [];
  let gateway: Replicas<ServiceInstance>;
  const seenByClosing: string[] = [];

  /** An upstream that answers every request with `status` and the error envelope `code`. */
  async function answering(status: number, code: string): Promise<Server> {
    const server = createHttpServer((request, response) => {
      seenByClosing.push(`${code} ${request.method ?? ''}`);
      request.resume();
      const body = JSON.stringify({ statusCode: status, code, error: 'x', message: code });
      response.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  }
  const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  beforeAll(async () => {
    redis = await startRedis();
    const started = await startUpstreams(1);
    other = started.all;
    live = await startUpstream('products', 1);
    closing = await answering(503, 'SHUTTING_DOWN');
    busy = await answering(503, 'DATABASE_UNAVAILABLE');
    gateway = await startReplicas(1, () =>
      buildApp(
        testConfig({
          redis: redis.url,
          keyPrefix: uniquePrefix('gw'),
          upstreams: {
            ...started.urls,
            products: [urlOf(closing), live.url],
            inventory: [urlOf(busy), live.url],
          },
        }),
      ),
    );
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([...other, live].map((u) => u.close()));
    await Promise.all([closing, busy].map((s) => new Promise((r) => s.close(r))));
    await redis?.stop();
  });

  it('replays a write that a replica answered SHUTTING_DOWN on the next one', async () => {
    for (let i = 0; i < 4; i += 1) {
      const answer = await httpCall(gateway.url(0), 'POST', `/api/products/${i}`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n: i }),
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ method: 'POST', body: `{"n":${i}}` });
    }
  });

  it('passes any other 503 on as it is, body included, without a replay', async () => {
    seenByClosing.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const answer = await httpCall(gateway.url(0), 'PUT', `/api/inventory/sku-${i}`, {
        body: '{}',
      });
      statuses.push(answer.status);
      if (answer.status === 503)
        expect(answer.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    }
    // Round-robin: half went to the replica that answered 503, and those were not replayed.
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    expect(seenByClosing).toEqual(['DATABASE_UNAVAILABLE PUT', 'DATABASE_UNAVAILABLE PUT']);
  });
});
