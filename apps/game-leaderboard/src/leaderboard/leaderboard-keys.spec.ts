import { keySlot } from '@redis-patterns/testkit';
import { leaderboardKeys } from './leaderboard-keys';

describe('leaderboard keys', () => {
  const keys = leaderboardKeys('lb');

  it('tags every key of one board with the board name: one Cluster slot', () => {
    expect(keys.index('arena', 'all')).toBe('lb:{arena}:all');
    expect(keys.index('arena', 'daily:2026-11-26')).toBe('lb:{arena}:daily:2026-11-26');
    expect(keys.index('arena', 'p:20261126T0000Z')).toBe('lb:{arena}:p:20261126T0000Z');
    expect(keys.arrivals(keys.index('arena', 'all'))).toBe('lb:{arena}:all:m');
    const slots = new Set(
      [
        keys.meta('arena'),
        keys.rebuildLock('arena'),
        keys.index('arena', 'weekly:2026-11-23'),
        keys.arrivals(keys.index('arena', 'monthly:2026-11')),
      ].map(keySlot),
    );
    expect(slots.size).toBe(1);
  });

  it('names the shared keys and the pattern of every key under the prefix', () => {
    expect(keys.meta('arena')).toBe('lb:{arena}:meta');
    expect(keys.rebuildLock('arena')).toBe('lb:{arena}:rebuild');
    expect(keys.names).toBe('lb:names');
    expect(keys.changes).toBe('lb:changes');
    expect(keys.everyKey).toBe('lb:*');
  });

  it('refuses board names that would break the hash tag', () => {
    expect(() => keys.meta('a}b')).toThrow();
    expect(() => keys.index('a b', 'all')).toThrow();
  });
});
