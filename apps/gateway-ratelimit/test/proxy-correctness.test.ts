import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/app';
import { httpCall, startRedis, uniquePrefix, type RedisServer } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { startUpstreams, testConfig, type Upstream } from './gateway-harness';

/** What the raw upstream saw: the exact bytes of the body (base64) and the headers. */
interface Received {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBase64: string;
}

/**
 * An upstream that answers every request with what it received, byte for byte; `/events` is an
 * SSE stream with one event every 15 s (the leaderboard's heartbeat), `/metrics` its own metrics.
 */
async function startRawUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.url === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      response.write(`data: ${n}\n\n`);
      const timer = setInterval(() => response.write(`data: ${(n += 1)}\n\n`), 15000);
      response.on('close', () => clearInterval(timer));
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: Received = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        bodyBase64: Buffer.concat(chunks).toString('base64'),
      };
      const text = JSON.stringify(received);
      response.writeHead(request.method === 'POST' ? 201 : 200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        connection: 'keep-alive, x-upstream-hop',
        'x-upstream-hop': 'secret',
      });
      response.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One request over a raw socket: what curl does, byte for byte, with `Expect` honoured. */
function rawRequest(
  url: string,
  head: string,
  body: Buffer,
  waitForContinue: boolean,
): Promise<{ continued: boolean; status: number; head: string; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    let continued = false;
    let sentBody = false;
    const sendBody = () => {
      if (sentBody) return;
      sentBody = true;
      socket.write(body);
    };
    socket.setTimeout(10000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(head);
      if (!waitForContinue) sendBody();
    });
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (!continued && data.startsWith('HTTP/1.1 100')) {
        continued = true;
        data = data.slice(data.indexOf('\r\n\r\n') + 4);
        sendBody();
      }
      const end = data.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(data);
      if (end !== -1 && length && data.length >= end + 4 + Number(length[1])) {
        socket.end();
        resolve({
          continued,
          status: Number(data.slice(9, 12)),
          head: data.slice(0, end),
          text: Buffer.from(data.slice(end + 4), 'latin1').toString('utf8'),
        });
      }
    });
  });
}

describe('gateway-ratelimit: proxy correctness', () => {
  let redis: RedisServer;
  let upstreams: Upstream[] = [];
  let raw: Awaited<ReturnType<typeof startRawUpstream>>;
  let gateway: ServiceInstance;
  let url: string;

  beforeAll(async () => {
    redis = await startRedis();
    const started = await startUpstreams();
    upstreams = started.all;
    raw = await startRawUpstream();
    gateway = await buildApp(
      testConfig({
        redis: redis.url,
        keyPrefix: uniquePrefix('gw'),
        upstreams: {
          ...started.urls,
          products: [raw.url],
          leaderboard: [raw.url],
          chat: [raw.url],
        },
        // The default deadline between chunks, shorter than the SSE heartbeat.
        upstreamTimeoutMs: 10000,
        streamIdleTimeoutMs: 75000,
      }),
    );
    url = await gateway.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await gateway?.close();
    await raw?.close();
    await Promise.all(upstreams.map((u) => u.close()));
    await redis?.stop();
  });

  const received = (text: string) => JSON.parse(text) as Received;

  it('forwards a 20-digit integer, duplicate keys, JSON null and invalid UTF-8 byte for byte', async () => {
    const bodies = [
      Buffer.from('{"priceCents": 12345678901234567890}'),
      Buffer.from('{"a":1,"a":2}'),
      Buffer.from('null'),
      Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
    ];
    for (const body of bodies) {
      const answer = await httpCall(url, 'PUT', '/api/products/1', {
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(answer.status).toBe(200);
      expect(Buffer.from(received(answer.text).bodyBase64, 'base64').equals(body)).toBe(true);
      expect(received(answer.text).headers['content-length']).toBe(String(body.length));
    }
  });

  it('answers Expect: 100-continue itself: a 2 KiB body as curl sends it is 201 and arrives whole', async () => {
    const body = Buffer.from(JSON.stringify({ text: 'x'.repeat(2048) }));
    const head = [
      'POST /api/products HTTP/1.1',
      `Host: 127.0.0.1`,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      'Expect: 100-continue',
      '',
      '',
    ].join('\r\n');
    const answer = await rawRequest(url, head, body, true);
    expect(answer.continued).toBe(true);
    expect(answer.status).toBe(201);
    const seen = received(answer.text);
    expect(Buffer.from(seen.bodyBase64, 'base64').equals(body)).toBe(true);
    expect(seen.headers.expect).toBeUndefined();
  });

  it('strips hop-by-hop headers both ways (Connection-named ones too); Keep-Alive and Upgrade: h2c are no 502', async () => {
    const answer = await rawRequest(
      url,
      [
        'GET /api/products/1 HTTP/1.1',
        'Host: 127.0.0.1',
        'Connection: keep-alive, Upgrade, HTTP2-Settings, X-Hop',
        'Keep-Alive: timeout=5',
        'Upgrade: h2c',
        'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA',
        'X-Hop: must-not-pass',
        'TE: trailers',
        'X-End-To-End: passes',
        '',
        '',
      ].join('\r\n'),
      Buffer.alloc(0),
      false,
    );
    expect(answer.status).toBe(200);
    const seen = received(answer.text).headers;
    for (const name of ['upgrade', 'http2-settings', 'x-hop', 'te', 'keep-alive']) {
      expect(seen[name]).toBeUndefined();
    }
    expect(seen['x-end-to-end']).toBe('passes');
    // The upstream's Connection names x-upstream-hop: it stops at the gateway.
    expect(answer.head).not.toMatch(/x-upstream-hop/i);
    expect(answer.head).toMatch(/content-type: application\/json/i);
  });

  it('keeps an SSE stream open 60 s with its 15 s heartbeats, past UPSTREAM_TIMEOUT_MS', async () => {
    const events: number[] = [];
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(`${url}/api/leaderboards/../../chat/events`, (response) => {
        expect(response.statusCode).toBe(200);
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          for (const match of chunk.matchAll(/data: (\d+)/g)) events.push(Number(match[1]));
          if (Date.now() - started >= 60000) {
            request.destroy();
            resolve();
          }
        });
        response.on('error', () => {});
        response.on('close', () =>
          reject(new Error(`stream closed after ${Date.now() - started} ms`)),
        );
      });
      request.on('error', () => {});
      request.end();
    });
    expect(events.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
  }, 90_000);

  it('sends the normalised path upstream and refuses a broken one', async () => {
    const answer = await httpCall(url, 'GET', '/api/%70roducts/./x/../7?q=%41');
    expect(received(answer.text).url).toBe('/products/7?q=%41');
    const broken = await httpCall(url, 'GET', '/api/products/%zz');
    expect(broken.status).toBe(400);
    // Fastify's router refuses it before the gateway's own check (INVALID_PATH) would.
    expect(['INVALID_PATH', 'FST_ERR_BAD_URL']).toContain(broken.body.code);
    const nul = await httpCall(url, 'GET', '/api/products/a%00b');
    expect(nul.status).toBe(400);
  });

  it('refuses an X-Forwarded-For entry that is not an address', async () => {
    for (const value of ['my-own-bucket', '1.2.3.4, nope', '1.2.3.4:80']) {
      const answer = await httpCall(url, 'GET', '/api/products/1', {
        headers: { 'x-forwarded-for': value },
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'INVALID_FORWARDED_FOR' });
    }
  });
});
