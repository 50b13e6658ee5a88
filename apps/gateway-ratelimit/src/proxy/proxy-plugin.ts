import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Agent } from 'undici';
import { DomainError, isTracing } from '@redis-patterns/service-kit';
import type { UpstreamUrls } from '../config';
import { appendForwardedFor } from './forwarded-headers';
import { forwardableRequestHeaders, forwardableResponseHeaders } from './hop-by-hop';
import { resolveRoute } from './route-map';
import { dispatchToPool } from './upstream-dispatch';
import { UpstreamPool } from './upstream-pool';
import { registerUpgradeProxy } from './upgrade-proxy';

export interface ProxyOptions {
  upstreams: UpstreamUrls;
  /** Deadline for response headers and between body chunks of an ordinary response. */
  timeoutMs: number;
  /** Deadline between chunks of a streaming response (SSE, chunked without length). */
  streamIdleTimeoutMs: number;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Fastify's `trustProxy`, applied to WebSocket upgrades too. @default false */
  trustProxy?: boolean | string | number;
  /** Sockets per upstream replica. @default 128 */
  connectionsPerUpstream?: number;
}

/** What the proxy's routes (src/routes/proxy-routes.ts) hand a request to. */
export interface GatewayProxy {
  /** Forwards the request to its upstream (404 when no route maps its path) and streams back the answer. */
  forward(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Largest request body in bytes, which the raw body parser applies. */
  bodyLimit: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    gatewayProxy: GatewayProxy;
  }
}

export const PROXY_PLUGIN = 'gateway-ratelimit-proxy';

/**
 * A response whose length is not known up front is a stream (SSE, a chunked feed): between two
 * of its chunks a service may legitimately stay silent up to its heartbeat, so the ordinary
 * between-chunks deadline does not apply; its own, longer one does.
 */
function isStreaming(headers: IncomingHttpHeaders): boolean {
  const type = String(headers['content-type'] ?? '');
  return type.startsWith('text/event-stream') || headers['content-length'] === undefined;
}

/** How long shutdown waits for proxied requests in flight before aborting them. */
const CLOSE_GRACE_MS = 5000;

/** Destroys `body` when no chunk arrived for `idleMs`. */
function idleBound(body: Readable, idleMs: number): void {
  const timer = setTimeout(() => {
    body.destroy(Object.assign(new Error(`upstream idle for ${idleMs} ms`), { code: 'IDLE' }));
  }, idleMs);
  timer.unref();
  body.on('data', () => timer.refresh());
  body.once('close', () => clearTimeout(timer));
}

function upstreamHeaders(request: FastifyRequest): Record<string, string | string[]> {
  const forwarded = forwardableRequestHeaders(request.headers);
  // Traced: undici's instrumentation sends the gateway's own traceparent (see isTracing).
  if (isTracing()) {
    delete forwarded.traceparent;
    delete forwarded.tracestate;
  }
  return {
    ...forwarded,
    'x-request-id': request.id,
    'x-forwarded-for': appendForwardedFor(
      request.forwardedFor,
      request.socket.remoteAddress ?? request.ip,
    ),
    'x-forwarded-proto': request.protocol,
    'x-forwarded-host': request.headers.host ?? '',
  };
}

/** The undici agent, and shutdown that never waits on a proxied request for ever. */
function upstreamAgent(app: FastifyInstance, options: ProxyOptions) {
  const agent = new Agent({
    connections: options.connectionsPerUpstream ?? 128,
    connect: { timeout: Math.min(options.timeoutMs, 5000) },
    // Shorter than the services' keep-alive (72 s), so the gateway closes idle sockets first.
    keepAliveTimeout: 4000,
    keepAliveMaxTimeout: 60000,
  });
  // Shutdown: the server waits for requests in flight, and a request whose upstream never
  // answers (or whose client's abort was missed) would hold it forever. Give them a grace, then
  // abort what is left, so close always ends.
  const inFlight = new Set<AbortController>();
  app.addHook('preClose', async () => {
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (inFlight.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const controller of inFlight) controller.abort();
  });
  app.addHook('onClose', async () => {
    await agent.close();
  });
  return { agent, inFlight };
}

