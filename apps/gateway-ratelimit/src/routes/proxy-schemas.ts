import type { FastifySchema } from 'fastify';
import { PROXY_ROUTES } from '../proxy/route-map';

/** The catch-all's URL: every path no route of the gateway's own claims. */
export const PROXIED_ROUTE = '/*';

/** Every method the catch-all proxies (CONNECT and TRACE are not). */
export const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * The catch-all's schema: hidden from /docs (@fastify/swagger reads `hide`, which Fastify's
 * schema type does not know), since each proxied route is its service's own API. No body or
 * response schema: bodies and answers pass byte for byte.
 */
export const proxiedRouteSchema: FastifySchema & { hide: boolean } = { hide: true };

const routeMap = PROXY_ROUTES.map(
  (route) => `\`${route.prefix}/*\` → ${route.upstream} \`${route.rewritePrefix}\``,
).join(', ');

/**
 * The gateway's OpenAPI description: its route map and the answers of its own that any proxied
 * request may get, in place of one entry per proxied method (see each service's /docs).
 */
export const GATEWAY_DESCRIPTION = `The API gateway: proxies to every service with per-client rate limits that hold across all replicas. Routes: ${routeMap}. Every proxied answer may also be 400 (INVALID_PATH, INVALID_FORWARDED_FOR, INVALID_API_KEY), 401 INVALID_API_KEY, 404, 413, 429 RATE_LIMITED, 502, 503 RATE_LIMIT_UNAVAILABLE or 504 in the error envelope.`;
