import { LocalLimiter } from './local-limiter';
import type { LimitCall } from './rate-limit-scripts';
import type { Limit } from './rate-limit-policy';

const limit = (overrides: Partial<Limit>): Limit => ({
  algorithm: 'gcra',
  limit: 9,
  windowMs: 1000,
  burst: 9,
  leaseMs: 1000,
  by: 'consumer',
  ...overrides,
});
const call = (key: string, spec: Partial<Limit>, member = 'm'): LimitCall => ({
  key,
  limit: limit(spec),
  cost: 1,
  member,
});

describe('LocalLimiter', () => {
  let time = 0;
  const limiter = new LocalLimiter(3, () => time);
  afterAll(() => limiter.close());

  it('admits limit / replicas per window, then again in the next window', () => {
    const decide = () => limiter.decide([call('a', {})]).allowed;
    expect([decide(), decide(), decide(), decide()]).toEqual([true, true, true, false]);
    time = 1001;
    expect(decide()).toBe(true);
  });

  it('counts a request in no limit when one refuses', () => {
    const tight = call('t', { limit: 3 });
    const loose = call('l', { limit: 300 });
    expect(limiter.decide([tight, loose]).allowed).toBe(true);
    expect(limiter.decide([tight, loose]).allowed).toBe(false);
    expect(limiter.decide([loose]).limits[0].remaining).toBe(100 - 2);
  });

  it('holds concurrency slots until released', () => {
    const slot = (member: string) => call('c', { algorithm: 'concurrency', limit: 6 }, member);
    expect(limiter.decide([slot('x')]).allowed).toBe(true);
    expect(limiter.decide([slot('y')]).allowed).toBe(true);
    expect(limiter.decide([slot('z')]).allowed).toBe(false);
    limiter.release('c', 'x');
    expect(limiter.decide([slot('z')]).allowed).toBe(true);
  });
});
