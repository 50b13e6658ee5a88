import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isRedisUnavailable } from '@redis-patterns/redis-core';

/**
 * How one limit counts (every one in `rate-limit-decide.lua`, on Redis' clock):
 * - `fixed-window`: a counter that expires `windowMs` after the client's first request;
 *   cheapest, but up to 2 × limit may pass around a window edge.
 * - `sliding-window`: the sliding window counter (Cloudflare's): this window's count plus the
 *   previous one's weighted by how much of it the sliding window still covers. Exact for evenly
 *   spread traffic; its error is the previous window's unevenness: in any span of `windowMs` at
 *   most `limit + previous × elapsed fraction` pass (below 2 × limit, reached only when the whole
 *   previous window came at its very end).
 * - `gcra`: the generic cell rate algorithm: a burst of `burst` (default `limit`), then one
 *   request per `windowMs / limit`; never 2 × limit at an edge.
 * - `concurrency`: at most `limit` requests in flight; a lease per request in a sorted set, freed
 *   when the response ends or the client aborts, and expiring after `leaseMs` if the replica
 *   holding it dies.
 */
export type Algorithm = 'fixed-window' | 'sliding-window' | 'gcra' | 'concurrency';
/** What to do when Redis cannot decide: `open` applies a local limit, `closed` answers 503. */
export type FailMode = 'open' | 'closed';
/** `shadow`: decide and count what would be refused, but refuse nothing. */
export type PolicyMode = 'enforce' | 'shadow';
/**
 * Who a limit counts: `consumer` (the API key's consumer, else the client address), `ip` (the
 * client address whatever key is sent) or `username` (the `username` field of a JSON body).
 */
export type Subject = 'consumer' | 'ip' | 'username';

/** One limit of a policy. */
export interface Limit {
  algorithm: Algorithm;
  limit: number;
  /** Window or period; for `concurrency` unused. */
  windowMs: number;
  /** `gcra` only: requests allowed at once. @default limit */
  burst: number;
  /** `concurrency` only: how long a lease outlives a replica that died holding it. @default 60000 */
  leaseMs: number;
  by: Subject;
}

/** A set of limits applied together: a request passes only if every limit admits it. */
export interface Policy {
  /** Shown in `RateLimit-Policy`, metrics and Redis keys. */
  name: string;
  limits: Limit[];
  /** @default 'open' */
  failMode: FailMode;
  /** @default 'enforce' */
  mode: PolicyMode;
  /** What one request costs of each rate limit (not of a concurrency limit). @default 1 */
  cost: number;
}

/** A policy that applies to one route (`method` or `*`, `path` exact or ending in `/*`). */
export interface RoutePolicy extends Policy {
  method: string;
  path: string;
}

/** Every policy the gateway applies: the first matching route, else the consumer's tier, else default. */
export interface PolicySet {
  default: Policy;
  routes: RoutePolicy[];
  tiers: Map<string, Policy>;
}

const NAME = '^[a-z0-9][a-z0-9_-]{0,62}$';
const LimitFields = {
  limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  windowMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600 * 1000 })),
  algorithm: Type.Optional(
    Type.Union([
      Type.Literal('fixed-window'),
      Type.Literal('sliding-window'),
      Type.Literal('gcra'),
      Type.Literal('concurrency'),
    ]),
  ),
  burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
  leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
  by: Type.Optional(
    Type.Union([Type.Literal('consumer'), Type.Literal('ip'), Type.Literal('username')]),
  ),
};
const LimitSpec = Type.Object(LimitFields, { additionalProperties: false });
const PolicyFields = {
  // One limit written inline (`limit`, `windowMs`, ...) or several in `limits`.
  ...Type.Partial(Type.Object(LimitFields)).properties,
  limits: Type.Optional(Type.Array(LimitSpec, { minItems: 1, maxItems: 8 })),
  failMode: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
  mode: Type.Optional(Type.Union([Type.Literal('enforce'), Type.Literal('shadow')])),
  cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
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
  },
  { additionalProperties: false },
);
export type PolicyDocument = Static<typeof PolicyDocument>;

type LimitInput = Static<typeof LimitSpec>;
type PolicyInput = Partial<LimitInput> & {
  limits?: LimitInput[];
  failMode?: FailMode;
  mode?: PolicyMode;
  cost?: number;
};

