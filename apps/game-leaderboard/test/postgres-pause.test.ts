import { httpCall, topologiesUnderTest, until } from '@redis-patterns/testkit';
import { type Reply, sharedPostgres, leaderboardFixture } from './leaderboard-harness';

const postgres = sharedPostgres();

// Standalone only: there PostgreSQL pauses without a failover in the way.
const kind = 'standalone';
const onStandalone = topologiesUnderTest().includes(kind) ? describe : describe.skip;

onStandalone(`game-leaderboard with PostgreSQL away on ${kind}`, () => {
  const { lb, url } = leaderboardFixture(kind, { postgres });

  it('answers writes 503 while PostgreSQL is away, and keeps serving reads from Redis', async () => {
    await httpCall<Reply>(url(0), 'POST', '/leaderboards/pg-away/scores', {
      body: { playerId: 'a', score: 1 },
    });
    await lb().postgres.pause();
    try {
      const started = Date.now();
      const write = await httpCall<Reply>(url(1), 'POST', '/leaderboards/pg-away/scores', {
        body: {
          playerId: 'b',
          score: 2,
        },
      });
      expect([write.status, write.body.code]).toEqual([503, 'DATABASE_UNAVAILABLE']);
      // The pool's connect timeout or the statement timeout (2 s) plus the client's margin.
      expect(Date.now() - started).toBeLessThan(4000);
      const read = await httpCall<Reply>(url(0), 'GET', '/leaderboards/pg-away/players/a');
      expect(read.status).toBe(200);
      expect((await fetch(`${url(1)}/health/ready`)).status).toBe(200);
    } finally {
      await lb().postgres.resume();
    }
    await until(
      'writes acknowledged again',
      async () => {
        const answer = await httpCall<Reply>(url(1), 'POST', '/leaderboards/pg-away/scores', {
          body: {
            playerId: 'b',
            score: 2,
          },
        });
        return answer.status === 200 ? true : undefined;
      },
      15_000,
    );
    // The retry changed nothing in Redis (the 503 write had run there), yet PostgreSQL now
    // holds the state it acknowledged...
    const row = () =>
      lb().pg.query<{ score: string; xmin: string }>(
        "SELECT score, xmin::text FROM lb_scores WHERE board = 'pg-away' AND player = 'b' AND period = 'all'",
      );
    const recorded = await row();
    expect(Number(recorded.rows[0].score)).toBe(2);
    // ...and a submission that changes nothing PostgreSQL holds writes no row version.
    const worse = await httpCall<Reply>(url(0), 'POST', '/leaderboards/pg-away/scores', {
      body: {
        playerId: 'b',
        score: 1,
      },
    });
    expect([worse.status, worse.body.score]).toEqual([200, 2]);
    expect((await row()).rows[0]).toEqual(recorded.rows[0]);
  }, 30_000);
});
