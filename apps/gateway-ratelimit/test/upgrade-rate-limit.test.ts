import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { buildApp } from '../src/app';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import {
  httpCall,
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { closeGateways, startUpstreams, testConfig, type Upstream } from './gateway-harness';

/** 31 days: a slow run cannot see the window roll over. */
const MONTH_MS = 31 * 24 * 3600 * 1000;
const SOCKET_LIMIT = 5;
const policies = parsePolicies({
  default: { limit: 1000, windowMs: 60000, algorithm: 'fixed-window' },
  routes: [
    {
      name: 'sockets-closed',
      path: '/socket.io/closed/*',
      limit: 1000,
      windowMs: MONTH_MS,
      algorithm: 'fixed-window',
      failMode: 'closed',
    },
    {
      name: 'sockets',
      path: '/socket.io/*',
      limit: SOCKET_LIMIT,
      windowMs: MONTH_MS,
      algorithm: 'fixed-window',
    },
  ],
});

interface Upgraded {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  socket?: WebSocket;
}

/** One WebSocket upgrade through the gateway: 101 with its open socket, or the refusal. */
function upgrade(url: string, ip: string): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { 'x-forwarded-for': ip } });
    let headers: IncomingHttpHeaders = {};
    socket.once('upgrade', (response) => (headers = response.headers));
    socket.once('open', () => resolve({ status: 101, headers, body: '', socket }));
    socket.once('unexpected-response', (request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        request.destroy();
      });
    });
    socket.on('error', reject);
  });
}

function echoOnce(socket: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) =>
    socket.once('message', (data) => resolve(String(data))),
  );
  socket.send(text);
  return reply;
}

describe('gateway-ratelimit: WebSocket upgrades are rate-limited like requests', () => {
  let redis: RedisServer;
  let closedRedis: RedisServer;
  let upstreams: Upstream[] = [];
  let chat: Server;
  let chatConnections = 0;
  let gateways: Replicas<ServiceInstance>;
  let failClosed: Replicas<ServiceInstance>;
  const wsUrl = (replicas: Replicas<ServiceInstance>, i: number, path: string) =>
    `${replicas.url(i).replace('http', 'ws')}${path}`;

  beforeAll(async () => {
    [redis, closedRedis] = await Promise.all([startRedis(), startRedis({ faults: true })]);
    const started = await startUpstreams(1);
    upstreams = started.all;
    // The chat upstream counts the WebSockets it was handed: a refused upgrade never gets there.
    chat = createServer((_request, response) => response.end('{}'));
    const wss = new WebSocketServer({ server: chat });
    wss.on('connection', (socket) => {
      chatConnections += 1;
      socket.on('message', (data) => socket.send(`chat:${String(data)}`));
    });
    await new Promise<void>((resolve) => chat.listen(0, '127.0.0.1', resolve));
    const urls = {
      ...started.urls,
      chat: [`http://127.0.0.1:${(chat.address() as AddressInfo).port}`],
    };
    const prefix = uniquePrefix('gw-ws');
    gateways = await startReplicas(2, () =>
      buildApp(
        testConfig({
          redis: redis.url,
          keyPrefix: prefix,
          upstreams: urls,
          policies,
          rateLimitReplicas: 2,
        }),
      ),
    );
    failClosed = await startReplicas(1, () =>
      buildApp(
        testConfig({
          redis: closedRedis.url,
          keyPrefix: uniquePrefix('gw-ws-closed'),
          upstreams: urls,
          policies,
        }),
      ),
    );
  });
  afterAll(async () => {
    await closeGateways(gateways);
    await closeGateways(failClosed);
    await Promise.all(upstreams.map((u) => u.close()));
    chat?.closeAllConnections();
    await new Promise((resolve) => chat?.close(resolve));
    await closedRedis?.resume().catch(() => {});
    await Promise.all([redis?.stop(), closedRedis?.stop()]);
  });

  it('admits exactly the limit of upgrades across two replicas, the rest 429 with RateLimit headers and never proxied', async () => {
    const before = chatConnections;
    const attempts = 4 * SOCKET_LIMIT;
    const answers = await Promise.all(
      Array.from({ length: attempts }, (_, i) =>
        upgrade(wsUrl(gateways, i % 2, '/socket.io/?EIO=4&transport=websocket'), '10.16.0.1'),
      ),
    );
    try {
      const admitted = answers.filter((answer) => answer.status === 101);
      const refused = answers.filter((answer) => answer.status !== 101);
      expect(admitted).toHaveLength(SOCKET_LIMIT);
      expect(refused).toHaveLength(attempts - SOCKET_LIMIT);
      for (const answer of admitted) {
        expect(answer.headers['ratelimit-policy']).toBe(
          `"sockets";q=${SOCKET_LIMIT};w=${MONTH_MS / 1000}`,
        );
        await expect(echoOnce(answer.socket as WebSocket, 'hi')).resolves.toBe('chat:hi');
      }
      for (const answer of refused) {
        expect(answer.status).toBe(429);
        expect(answer.headers['ratelimit-policy']).toBe(
          `"sockets";q=${SOCKET_LIMIT};w=${MONTH_MS / 1000}`,
        );
        expect(answer.headers['ratelimit']).toMatch(/^"sockets";r=0;t=\d+$/);
        expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
      }
      // Only the admitted upgrades reached the upstream.
      expect(chatConnections - before).toBe(SOCKET_LIMIT);
    } finally {
      for (const answer of answers) answer.socket?.terminate();
    }
  });

  it('counts upgrades and HTTP requests of the same path against one policy', async () => {
    const ip = '10.16.0.2';
    for (let i = 0; i < SOCKET_LIMIT - 1; i += 1) {
      const answer = await httpCall(
        gateways.url(i % 2),
        'GET',
        '/socket.io/?EIO=4&transport=polling',
        { headers: { 'x-forwarded-for': ip } },
      );
      expect(answer.status).toBe(200);
    }
    const last = await upgrade(wsUrl(gateways, 0, '/socket.io/?EIO=4&transport=websocket'), ip);
    last.socket?.terminate();
    expect(last.status).toBe(101);
    const over = await upgrade(wsUrl(gateways, 1, '/socket.io/?EIO=4&transport=websocket'), ip);
    over.socket?.terminate();
    expect(over.status).toBe(429);
    const http = await httpCall(gateways.url(0), 'GET', '/socket.io/?EIO=4&transport=polling', {
      headers: { 'x-forwarded-for': ip },
    });
    expect(http.status).toBe(429);
  });

  it('answers 503 to an upgrade under a fail-closed policy while Redis cannot decide, and proxies none', async () => {
    const before = chatConnections;
    const open = await upgrade(wsUrl(failClosed, 0, '/socket.io/closed/?EIO=4'), '10.16.0.3');
    open.socket?.terminate();
    expect(open.status).toBe(101);
    await closedRedis.pause();
    try {
      // The first waits for the command timeout (or opens the breaker); later ones fail at once.
      for (let i = 0; i < 3; i += 1) {
        const answer = await upgrade(wsUrl(failClosed, 0, '/socket.io/closed/?EIO=4'), '10.16.0.3');
        answer.socket?.terminate();
        expect(answer.status).toBe(503);
        expect(answer.headers['retry-after']).toBe('1');
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'RATE_LIMIT_UNAVAILABLE' });
      }
    } finally {
      await closedRedis.resume();
    }
    expect(chatConnections - before).toBe(1);
  });
});
