import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import {
  type Reply,
  PERIODS,
  RETENTION,
  leaderboardFixture,
  sharedPostgres,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard periods on %s, 2 replicas', (kind) => {
  const { lb, url } = leaderboardFixture(kind, { postgres });

  it('rolls the daily board over at midnight UTC, keeps all-time, and expires period keys', async () => {
    lb().clock.now = Date.parse('2026-11-26T23:59:00Z'); // a Thursday
    const submit = await httpCall<Reply>(url(0), 'POST', '/leaderboards/rollover/scores', {
      body: {
        playerId: 'night-owl',
        score: 42,
      },
    });
    expect({ status: submit.status, body: submit.body }).toEqual({
      status: 200,
      body: { playerId: 'night-owl', score: 42, rank: 1 },
    });
    const key = (period: string) => lb().keys.index('rollover', period);
    const ttl = await lb().client.pttl(key('daily:2026-11-26'));
    expect(ttl).toBeGreaterThan(RETENTION.daily);
    expect(ttl).toBeLessThanOrEqual(RETENTION.daily + 60_000);
    expect(await lb().client.pttl(key('weekly:2026-11-23'))).toBeGreaterThan(0);
    expect(await lb().client.pttl(key('monthly:2026-11'))).toBeGreaterThan(0);
    expect(await lb().client.pttl(key('all'))).toBe(-1);

    lb().clock.now = Date.parse('2026-11-27T00:00:30Z');
    const daily = await httpCall<Reply>(url(1), 'GET', '/leaderboards/rollover/top?period=daily');
    expect(daily.body).toEqual({ entries: [], total: 0 });
    expect(
      (
        await httpCall<Reply>(
          url(1),
          'GET',
          '/leaderboards/rollover/players/night-owl?period=daily',
        )
      ).status,
    ).toBe(404);
    for (const period of ['all', 'weekly', 'monthly']) {
      const page = await httpCall<Reply>(
        url(1),
        'GET',
        `/leaderboards/rollover/top?period=${period}`,
      );
      expect(page.body.total).toBe(1);
    }
    await httpCall<Reply>(url(1), 'POST', '/leaderboards/rollover/scores', {
      body: {
        playerId: 'early-bird',
        score: 7,
      },
    });
    const nextDay = await httpCall<Reply>(url(0), 'GET', '/leaderboards/rollover/top?period=daily');
    expect(nextDay.body.entries!.map((e) => e.playerId)).toEqual(['early-bird']);

    // Delete reaches yesterday's retained board too.
    expect(
      (await httpCall<Reply>(url(0), 'DELETE', '/leaderboards/rollover/players/night-owl')).status,
    ).toBe(204);
    expect(await lb().client.zscore(key('daily:2026-11-26'), 'night-owl')).toBeNull();
    for (const period of PERIODS) {
      const standing = await httpCall<Reply>(
        url(1),
        'GET',
        `/leaderboards/rollover/players/night-owl?period=${period}`,
      );
      expect(standing.status).toBe(404);
    }
    expect(
      (await httpCall<Reply>(url(1), 'DELETE', '/leaderboards/rollover/players/night-owl')).status,
    ).toBe(404);
    // The other player is untouched on every board that has it.
    const left = await httpCall<Reply>(url(0), 'GET', '/leaderboards/rollover/players/early-bird');
    expect(left.body).toEqual({ rank: 1, score: 7, total: 1, percentile: 100 });
  });

  it('keeps each month, week and day apart across their boundaries', async () => {
    // Sunday 2026-11-29 23:59 and Monday 2026-11-30 00:01: a new day and week, same month.
    // Then Tuesday 2026-12-01 00:01: a new day and month, same week.
    const steps: Array<[string, string, number]> = [
      ['2026-11-29T23:59:00Z', 'sun', 3],
      ['2026-11-30T00:01:00Z', 'mon', 2],
      ['2026-12-01T00:01:00Z', 'tue', 1],
    ];
    for (const [at, playerId, score] of steps) {
      lb().clock.now = Date.parse(at);
      const answer = await httpCall<Reply>(url(score), 'POST', '/leaderboards/calendar/scores', {
        body: {
          playerId,
          score,
        },
      });
      expect(answer.status).toBe(200);
    }
    const board = async (period: string) =>
      (
        await httpCall<Reply>(url(0), 'GET', `/leaderboards/calendar/top?period=${period}`)
      ).body.entries!.map((e) => e.playerId);
    expect(await board('all')).toEqual(['sun', 'mon', 'tue']);
    expect(await board('daily')).toEqual(['tue']);
    expect(await board('weekly')).toEqual(['mon', 'tue']);
    expect(await board('monthly')).toEqual(['tue']);
    lb().clock.now = Date.parse('2026-11-30T12:00:00Z');
    expect(await board('weekly')).toEqual(['mon', 'tue']);
    expect(await board('monthly')).toEqual(['sun', 'mon']);
    expect(await board('daily')).toEqual(['mon']);
    lb().clock.now = Date.parse('2026-11-26T12:00:00Z');
  });
});
