import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy';
import type { FastifyReplyFromHooks } from '@fastify/reply-from';
import { DomainError } from '@redis-patterns/service-kit';
import type { UpstreamUrls } from '../config';
import { appendForwardedFor } from './forwarded-headers';
import { PROXY_ROUTES } from './proxy-routes';
import { UpstreamPool } from './upstream-pool';

export interface ProxyOptions {
  upstreams: UpstreamUrls;
  /** Deadline for response headers and between body chunks. */
  timeoutMs: number;
}

/** Where one proxied request went; kept per request for retries, errors and the latency metric. */
interface Attempt {
  origin: string;
  tried: Set<string>;
  startedAt: bigint;
}

/**
 * What reply-from hands to `retryDelay` as `req`: its own request options, not the Fastify
 * request its typings claim. Moving `url` (and `host`) is how a retry reaches another replica.
 */
interface OutgoingRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
}

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUTS = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'FST_REPLY_FROM_GATEWAY_TIMEOUT',
]);
/** A pooled keep-alive socket the upstream closed (e.g. while draining): the request may have arrived. */
const RESET = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
/** Methods safe to send twice, so a reset socket may be retried on another replica. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

function causeCode(error: unknown): string {
  let current: unknown = error;
  const codes: string[] = [];
  for (let depth = 0; current && depth < 4; depth += 1) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    current = cause;
  }
  return (
    codes.find((code) => REFUSED.has(code) || TIMEOUTS.has(code) || RESET.has(code)) ??
    codes[0] ??
    ''
  );
}

/**
 * The proxy: one @fastify/http-proxy per prefix of PROXY_ROUTES, each balancing its service's
 * replicas round-robin, retrying a refused connection on the next replica (any method: nothing
 * was sent, and bodies are buffered so they can be replayed) and a reset keep-alive socket for
 * idempotent methods,
 * and answering 502/504 in the error envelope instead of hanging.
 */
export async function registerProxy(app: FastifyInstance, options: ProxyOptions): Promise<void> {
  const latency = app.prom.histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Time from proxying a request to the upstream response headers (or its failure), by upstream',
    labelNames: ['upstream', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const attempts = new WeakMap<FastifyRequest, Attempt>();
  const pools = new Map<string, UpstreamPool>();
  const poolOf = (name: keyof UpstreamUrls) => {
    let pool = pools.get(name);
    if (!pool) {
      pool = new UpstreamPool(name, options.upstreams[name]);
      pools.set(name, pool);
    }
    return pool;
  };
  const seconds = (attempt: Attempt) => Number(process.hrtime.bigint() - attempt.startedAt) / 1e9;

  for (const route of PROXY_ROUTES) {
    const pool = poolOf(route.upstream);

    const rewriteRequestHeaders = (request: FastifyRequest, headers: IncomingHttpHeaders) => ({
      ...headers,
      'x-request-id': request.id,
      'x-forwarded-for': appendForwardedFor(
        request.headers['x-forwarded-for'],
        request.socket.remoteAddress ?? request.ip,
      ),
      'x-forwarded-proto': request.protocol,
      'x-forwarded-host': request.headers.host ?? '',
    });

    const replyOptions: FastifyReplyFromHooks = {
      timeout: options.timeoutMs,
      getUpstream: (request) => {
        const origin = pool.pick();
        attempts.set(request as FastifyRequest, {
          origin,
          tried: new Set([origin]),
          startedAt: process.hrtime.bigint(),
        });
        return origin;
      },
      rewriteRequestHeaders: (request, headers) =>
        rewriteRequestHeaders(request as FastifyRequest, headers as IncomingHttpHeaders),
    };

    const proxyOptions: FastifyHttpProxyOptions = {
      prefix: route.prefix,
      rewritePrefix: route.rewritePrefix,
      upstream: '',
      disableRequestLogging: true,
      // Bodies are parsed (JSON, text) or buffered by the gateway instead of streamed, so a
      // request refused by a stopped replica can be replayed to the next one.
      proxyPayloads: false,
      undici: { connect: { timeout: Math.min(options.timeoutMs, 5000) } },
      // http-proxy calls wsClientOptions.rewriteRequestHeaders; its typings omit it.
      wsClientOptions: {
        rewriteRequestHeaders: (headers: IncomingHttpHeaders, request: FastifyRequest) =>
          rewriteRequestHeaders(request, {
            ...headers,
            ...(request.headers.cookie ? { cookie: request.headers.cookie } : {}),
          }),
      } as FastifyHttpProxyOptions['wsClientOptions'],
      replyOptions,
      handler: (request, reply, dest, from) => {
        const attempt = attempts.get(request);
        // getUpstream runs for every proxied HTTP request before this handler.
        if (!attempt) throw new Error('proxy handler ran without an upstream');
        return reply.from(dest, {
          ...from,
          rewriteHeaders: (headers, req) => {
            latency.observe({ upstream: pool.name, outcome: 'response' }, seconds(attempt));
            return from?.rewriteHeaders ? from.rewriteHeaders(headers, req) : headers;
          },
          retryDelay: ({ err, req, attempt: retries }) => {
            const outgoing = req as unknown as OutgoingRequest;
            const code = err ? causeCode(err) : '';
            if (REFUSED.has(code)) pool.markDown(attempt.origin);
            else if (!(RESET.has(code) && IDEMPOTENT.has(outgoing.method))) return null;
            if (retries + 1 >= pool.origins.length) return null;
            const next = pool.pick(attempt.tried);
            attempt.tried.add(next);
            attempt.origin = next;
            outgoing.url = new URL(outgoing.url.pathname, next);
            outgoing.headers.host = outgoing.url.host;
            return 1;
          },
          onError: (failed, { error }) => {
            const code = causeCode(error);
            latency.observe({ upstream: pool.name, outcome: 'error' }, seconds(attempt));
            if (REFUSED.has(code)) pool.markDown(attempt.origin);
            const timedOut =
              TIMEOUTS.has(code) || (error as { statusCode?: number }).statusCode === 504;
            failed.send(
              timedOut
                ? new DomainError(
                    504,
                    'GATEWAY_TIMEOUT',
                    `${pool.name} did not answer within ${options.timeoutMs} ms`,
                  )
                : new DomainError(502, 'BAD_GATEWAY', `${pool.name} is unavailable`),
            );
          },
        });
      },
    };
    await app.register(
      httpProxy,
      route.websocket ? { ...proxyOptions, websocket: true } : proxyOptions,
    );
  }
}