/**
 * The proxy, on undici: `forward` resolves the normalised path to a service,
 * balances its replicas round-robin, and forwards the request body byte for byte (kept as the
 * raw bytes it arrived as, within BODY_LIMIT, so a request refused by a stopped replica can be
 * replayed to the next one: see upstream-dispatch.ts) and the response as a stream; failures
 * answer 502/504 in the error envelope instead of hanging. WebSocket upgrades: upgrade-proxy.ts.
 */
async function proxyPlugin(app: FastifyInstance, options: ProxyOptions): Promise<void> {
  const latency = app.prom.histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Time from proxying a request to the upstream response headers (or its failure), by upstream',
    labelNames: ['upstream', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const { agent, inFlight } = upstreamAgent(app, options);
  // After the rate-limit hooks, as before any read: an oversized declared body is 413 at once
  // (the body parser applies the same limit to what arrives).
  app.addHook('onRequest', async (request) => {
    if (Number(request.headers['content-length'] ?? 0) > options.bodyLimit) {
      throw new DomainError(
        413,
        'PAYLOAD_TOO_LARGE',
        `Request body is larger than ${options.bodyLimit} bytes`,
      );
    }
  });
  const pools = new Map<keyof UpstreamUrls, UpstreamPool>(
    (Object.keys(options.upstreams) as (keyof UpstreamUrls)[]).map((name) => [
      name,
      new UpstreamPool(name, options.upstreams[name]),
    ]),
  );
  const poolOf = (name: keyof UpstreamUrls) => pools.get(name) as UpstreamPool;

  async function forward(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const resolved = resolveRoute(request.gatewayPath);
    if (!resolved) {
      throw new DomainError(
        404,
        'NOT_FOUND',
        `Route ${request.method}:${request.gatewayPath} not found`,
      );
    }
    const pool = poolOf(resolved.route.upstream);
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    const headers = upstreamHeaders(request);
    if (body) headers['content-length'] = String(body.length);
    const abort = new AbortController();
    inFlight.add(abort);
    reply.raw.once('close', () => {
      inFlight.delete(abort);
      if (!reply.raw.writableFinished) abort.abort();
    });
    // The client may have gone while the rate-limit hooks ran: its 'close' already fired. (Not
    // request.raw.destroyed: a request stream is destroyed once its body has been read.)
    if (reply.raw.destroyed) abort.abort();
    const startedAt = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - startedAt) / 1e9;
    const call = {
      method: request.method,
      path: `${resolved.upstreamPath}${request.gatewayQuery}`,
      headers,
      body,
      signal: abort.signal,
      timeoutMs: options.timeoutMs,
    };
    const response = await dispatchToPool(agent, pool, call, () =>
      latency.observe({ upstream: pool.name, outcome: 'error' }, seconds()),
    );
    latency.observe({ upstream: pool.name, outcome: 'response' }, seconds());
    reply.code(response.statusCode).headers(forwardableResponseHeaders(response.headers));
    const empty =
      request.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304;
    if (empty) {
      await response.body.dump();
      return reply.send();
    }
    idleBound(
      response.body,
      isStreaming(response.headers) ? options.streamIdleTimeoutMs : options.timeoutMs,
    );
    return reply.send(response.body);
  }

  app.decorate<GatewayProxy>('gatewayProxy', { forward, bodyLimit: options.bodyLimit });
  registerUpgradeProxy(app, {
    pools: poolOf,
    timeoutMs: options.timeoutMs,
    trustProxy: options.trustProxy ?? false,
    limiter: app.rateLimiter,
  });
}

export default fp(proxyPlugin, {
  name: PROXY_PLUGIN,
  fastify: '5.x',
  dependencies: [
    '@redis-patterns/metrics',
    'gateway-ratelimit-gateway-request',
    'gateway-ratelimit-rate-limit',
  ],
});
