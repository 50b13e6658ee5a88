import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { AppConfig, UpstreamUrls } from '../src/config';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';

/** What the echo upstream answers: who served it and what it received. */
export interface Echo {
  service: string;
  replica: number;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP (and WebSocket echo) upstream on a free port of 127.0.0.1. */
export interface Upstream {
  url: string;
  close(): Promise<void>;
}

/**
 * An upstream that echoes each request as JSON; `/slow` answers after 3 s, `/cookies` sets two
 * cookies, and WebSocket messages are echoed back prefixed with the service name.
 */
export async function startUpstream(service: string, replica = 0): Promise<Upstream> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const echo: Echo = {
        service,
        replica,
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const send = () => {
        if (request.url?.endsWith('/cookies')) {
          response.setHeader('set-cookie', ['a=1; HttpOnly', 'b=2; Path=/']);
        }
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(echo));
      };
      if (request.url?.endsWith('/slow')) setTimeout(send, 3000).unref();
      else send();
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, request) => {
    socket.on('message', (data) => socket.send(`${service}:${request.url}:${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One upstream per service (products gets `productReplicas`). */
export async function startUpstreams(productReplicas = 1): Promise<{
  urls: UpstreamUrls;
  all: Upstream[];
}> {
  const products = await Promise.all(
    Array.from({ length: productReplicas }, (_, i) => startUpstream('products', i)),
  );
  const [auth, inventory, leaderboard, chat] = await Promise.all(
    ['auth', 'inventory', 'leaderboard', 'chat'].map((name) => startUpstream(name)),
  );
  return {
    urls: {
      products: products.map((p) => p.url),
      auth: [auth.url],
      inventory: [inventory.url],
      leaderboard: [leaderboard.url],
      chat: [chat.url],
    },
    all: [...products, auth, inventory, leaderboard, chat],
  };
}

export function testConfig(
  redisUrl: string,
  keyPrefix: string,
  upstreams: UpstreamUrls,
  overrides: Partial<AppConfig> = {},
): AppConfig {
  return {
    logLevel: 'silent',
    redis: { url: redisUrl, commandTimeoutMs: 300 },
    keyPrefix,
    upstreams,
    upstreamTimeoutMs: 1000,
    bodyLimit: 64 * 1024,
    trustProxy: true,
    rateLimitEnabled: true,
    policies: parsePolicies({}),
    ...overrides,
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** One request with fetch; the body is read as text. */
export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, init);
  const body = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body,
    ms: performance.now() - started,
  };
}

/** Runs `count` tasks with at most `concurrency` at a time. */
export async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
