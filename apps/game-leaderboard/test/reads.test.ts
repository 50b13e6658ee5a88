import { httpCall, inParallel, topologiesUnderTest } from '@redis-patterns/testkit';
import {} from '../src/leaderboard/seed-board';
import { type Reply, leaderboardFixture, type Answer, sharedPostgres } from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard reads on %s, 2 replicas', (kind) => {
  const { url } = leaderboardFixture(kind, { postgres });

  describe('a board of 20 players', () => {
    beforeAll(async () => {
      // p01 has the highest score: rank n is player p<n>.
      await inParallel(20, 20, (i) =>
        httpCall<Reply>(url(i), 'POST', '/leaderboards/reads/scores', {
          body: { playerId: `p${String(i + 1).padStart(2, '0')}`, score: 1000 - i },
        }),
      );
      await httpCall<Reply>(url(0), 'PUT', '/players/p01', { body: { name: ' Ada ' } });
    });

    const ranksOf = (answer: Answer) => answer.body.entries!.map((e) => e.rank);

    it('around-me fills from the other side at rank 1 and at the last rank', async () => {
      const first = await httpCall<Reply>(
        url(0),
        'GET',
        '/leaderboards/reads/players/p01/around?radius=3',
      );
      expect(first.body.rank).toBe(1);
      expect(ranksOf(first)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(first.body.entries![0]).toEqual({
        rank: 1,
        playerId: 'p01',
        name: 'Ada',
        score: 1000,
      });
      const last = await httpCall<Reply>(
        url(1),
        'GET',
        '/leaderboards/reads/players/p20/around?radius=3',
      );
      expect(ranksOf(last)).toEqual([14, 15, 16, 17, 18, 19, 20]);
      const middle = await httpCall<Reply>(
        url(0),
        'GET',
        '/leaderboards/reads/players/p10/around?radius=3',
      );
      expect(ranksOf(middle)).toEqual([7, 8, 9, 10, 11, 12, 13]);
      expect(middle.body.entries!.map((e) => e.playerId)[3]).toBe('p10');
      const all = await httpCall<Reply>(
        url(1),
        'GET',
        '/leaderboards/reads/players/p05/around?radius=50',
      );
      expect(ranksOf(all)).toHaveLength(20);
      expect(
        (await httpCall<Reply>(url(0), 'GET', '/leaderboards/reads/players/nobody/around')).status,
      ).toBe(404);
    });

    it('paginates with offset and reports the total', async () => {
      const pages = await Promise.all(
        [0, 7, 14].map((offset) =>
          httpCall<Reply>(url(offset), 'GET', `/leaderboards/reads/top?limit=7&offset=${offset}`),
        ),
      );
      expect(pages.map((page) => page.body.total)).toEqual([20, 20, 20]);
      expect(pages.flatMap(ranksOf)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const beyond = await httpCall<Reply>(url(1), 'GET', '/leaderboards/reads/top?offset=20');
      expect(beyond.body).toEqual({ entries: [], total: 20 });
    });

    it('ranks a friends list best first and lists unknown ids apart', async () => {
      const friends = await httpCall<Reply>(url(1), 'POST', '/leaderboards/reads/ranks', {
        body: {
          playerIds: ['p12', 'ghost', 'p01', 'p12', 'p03'],
        },
      });
      expect(friends.body).toEqual({
        entries: [
          { rank: 1, playerId: 'p01', name: 'Ada', score: 1000 },
          { rank: 3, playerId: 'p03', name: null, score: 998 },
          { rank: 12, playerId: 'p12', name: null, score: 989 },
        ],
        unknown: ['ghost'],
      });
      const strangers = await httpCall<Reply>(url(0), 'POST', '/leaderboards/reads/ranks', {
        body: {
          playerIds: ['ghost'],
        },
      });
      expect(strangers.body).toEqual({ entries: [], unknown: ['ghost'] });
    });

    it('reports rank, score, total and percentile, and counts reads in /metrics', async () => {
      const standing = await httpCall<Reply>(url(0), 'GET', '/leaderboards/reads/players/p05');
      expect(standing.body).toEqual({ rank: 5, score: 996, total: 20, percentile: 80 });
      const metrics = await (await fetch(`${url(0)}/metrics`)).text();
      expect(metrics).toMatch(/leaderboard_queries_total\{kind="rank"\} [1-9]/);
      expect(metrics).toMatch(/leaderboard_updates_total\{operator="best"\} [1-9]/);
    });
  });
});
