import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Who an issued API key belongs to. */
export interface Consumer {
  /** Counted as `key:<name>`: every key of one consumer shares its buckets. */
  name: string;
  /** Its policy tier; unset: the default policy. */
  tier?: string;
}

const NAME = '^[a-z0-9][a-z0-9_-]{0,62}$';

/** The JSON of `API_KEYS` or the file of `API_KEYS_FILE`: SHA-256 digests, never keys. */
export const ApiKeyDocument = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
          consumer: Type.String({ pattern: NAME }),
          tier: Type.Optional(Type.String({ pattern: NAME })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The SHA-256 hex digest of a key: what the registry stores (`sha256sum` of the key). */
export function apiKeyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The issued API keys, by digest: a key not in it is refused (401), so a client cannot mint a
 * fresh bucket per request by inventing keys. Only digests are held, so the registry (a
 * ConfigMap or Secret) does not leak usable keys.
 */
export class ApiKeyRegistry {
  private constructor(private readonly byDigest: ReadonlyMap<string, Consumer>) {}

  static empty(): ApiKeyRegistry {
    return new ApiKeyRegistry(new Map());
  }

  /** Validates a registry document; throws naming the first wrong field. */
  static parse(input: unknown): ApiKeyRegistry {
    if (!Value.Check(ApiKeyDocument, input)) {
      const first = Value.Errors(ApiKeyDocument, input).First();
      throw new Error(`${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
    }
    const byDigest = new Map<string, Consumer>();
    for (const [i, entry] of input.keys.entries()) {
      if (byDigest.has(entry.sha256)) throw new Error(`/keys/${i}/sha256 is listed twice`);
      byDigest.set(entry.sha256, { name: entry.consumer, tier: entry.tier });
    }
    return new ApiKeyRegistry(byDigest);
  }

  /** The consumer of `key`, or undefined when it was never issued. */
  lookup(key: string): Consumer | undefined {
    return this.byDigest.get(apiKeyDigest(key));
  }

  /** Every tier a key names, to check against the policies. */
  tiers(): Set<string> {
    return new Set([...this.byDigest.values()].flatMap((c) => (c.tier ? [c.tier] : [])));
  }
}
