import { setTimeout as sleep } from 'node:timers/promises';
import { topologiesUnderTest } from '@redis-patterns/testkit';
import {
  call,
  inPool,
  PERIODS,
  sharedPostgres,
  standings,
  startLeaderboard,
  type Leaderboard,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard scores on %s, 2 replicas', (kind) => {
  let lb: Leaderboard;
  const url = (i: number) => lb.url(i);

  beforeAll(async () => {
    lb = await startLeaderboard(kind, { postgres: postgres() });
  }, 60_000);

  afterAll(async () => {
    await lb?.close();
  });

  it('keeps exactly each player maximum (best) and sum (increment) under 1,000 concurrent submissions', async () => {
    const players = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const submissions = Array.from({ length: 1000 }, (_, i) => ({
      playerId: players[i % 100],
      score: Math.floor(Math.random() * 2_000_000) - 1_000_000,
    }));
    const best = new Map<string, number>();
    const sum = new Map<string, number>();
    for (const { playerId, score } of submissions) {
      best.set(playerId, Math.max(best.get(playerId) ?? -Infinity, score));
      sum.set(playerId, (sum.get(playerId) ?? 0) + score);
    }
    for (const [board, mode, expected] of [
      ['concurrent-best', 'best', best],
      ['concurrent-sum', 'increment', sum],
    ] as const) {
      const answers = await inPool(
        submissions.map(
          (submission, i) => () =>
            call(url(i), 'POST', `/leaderboards/${board}/scores`, { ...submission, mode }),
        ),
        50,
      );
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      for (const period of PERIODS) {
        const page = await call(
          url(0),
          'GET',
          `/leaderboards/${board}/top?limit=100&period=${period}`,
        );
        expect(page.body.total).toBe(100);
        const stored = new Map(page.body.entries!.map((e) => [e.playerId, e.score]));
        expect(stored).toEqual(new Map([...expected].sort((a, b) => b[1] - a[1])));
      }
      // PostgreSQL holds the same state: what a rebuild would restore.
      const rows = await lb.pg.query<{ player: string; score: string }>(
        "SELECT player, score FROM lb_scores WHERE board = $1 AND period = 'all'",
        [board],
      );
      expect(new Map(rows.rows.map((row) => [row.player, Number(row.score)]))).toEqual(expected);
    }
  }, 60_000);

  it('ranks equal scores by arrival at Redis, 0, 1 and 15 ms apart, with one replica clock running backwards', async () => {
    // Replica 1 lags 10 s and its clock goes back a second at every read (same day still).
    let reads = 0;
    lb.clockOf[1] = () => lb.clock.now - 10_000 - 1000 * reads++;
    try {
      const configured = {
        'ties-daily': { sort: 'desc', operator: 'best', reset: '0 0 * * *' },
        'ties-asc': { sort: 'asc', operator: 'best', reset: 'none' },
        'ties-set': { sort: 'desc', operator: 'set', reset: '@weekly' },
      };
      for (const [board, config] of Object.entries(configured)) {
        expect((await call(url(0), 'PUT', `/leaderboards/${board}`, config)).status).toBe(200);
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
          await sleep(gapMs);
          const answer = await call(url(replica), 'POST', `/leaderboards/${board}/scores`, {
            playerId,
            score: 500,
          });
          expect([board, playerId, answer.status]).toEqual([board, playerId, 200]);
        }
        // Reaching 500 again later (through the backwards clock) keeps the first arrival.
        await call(url(1), 'POST', `/leaderboards/${board}/scores`, {
          playerId: 'zed',
          score: 500,
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
        const mid = await call(url(i), 'GET', '/leaderboards/ties/players/mid?period=daily');
        expect(mid.body).toEqual({ rank: 3, score: 500, total: 3, percentile: 33.33 });
      }
    } finally {
      lb.clockOf[1] = undefined;
    }
  });

  it('ranks who reached an equal total first higher when increments interleave', async () => {
    for (const [playerId, score] of [
      ['zed', 10],
      ['amy', 10],
      ['zed', 490],
      ['amy', 490],
    ] as const) {
      const answer = await call(
        url(playerId === 'amy' ? 1 : 0),
        'POST',
        '/leaderboards/sums/scores',
        {
          playerId,
          score,
          mode: 'increment',
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

  it('keeps scores exact to ±(2^53 − 1) and refuses an increment beyond with 422, writing nothing', async () => {
    const max = Number.MAX_SAFE_INTEGER;
    await call(url(0), 'POST', '/leaderboards/overflow/scores', { playerId: 'a', score: max });
    const answer = await call(url(1), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'a',
      score: 1,
      mode: 'increment',
    });
    expect(answer.status).toBe(422);
    expect(answer.body.code).toBe('SCORE_OUT_OF_RANGE');
    const standing = await call(url(0), 'GET', '/leaderboards/overflow/players/a?period=daily');
    expect(standing.body.score).toBe(max);
    const lowest = await call(url(1), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'b',
      score: -max,
      mode: 'replace',
    });
    expect(lowest.body).toEqual({ playerId: 'b', score: -max, rank: 2 });
    const down = await call(url(0), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'b',
      score: -1,
      mode: 'increment',
    });
    expect(down.status).toBe(422);
    // Neighbours one apart at the extremes stay apart: the double is exact there.
    await call(url(0), 'POST', '/leaderboards/overflow/scores', { playerId: 'c', score: max - 1 });
    expect(await standings(url(1), 'overflow')).toEqual([
      [1, 'a', max],
      [2, 'c', max - 1],
      [3, 'b', -max],
    ]);
  });
});
