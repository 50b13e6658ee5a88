import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * `fixed-window`: @fastify/rate-limit's Redis store (INCR with a TTL); cheapest, but a client may
 * send 2 × limit around a window edge. `gcra`: the generic cell rate algorithm in one Lua script;
 * a full burst of `limit`, then one request per `windowMs / limit`, never 2 × limit in a short span.
 */
export type Algorithm = 'fixed-window' | 'gcra';
/** What to do when Redis cannot decide: `open` lets the request through, `closed` answers 503. */
export type FailMode = 'open' | 'closed';

/** One limit: `limit` requests per `windowMs` per client. */
export interface Policy {
  /** Shown in `RateLimit-Policy`, metrics and Redis keys. */
  name: string;
  limit: number;
  windowMs: number;
  /** @default 'gcra' */
  algorithm: Algorithm;
  /** @default 'open' */
  failMode: FailMode;
}

/** A policy that applies to one route (`method` or `*`, `path` exact or ending in `/*`). */
export interface RoutePolicy extends Policy {
  method: string;
  path: string;
}

/** Every policy the gateway applies: the first matching route, else the key's tier, else default. */
export interface PolicySet {
  default: Policy;
  routes: RoutePolicy[];
  tiers: Map<string, Policy>;
  /** API key -> tier name. */
  apiKeys: Map<string, string>;
}

const NAME = '^[a-z0-9][a-z0-9_-]{0,62}$';
const PolicyFields = {
  limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  windowMs: Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 * 1000 }),
  algorithm: Type.Optional(Type.Union([Type.Literal('fixed-window'), Type.Literal('gcra')])),
  failMode: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
};

/** The JSON accepted in `RATE_LIMIT_POLICIES` or the file of `RATE_LIMIT_POLICIES_FILE`. */
export const PolicyDocument = Type.Object(
  {
    default: Type.Optional(Type.Object(PolicyFields, { additionalProperties: false })),
    routes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: NAME }),
            method: Type.Optional(Type.String({ pattern: '^(\\*|[A-Z]+)$' })),
            path: Type.String({ pattern: '^/[^\\s*]*(/\\*)?$' }),
            ...PolicyFields,
          },
          { additionalProperties: false },
        ),
      ),
    ),
    tiers: Type.Optional(
      Type.Record(
        Type.String({ pattern: NAME }),
        Type.Object(PolicyFields, { additionalProperties: false }),
      ),
    ),
    apiKeys: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
export type PolicyDocument = Static<typeof PolicyDocument>;

type PolicySpec = Static<ReturnType<typeof Type.Object<typeof PolicyFields>>>;

function policyOf(name: string, spec: PolicySpec): Policy {
  return {
    name,
    limit: spec.limit,
    windowMs: spec.windowMs,
    algorithm: spec.algorithm ?? 'gcra',
    failMode: spec.failMode ?? 'open',
  };
}

/** Validates a policy document; throws naming the first wrong field or reference. */
export function parsePolicies(input: unknown): PolicySet {
  if (!Value.Check(PolicyDocument, input)) {
    const first = Value.Errors(PolicyDocument, input).First();
    throw new Error(`${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
  }
  const document = input;
  const names = new Set<string>(['default']);
  const unique = (name: string) => {
    if (names.has(name)) throw new Error(`policy name "${name}" is used twice`);
    names.add(name);
    return name;
  };
  const routes = (document.routes ?? []).map((route): RoutePolicy => ({
    ...policyOf(unique(route.name), route),
    method: route.method ?? '*',
    path: route.path,
  }));
  const tiers = new Map(
    Object.entries(document.tiers ?? {}).map(([name, spec]) => [
      name,
      policyOf(unique(name), spec),
    ]),
  );
  const apiKeys = new Map(Object.entries(document.apiKeys ?? {}));
  for (const [key, tier] of apiKeys) {
    if (!tiers.has(tier))
      throw new Error(`apiKeys: key ${key.slice(0, 4)}… names unknown tier "${tier}"`);
  }
  return {
    default: policyOf('default', document.default ?? { limit: 100, windowMs: 60_000 }),
    routes,
    tiers,
    apiKeys,
  };
}

/** 100 per minute per client; `POST /api/auth/login` 10 per minute and closed when Redis is away. */
export const DEFAULT_POLICIES: PolicySet = parsePolicies({
  default: { limit: 100, windowMs: 60_000 },
  routes: [
    {
      name: 'login',
      method: 'POST',
      path: '/api/auth/login',
      limit: 10,
      windowMs: 60_000,
      failMode: 'closed',
    },
  ],
});

/** True when `path` (no query string) is matched by a route policy's `pattern`. */
export function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.endsWith('/*')) return path === pattern;
  const base = pattern.slice(0, -2);
  return path === base || path.startsWith(`${base}/`);
}

/** The policy for one request: the first matching route, else the API key's tier, else default. */
export function selectPolicy(
  set: PolicySet,
  method: string,
  path: string,
  apiKey: string | undefined,
): Policy {
  const route = set.routes.find(
    (candidate) =>
      (candidate.method === '*' || candidate.method === method) &&
      pathMatches(candidate.path, path),
  );
  if (route) return route;
  const tier = apiKey === undefined ? undefined : set.apiKeys.get(apiKey);
  return (tier && set.tiers.get(tier)) || set.default;
}

/** Every policy of the set, each once. */
export function allPolicies(set: PolicySet): Policy[] {
  return [set.default, ...set.routes, ...set.tiers.values()];
}
