import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { type Reply, openStream, leaderboardFixture, sharedPostgres } from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard live top 10 on %s, 2 replicas', (kind) => {
  const { url } = leaderboardFixture(kind, { postgres });

  it('streams a top-10 change made through replica B to an SSE client of replica A', async () => {
    await httpCall<Reply>(url(0), 'POST', '/leaderboards/live/scores', {
      body: { playerId: 'first', score: 10 },
    });
    const stream = await openStream(`${url(0)}/leaderboards/live/stream`);
    try {
      await stream.next((entries) => entries.length === 1 && entries[0].playerId === 'first');
      await httpCall<Reply>(url(1), 'POST', '/leaderboards/live/scores', {
        body: { playerId: 'second', score: 20 },
      });
      await stream.next((entries) => entries[0]?.playerId === 'second');
      await httpCall<Reply>(url(1), 'PUT', '/players/first', { body: { name: 'Grace' } });
      await stream.next((entries) => entries[1]?.name === 'Grace');

      // 40 top-10 changes as fast as they go: at most one event per 100 ms interval, the last
      // state always delivered.
      const before = stream.count();
      const started = Date.now();
      for (let i = 1; i <= 40; i += 1) {
        await httpCall<Reply>(url(1), 'POST', '/leaderboards/live/scores', {
          body: {
            playerId: 'second',
            score: 1,
            mode: 'increment',
          },
        });
      }
      await stream.next((entries) => entries[0]?.score === 60);
      const elapsed = Date.now() - started;
      expect(stream.count() - before).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    } finally {
      stream.close();
    }
  });

  it('sends a period stream only its own period, and a change below the top 10 to nobody', async () => {
    for (let i = 1; i <= 10; i += 1) {
      await httpCall<Reply>(url(i), 'POST', '/leaderboards/quiet/scores', {
        body: {
          playerId: `top${i}`,
          score: 100 + i,
        },
      });
    }
    const daily = await openStream(`${url(0)}/leaderboards/quiet/stream?period=daily`);
    const other = await openStream(`${url(1)}/leaderboards/elsewhere/stream`);
    try {
      await daily.next((entries) => entries.length === 10);
      // Below the top 10: no announcement, so no event.
      await httpCall<Reply>(url(1), 'POST', '/leaderboards/quiet/scores', {
        body: { playerId: 'low', score: 1 },
      });
      // A new leader: one event, on the board's stream only.
      await httpCall<Reply>(url(1), 'POST', '/leaderboards/quiet/scores', {
        body: { playerId: 'lead', score: 500 },
      });
      await daily.next((entries) => entries[0]?.playerId === 'lead');
      // Exactly: a third event within the quiet time fails the test (the change below the top 10).
      await Promise.all([daily.events.exactly(2), other.events.exactly(1)]);
    } finally {
      daily.close();
      other.close();
    }
  });
});
