import { httpCall, inParallel, topologiesUnderTest } from '@redis-patterns/testkit';
import {
  type Reply,
  PERIODS,
  sharedPostgres,
  standings,
  leaderboardFixture,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard exact scores on %s, 2 replicas', (kind) => {
  const { lb, url } = leaderboardFixture(kind, { postgres });

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
    // Boards of this attempt only: a retry (retry-once.cjs) must not meet the first one's scores.
    const attempt = Date.now().toString(36);
    for (const [board, mode, expected] of [
      [`concurrent-best-${attempt}`, 'best', best],
      [`concurrent-sum-${attempt}`, 'increment', sum],
    ] as const) {
      const answers = await inParallel(submissions.length, 50, (i) =>
        httpCall<Reply>(url(i), 'POST', `/leaderboards/${board}/scores`, {
          body: { ...submissions[i], mode },
        }),
      );
      expect(
        answers.filter((a) => a.status !== 200).map((a) => [a.status, a.body.code, a.ms]),
      ).toEqual([]);
      for (const period of PERIODS) {
        const page = await httpCall<Reply>(
          url(0),
          'GET',
          `/leaderboards/${board}/top?limit=100&period=${period}`,
        );
        expect(page.body.total).toBe(100);
        const stored = new Map(page.body.entries!.map((e) => [e.playerId, e.score]));
        expect(stored).toEqual(new Map([...expected].sort((a, b) => b[1] - a[1])));
      }
      // PostgreSQL holds the same state: what a rebuild would restore.
      const rows = await lb().pg.query<{ player: string; score: string }>(
        "SELECT player, score FROM lb_scores WHERE board = $1 AND period = 'all'",
        [board],
      );
      expect(new Map(rows.rows.map((row) => [row.player, Number(row.score)]))).toEqual(expected);
    }
  }, 60_000);

  it('keeps scores exact to ±(2^53 − 1) and refuses an increment beyond with 422, writing nothing', async () => {
    const max = Number.MAX_SAFE_INTEGER;
    await httpCall<Reply>(url(0), 'POST', '/leaderboards/overflow/scores', {
      body: { playerId: 'a', score: max },
    });
    const answer = await httpCall<Reply>(url(1), 'POST', '/leaderboards/overflow/scores', {
      body: {
        playerId: 'a',
        score: 1,
        mode: 'increment',
      },
    });
    expect(answer.status).toBe(422);
    expect(answer.body.code).toBe('SCORE_OUT_OF_RANGE');
    const standing = await httpCall<Reply>(
      url(0),
      'GET',
      '/leaderboards/overflow/players/a?period=daily',
    );
    expect(standing.body.score).toBe(max);
    const lowest = await httpCall<Reply>(url(1), 'POST', '/leaderboards/overflow/scores', {
      body: {
        playerId: 'b',
        score: -max,
        mode: 'replace',
      },
    });
    expect(lowest.body).toEqual({ playerId: 'b', score: -max, rank: 2 });
    const down = await httpCall<Reply>(url(0), 'POST', '/leaderboards/overflow/scores', {
      body: {
        playerId: 'b',
        score: -1,
        mode: 'increment',
      },
    });
    expect(down.status).toBe(422);
    // Neighbours one apart at the extremes stay apart: the double is exact there.
    await httpCall<Reply>(url(0), 'POST', '/leaderboards/overflow/scores', {
      body: { playerId: 'c', score: max - 1 },
    });
    expect(await standings(url(1), 'overflow')).toEqual([
      [1, 'a', max],
      [2, 'c', max - 1],
      [3, 'b', -max],
    ]);
  });
});