function limitOf(where: string, spec: LimitInput): Limit {
  const algorithm = spec.algorithm ?? 'gcra';
  if (algorithm !== 'concurrency' && spec.windowMs === undefined) {
    throw new Error(`${where}/windowMs is required for ${algorithm}`);
  }
  if (spec.burst !== undefined && algorithm !== 'gcra') {
    throw new Error(`${where}/burst applies to gcra only`);
  }
  if (spec.leaseMs !== undefined && algorithm !== 'concurrency') {
    throw new Error(`${where}/leaseMs applies to concurrency only`);
  }
  return {
    algorithm,
    limit: spec.limit,
    windowMs: spec.windowMs ?? 0,
    burst: spec.burst ?? spec.limit,
    leaseMs: spec.leaseMs ?? 60_000,
    by: spec.by ?? 'consumer',
  };
}

function policyOf(where: string, name: string, spec: PolicyInput): Policy {
  const { limits, failMode, mode, cost, ...inline } = spec;
  const hasInline = Object.keys(inline).length > 0;
  if (limits && hasInline) throw new Error(`${where} has both "limits" and an inline limit`);
  let specs: LimitInput[];
  if (limits) specs = limits;
  else if (inline.limit !== undefined) specs = [inline as LimitInput];
  else throw new Error(`${where} needs "limit" or "limits"`);
  return {
    name,
    limits: specs.map((limit, i) => limitOf(limits ? `${where}/limits/${i}` : where, limit)),
    failMode: failMode ?? 'open',
    mode: mode ?? 'enforce',
    cost: cost ?? 1,
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
  const routes = (document.routes ?? []).map((route, i): RoutePolicy => {
    const { name, method, path, ...spec } = route;
    return {
      ...policyOf(`/routes/${i}`, unique(name), spec),
      method: method ?? '*',
      path,
    };
  });
  const tiers = new Map(
    Object.entries(document.tiers ?? {}).map(([name, spec]) => [
      name,
      policyOf(`/tiers/${name}`, unique(name), spec),
    ]),
  );
  return {
    default: policyOf('/default', 'default', document.default ?? { limit: 100, windowMs: 60_000 }),
    routes,
    tiers,
  };
}

/**
 * 100 per minute per client; `POST /api/auth/login` 10 per minute per client address and 5 per
 * minute per target username (whatever API key is sent), closed when Redis is away.
 */
export const DEFAULT_POLICIES: PolicySet = parsePolicies({
  default: { limit: 100, windowMs: 60_000 },
  routes: [
    {
      name: 'login',
      method: 'POST',
      path: '/api/auth/login',
      limits: [
        { by: 'ip', limit: 10, windowMs: 60_000 },
        { by: 'username', limit: 5, windowMs: 60_000 },
      ],
      failMode: 'closed',
    },
  ],
});

/** True when `path` (normalised, no query string) is matched by a route policy's `pattern`. */
export function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.endsWith('/*')) return path === pattern;
  const base = pattern.slice(0, -2);
  return path === base || path.startsWith(`${base}/`);
}

/** The policy for one request: the first matching route, else the consumer's tier, else default. */
export function selectPolicy(
  set: PolicySet,
  method: string,
  path: string,
  tier: string | undefined,
): Policy {
  const route = set.routes.find(
    (candidate) =>
      (candidate.method === '*' || candidate.method === method) &&
      pathMatches(candidate.path, path),
  );
  if (route) return route;
  return (tier !== undefined && set.tiers.get(tier)) || set.default;
}

/** Every policy of the set, each once. */
export function allPolicies(set: PolicySet): Policy[] {
  return [set.default, ...set.routes, ...set.tiers.values()];
}

/** What a failed decision becomes: the policy's fail mode, or an error (a bug: 500). */
export type FailureOutcome = 'fail_open' | 'fail_closed' | 'error';

/**
 * Redis away or mid-failover (timeout, closed connection, READONLY, CLUSTERDOWN, TRYAGAIN,
 * MOVED/ASK redirections exhausted, an open breaker...) takes the policy's fail mode; any other
 * error (wrong key type, script error) is a bug and must not be hidden behind fail-open.
 */
export function failureOutcome(policy: Policy, error: unknown): FailureOutcome {
  if (!isRedisUnavailable(error) && (error as { code?: unknown })?.code !== 'EOPENBREAKER') {
    return 'error';
  }
  return policy.failMode === 'closed' ? 'fail_closed' : 'fail_open';
}
