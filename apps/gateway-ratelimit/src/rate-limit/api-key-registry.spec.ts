import { ApiKeyRegistry, apiKeyDigest } from './api-key-registry';

const KEY = 'partner-0123456789abcdef';

describe('ApiKeyRegistry', () => {
  const registry = ApiKeyRegistry.parse({
    keys: [{ sha256: apiKeyDigest(KEY), consumer: 'acme', tier: 'partner' }],
  });

  it('finds an issued key by its digest and nothing else', () => {
    expect(registry.lookup(KEY)).toEqual({ name: 'acme', tier: 'partner' });
    expect(registry.lookup('invented-0123456789abcdef')).toBeUndefined();
    expect(registry.tiers()).toEqual(new Set(['partner']));
  });

  it('holds digests only and names a wrong field', () => {
    expect(() => ApiKeyRegistry.parse({ keys: [{ sha256: KEY, consumer: 'acme' }] })).toThrow(
      /\/keys\/0\/sha256/,
    );
    expect(() =>
      ApiKeyRegistry.parse({
        keys: [
          { sha256: apiKeyDigest(KEY), consumer: 'a' },
          { sha256: apiKeyDigest(KEY), consumer: 'b' },
        ],
      }),
    ).toThrow(/listed twice/);
    expect(() => ApiKeyRegistry.parse({ apiKeys: {} })).toThrow();
  });
});
