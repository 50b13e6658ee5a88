import { breakerProbeKey, limitKeys, rateLimitKeyBuilder } from './rate-limit-keys';
import { parsePolicies } from './rate-limit-policy';

const policies = parsePolicies({
  default: { limit: 10, windowMs: 1000 },
  routes: [
    {
      name: 'two',
      path: '/api/two',
      limits: [
        { limit: 10, windowMs: 1000, algorithm: 'fixed-window' },
        { limit: 1000, windowMs: 3600000, algorithm: 'sliding-window' },
      ],
    },
  ],
});
const two = policies.routes[0];

describe('rate-limit keys', () => {
  const keys = rateLimitKeyBuilder('app');

  it('puts every key under <prefix>:rl:', () => {
    expect(breakerProbeKey(keys)).toMatch(/^app:rl:/);
    expect(limitKeys(keys, policies.default, ['ip:1.2.3.4'])[0]).toMatch(/^app:rl:/);
  });

  it('tags all limits of one subject with {policy:subject}, one key per limit and algorithm', () => {
    const [fixed, sliding] = limitKeys(keys, two, ['ip:1.2.3.4', 'ip:1.2.3.4']);
    expect(fixed).toContain('{two:ip:1.2.3.4}');
    expect(sliding).toContain('{two:ip:1.2.3.4}');
    expect(fixed).toMatch(/0fw$/);
    expect(sliding).toMatch(/1sw$/);
  });

  it('tags limits of different subjects with {policy} alone, each key naming its subject', () => {
    const [byIp, byUser] = limitKeys(keys, two, ['ip:1.2.3.4', 'user:abc']);
    expect(byIp).toContain('{two}');
    expect(byUser).toContain('{two}');
    expect(byIp).toContain('ip:1.2.3.4');
    expect(byUser).toContain('user:abc');
  });

  it('gives the breaker probe a key no client counter can have', () => {
    const probe = breakerProbeKey(keys);
    expect(probe).toContain('breaker-probe');
    expect(limitKeys(keys, policies.default, ['ip:1.2.3.4'])).not.toContain(probe);
  });
});
