import { delay, httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import {
  type Reply,
  PERIODS,
  sharedPostgres,
  standings,
  leaderboardFixture,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())(
  'game-leaderboard ties by arrival on %s, 2 replicas',
  (kind) => {
    const { lb, url } = leaderboardFixture(kind, { postgres });

    it('ranks equal scores by arrival at Redis, 0, 1 and 15 ms apart, with one replica clock running backwards', async () => {
      // Replica 1 lags 10 s and its clock goes back a second at every read (same day still).
      let reads = 0;
      lb().clockOf[1] = () => lb().clock.now - 10_000 - 1000 * reads++;
      try {
        const configured = {
          'ties-daily': { sort: 'desc', operator: 'best', reset: '0 0 * * *' },
          'ties-asc': { sort: 'asc', operator: 'best', reset: 'none' },
          'ties-set': { sort: 'desc', operator: 'set', reset: '@weekly' },
        };
        for (const [board, config] of Object.entries(configured)) {
          expect(
            (await httpCall<Reply>(url(0), 'PUT', `/leaderboards/${board}`, { body: config }))
              .status,
          ).toBe(200);
        }
        const boards = ['ties', ...Object.keys(configured)];
        // Lexical order (amy, mid, zed) differs from the order of arrival (zed, amy, mid); amy
        // goes through the replica whose clock runs backwards.
        const arrivals: Array<[string, number, number]> = [
          ['zed', 0, 0],
          ['amy', 1, 1],
          ['mid', 0, 15],
        ];
        for (const board of boards) {
          for (const [playerId, replica, gapMs] of arrivals) {
            // The spacing is what this test is about: 0, 1 and 15 ms between submissions.
            await delay(gapMs);
            const answer = await httpCall<Reply>(
              url(replica),
              'POST',
              `/leaderboards/${board}/scores`,
              {
                body: {
                  playerId,
                  score: 500,
                },
              },
            );
            expect([board, playerId, answer.status]).toEqual([board, playerId, 200]);
          }
          // Reaching 500 again later (through the backwards clock) keeps the first arrival.
          await httpCall<Reply>(url(1), 'POST', `/leaderboards/${board}/scores`, {
            body: {
              playerId: 'zed',
              score: 500,
            },
          });
        }
        const expected = [
          [1, 'zed', 500],
          [2, 'amy', 500],
          [3, 'mid', 500],
        ];
        for (const i of [0, 1]) {
          for (const period of PERIODS) {
            expect([period, await standings(url(i), 'ties', period)]).toEqual([period, expected]);
          }
          for (const board of Object.keys(configured)) {
            expect([board, await standings(url(i), board)]).toEqual([board, expected]);
          }
          const mid = await httpCall<Reply>(
            url(i),
            'GET',
            '/leaderboards/ties/players/mid?period=daily',
          );
          expect(mid.body).toEqual({ rank: 3, score: 500, total: 3, percentile: 33.33 });
        }
      } finally {
        lb().clockOf[1] = undefined;
      }
    });

    it('ranks who reached an equal total first higher when increments interleave', async () => {
      for (const [playerId, score] of [
        ['zed', 10],
        ['amy', 10],
        ['zed', 490],
        ['amy', 490],
      ] as const) {
        const answer = await httpCall<Reply>(
          url(playerId === 'amy' ? 1 : 0),
          'POST',
          '/leaderboards/sums/scores',
          {
            body: {
              playerId,
              score,
              mode: 'increment',
            },
          },
        );
        expect(answer.status).toBe(200);
      }
      for (const period of PERIODS) {
        expect(await standings(url(1), 'sums', period)).toEqual([
          [1, 'zed', 500],
          [2, 'amy', 500],
        ]);
      }
    });
  },
);
