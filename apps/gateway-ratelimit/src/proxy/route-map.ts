import type { UpstreamUrls } from '../config';

/** One prefix of the gateway and where it goes. */
export interface ProxyRoute {
  /** Path prefix on the gateway; `prefix` and `prefix/*` are proxied. */
  prefix: string;
  /** What the prefix becomes upstream. */
  rewritePrefix: string;
  upstream: keyof UpstreamUrls;
  /** Also proxy WebSocket upgrades under this prefix. */
  websocket?: boolean;
}

/**
 * The gateway's map (DESIGN "The system"): `/api` is stripped; Socket.IO keeps its path; the
 * chat page is served at `/chat`, and `/chat/*` reaches the chat service's root so the page can
 * load its assets through the gateway.
 */
export const PROXY_ROUTES: readonly ProxyRoute[] = [
  { prefix: '/api/products', rewritePrefix: '/products', upstream: 'products' },
  { prefix: '/api/auth', rewritePrefix: '/auth', upstream: 'auth' },
  { prefix: '/api/inventory', rewritePrefix: '/inventory', upstream: 'inventory' },
  { prefix: '/api/reservations', rewritePrefix: '/reservations', upstream: 'inventory' },
  { prefix: '/api/leaderboards', rewritePrefix: '/leaderboards', upstream: 'leaderboard' },
  { prefix: '/api/players', rewritePrefix: '/players', upstream: 'leaderboard' },
  { prefix: '/socket.io', rewritePrefix: '/socket.io', upstream: 'chat', websocket: true },
  { prefix: '/chat', rewritePrefix: '/', upstream: 'chat' },
];

/**
 * An upstream's operator surface (metrics, OpenAPI, probes): cluster-internal, so never
 * reachable through the public port, whatever prefix would map onto it.
 */
const INTERNAL_UPSTREAM_PATH = /^\/(metrics|docs|health)(\/|$)/;

/** Where a normalised gateway path goes: the route and the upstream path (no query). */
export interface ResolvedRoute {
  route: ProxyRoute;
  upstreamPath: string;
}

/** The route of a normalised path, or undefined (404) for no route or an internal upstream path. */
export function resolveRoute(path: string): ResolvedRoute | undefined {
  for (const route of PROXY_ROUTES) {
    if (path !== route.prefix && !path.startsWith(`${route.prefix}/`)) continue;
    const rest = path.slice(route.prefix.length);
    const upstreamPath =
      route.rewritePrefix === '/' ? rest || '/' : `${route.rewritePrefix}${rest}`;
    if (INTERNAL_UPSTREAM_PATH.test(upstreamPath)) return undefined;
    return { route, upstreamPath };
  }
  return undefined;
}
