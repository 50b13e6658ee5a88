import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { type Reply, sharedPostgres, standings, leaderboardFixture } from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())(
  'game-leaderboard board operators and sort order on %s, 2 replicas',
  (kind) => {
    const { url } = leaderboardFixture(kind, { postgres });
    const submit = (i: number, board: string, body: Record<string, unknown>) =>
      httpCall<Reply>(url(i), 'POST', `/leaderboards/${board}/scores`, { body });

    it('ranks the lowest first on an asc board, keeping the best (lowest) lap', async () => {
      await httpCall<Reply>(url(0), 'PUT', '/leaderboards/sprint', {
        body: {
          sort: 'asc',
          operator: 'best',
          reset: 'none',
        },
      });
      for (const [i, playerId, score] of [
        [0, 'ann', 61_250],
        [1, 'bob', 59_900],
        [0, 'cat', 60_000],
        [1, 'ann', 58_000], // better: lower
        [0, 'bob', 65_000], // worse: kept at 59,900
      ] as const) {
        expect((await submit(i, 'sprint', { playerId, score })).status).toBe(200);
      }
      for (const i of [0, 1]) {
        expect(await standings(url(i), 'sprint')).toEqual([
          [1, 'ann', 58_000],
          [2, 'bob', 59_900],
          [3, 'cat', 60_000],
        ]);
      }
      const bob = await httpCall<Reply>(url(1), 'GET', '/leaderboards/sprint/players/bob');
      expect(bob.body).toEqual({ rank: 2, score: 59_900, total: 3, percentile: 66.67 });
      const around = await httpCall<Reply>(
        url(0),
        'GET',
        '/leaderboards/sprint/players/cat/around?radius=0',
      );
      expect(around.body).toEqual({
        rank: 3,
        total: 3,
        entries: [{ rank: 3, playerId: 'cat', name: null, score: 60_000 }],
      });
      const friends = await httpCall<Reply>(url(1), 'POST', '/leaderboards/sprint/ranks', {
        body: {
          playerIds: ['cat', 'ann'],
        },
      });
      expect(friends.body.entries!.map((e) => [e.rank, e.playerId])).toEqual([
        [1, 'ann'],
        [3, 'cat'],
      ]);
    });

    it('applies the board operator: decrement subtracts, set replaces, increment adds', async () => {
      await httpCall<Reply>(url(0), 'PUT', '/leaderboards/lives', {
        body: {
          sort: 'desc',
          operator: 'decrement',
          reset: 'none',
        },
      });
      await httpCall<Reply>(url(1), 'PUT', '/leaderboards/latest', {
        body: {
          sort: 'desc',
          operator: 'set',
          reset: 'none',
        },
      });
      await httpCall<Reply>(url(0), 'PUT', '/leaderboards/coins', {
        body: {
          sort: 'desc',
          operator: 'increment',
          reset: '@daily',
        },
      });
      for (const [board, amounts, expected] of [
        ['lives', [-10, 3, 2], 5],
        ['latest', [40, 90, 10], 10],
        ['coins', [5, 7, -2], 10],
      ] as const) {
        let last = 0;
        for (const [i, score] of amounts.entries()) {
          const answer = await submit(i, board, { playerId: 'p', score });
          expect(answer.status).toBe(200);
          last = answer.body.score as number;
        }
        expect([board, last]).toEqual([board, expected]);
        expect([board, await standings(url(1), board)]).toEqual([board, [[1, 'p', expected]]]);
      }
      // A configured board refuses another operator per request.
      const override = await submit(0, 'lives', { playerId: 'p', score: 1, mode: 'increment' });
      expect([override.status, override.body.code]).toEqual([400, 'OPERATOR_FIXED']);
      const same = await submit(1, 'latest', { playerId: 'p', score: 11, mode: 'replace' });
      expect(same.status).toBe(200);
    });

    it('keeps implicit boards as they were: desc/best, per-request mode, daily/weekly/monthly views', async () => {
      await submit(0, 'plain', { playerId: 'a', score: 10 });
      await submit(1, 'plain', { playerId: 'a', score: 5, mode: 'increment' });
      for (const period of ['all', 'daily', 'weekly', 'monthly']) {
        expect(await standings(url(0), 'plain', period)).toEqual([[1, 'a', 15]]);
      }
      // A configured board has one live period; the calendar views are refused.
      const view = await httpCall<Reply>(url(1), 'GET', '/leaderboards/sprint/top?period=daily');
      expect([view.status, view.body.code]).toEqual([400, 'PERIOD_NOT_ON_BOARD']);
      expect(
        (await httpCall<Reply>(url(1), 'GET', '/leaderboards/sprint/top?period=current')).status,
      ).toBe(200);
    });
  },
);
