import { leaderboardKeys } from './leaderboard-keys';

const DAY = 86_400_000;

describe('leaderboard keys', () => {
  const keys = leaderboardKeys('lb');
  const now = Date.parse('2026-11-26T10:00:00Z');

  it('tags every period of one board with the board name', () => {
    expect(keys.board('arena', 'all', now)).toBe('lb:{arena}:all');
    expect(keys.board('arena', 'daily', now)).toBe('lb:{arena}:daily:2026-11-26');
    expect(keys.board('arena', 'weekly', now)).toBe('lb:{arena}:weekly:2026-11-23');
    expect(keys.board('arena', 'monthly', now)).toBe('lb:{arena}:monthly:2026-11');
  });

  it('lists the retained period boards for a delete', () => {
    const boards = keys.retainedBoards('arena', now, { daily: DAY, weekly: 0, monthly: 0 });
    expect(boards).toEqual([
      'lb:{arena}:all',
      'lb:{arena}:daily:2026-11-26',
      'lb:{arena}:daily:2026-11-25',
      'lb:{arena}:weekly:2026-11-23',
      'lb:{arena}:monthly:2026-11',
    ]);
  });
});
