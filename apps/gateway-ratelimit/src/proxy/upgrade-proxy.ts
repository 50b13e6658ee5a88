import {
  request as httpRequest,
  ServerResponse,
  STATUS_CODES,
  type IncomingMessage,
} from 'node:http';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '@redis-patterns/service-kit';
import type { UpstreamUrls } from '../config';
import type { RateLimiter } from '../rate-limit/rate-limiter';
import { appendForwardedFor, forwardedChain } from './forwarded-headers';
import { forwardableRequestHeaders } from './hop-by-hop';
import { InvalidPathError, normalizePath, splitTarget } from './path-normalization';
import { resolveRoute, type ResolvedRoute } from './route-map';
import type { UpstreamPool } from './upstream-pool';

export interface UpgradeProxyOptions {
  pools: (name: keyof UpstreamUrls) => UpstreamPool;
  /** Deadline for the upstream's answer to the upgrade. */
  timeoutMs: number;
  /** Fastify's `trustProxy`: which X-Forwarded-For entries name the client. */
  trustProxy: boolean | string | number;
  /** Decides each upgrade as it decides an HTTP request. */
  limiter: RateLimiter;
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** A refusal in the error envelope, its headers (RateLimit-*, Retry-After) included. */
function refuseWith(socket: Duplex, error: DomainError): void {
  const reason = STATUS_CODES[error.statusCode] ?? '';
  const body = JSON.stringify({
    statusCode: error.statusCode,
    code: error.code,
    error: reason,
    message: error.message,
  });
  const lines = [
    `HTTP/1.1 ${error.statusCode} ${reason}`,
    'connection: close',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(error.headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

function statusBlock(message: IncomingMessage, extra: Record<string, string> = {}): string {
  const lines = [`HTTP/1.1 ${message.statusCode} ${message.statusMessage ?? ''}`];
  for (let i = 0; i < message.rawHeaders.length; i += 2) {
    lines.push(`${message.rawHeaders[i]}: ${message.rawHeaders[i + 1]}`);
  }
  for (const [name, value] of Object.entries(extra)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The client address of a raw request, by the same rule as Fastify's `request.ip`. */
function clientIpOf(trustProxy: UpgradeProxyOptions['trustProxy']) {
  if (trustProxy === false) return (request: IncomingMessage) => request.socket.remoteAddress ?? '';
  const trust =
    trustProxy === true
      ? () => true
      : typeof trustProxy === 'number'
        ? (_address: string, hop: number) => hop < trustProxy
        : proxyAddr.compile(trustProxy.split(',').map((part) => part.trim()));
  return (request: IncomingMessage) => proxyAddr(request, trust);
}

/** What the upgrade tunnels to: the route, its replica, the validated forwarded chain. */
interface UpgradeTarget {
  resolved: ResolvedRoute;
  query: string;
  chain: string[];
  /** RateLimit-* headers of the admitting decision, added to the 101. */
  limitHeaders: Record<string, string>;
}

/**
 * HTTP upgrades: a WebSocket under a route that allows it is decided by the rate limiter like
 * any request (its policy matched on the normalised path: 429 with the RateLimit headers, or
 * 503 when a fail-closed policy cannot be decided, and then never proxied) and tunnelled to one
 * of its replicas; any other upgrade (`Upgrade: h2c`) is declined as RFC 9110 allows, by
 * answering it as the plain HTTP/1.1 request it also is, through the normal routes.
 */
export function registerUpgradeProxy(app: FastifyInstance, options: UpgradeProxyOptions): void {
  const tunnels = new Set<Duplex>();
  const clientIp = clientIpOf(options.trustProxy);
  app.addHook('onClose', async () => {
    for (const socket of tunnels) socket.destroy();
  });

  const asPlainRequest = (request: IncomingMessage, socket: Duplex) => {
    const hasBody =
      Number(request.headers['content-length'] ?? 0) > 0 ||
      request.headers['transfer-encoding'] !== undefined;
    // Node stops parsing at an upgrade request's headers, so a body could not be read.
    if (hasBody) return refuse(socket, '400 Bad Request');
    const response = new ServerResponse(request);
    response.shouldKeepAlive = false;
    response.assignSocket(socket as never);
    response.once('finish', () => {
      response.detachSocket(socket as never);
      socket.end();
    });
    app.server.emit('request', request, response);
  };

  const tunnel = (request: IncomingMessage, socket: Duplex, head: Buffer, to: UpgradeTarget) => {
    const pool = options.pools(to.resolved.route.upstream);
    const origin = new URL(pool.pick());
    const upstream = httpRequest({
      host: origin.hostname,
      port: origin.port,
      path: `${to.resolved.upstreamPath}${to.query}`,
      method: request.method,
      timeout: options.timeoutMs,
      headers: {
        ...forwardableRequestHeaders(request.headers),
        host: origin.host,
        connection: 'Upgrade',
        upgrade: request.headers.upgrade,
        'x-forwarded-for': appendForwardedFor(to.chain, request.socket.remoteAddress ?? ''),
        'x-forwarded-proto': 'http',
        'x-forwarded-host': request.headers.host ?? '',
      },
    });
    upstream.once('timeout', () => upstream.destroy(new Error('upgrade timed out')));
    upstream.once('error', () => {
      if (!socket.destroyed) refuse(socket, '502 Bad Gateway');
    });
    upstream.once('response', (response) => {
      socket.write(statusBlock(response, to.limitHeaders));
      response.pipe(socket);
    });
    upstream.once('upgrade', (response, upstreamSocket: Duplex, upstreamHead: Buffer) => {
      tunnels.add(socket);
      const close = () => {
        tunnels.delete(socket);
        socket.destroy();
        upstreamSocket.destroy();
      };
      upstreamSocket.on('error', close);
      upstreamSocket.on('close', close);
      socket.on('close', close);
      socket.write(statusBlock(response, to.limitHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
    });
    upstream.end();
  };

  /** The limiter's decision on one upgrade: its RateLimit headers, or the refusal sent. */
  const admit = async (request: IncomingMessage, socket: Duplex, path: string) => {
    try {
      return await options.limiter.check({
        method: request.method ?? 'GET',
        path,
        ip: clientIp(request),
        apiKey: request.headers['x-api-key'],
        closed: socket,
        log: app.log,
      });
    } catch (error) {
      if (error instanceof DomainError) refuseWith(socket, error);
      else {
        app.log.error({ err: error }, 'rate limiting an upgrade failed');
        refuse(socket, '500 Internal Server Error');
      }
      return undefined;
    }
  };

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (String(request.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      asPlainRequest(request, socket);
      return;
    }
    const { path, query } = splitTarget(request.url ?? '/');
    const chain = forwardedChain(request.headers['x-forwarded-for']);
    let normalized: string;
    try {
      normalized = normalizePath(path);
    } catch (error) {
      if (!(error instanceof InvalidPathError)) throw error;
      return refuse(socket, '400 Bad Request');
    }
    const resolved = resolveRoute(normalized);
    if (!chain) return refuse(socket, '400 Bad Request');
    if (!resolved?.route.websocket) return refuse(socket, '404 Not Found');
    void admit(request, socket, normalized).then((limitHeaders) => {
      // Refused, or the client left while the limiter decided (a lease is released by 'close').
      if (limitHeaders === undefined || socket.destroyed) return;
      tunnel(request, socket, head, { resolved, query, chain, limitHeaders });
    });
  });
}
