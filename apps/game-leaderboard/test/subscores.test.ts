import { httpCall, topologiesUnderTest, until } from '@redis-patterns/testkit';
import { type Reply, sharedPostgres, leaderboardFixture, wipeRedis } from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard subscores on %s, 2 replicas', (kind) => {
  const { lb, url } = leaderboardFixture(kind, { postgres });
  const submit = (i: number, board: string, body: Record<string, unknown>) =>
    httpCall<Reply>(url(i), 'POST', `/leaderboards/${board}/scores`, { body });
  /** `[rank, playerId, score, subscore]` of the board's top 100. */
  const table = async (i: number, board: string) => {
    const page = await httpCall<Reply>(url(i), 'GET', `/leaderboards/${board}/top?limit=100`);
    expect(page.status).toBe(200);
    return page.body.entries!.map((e) => [e.rank, e.playerId, e.score, e.subscore]);
  };

  it('compares the subscore after the score and before the arrival, in its own order, on every read', async () => {
    // Higher score first; among equal scores the shorter time; then who Redis took first.
    const put = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/speedrun', {
      body: {
        sort: 'desc',
        operator: 'best',
        reset: 'none',
        subscore: 'asc',
      },
    });
    expect(put.body.subscore).toBe('asc');
    for (const [i, playerId, score, subscore] of [
      [0, 'ann', 100, 50],
      [1, 'bob', 100, 40],
      [0, 'cat', 100, 40], // same score and time as bob, later: below bob
      [1, 'dan', 90, 1],
      [0, 'eve', 100, -5], // negative subscores order too
    ] as const) {
      const answer = await submit(i, 'speedrun', { playerId, score, subscore });
      expect([answer.status, answer.body.subscore]).toEqual([200, subscore]);
    }
    const expected = [
      [1, 'eve', 100, -5],
      [2, 'bob', 100, 40],
      [3, 'cat', 100, 40],
      [4, 'ann', 100, 50],
      [5, 'dan', 90, 1],
    ];
    for (const i of [0, 1]) expect(await table(i, 'speedrun')).toEqual(expected);
    const cat = await httpCall<Reply>(url(1), 'GET', '/leaderboards/speedrun/players/cat');
    expect(cat.body).toMatchObject({ rank: 3, score: 100, subscore: 40, total: 5 });
    const around = await httpCall<Reply>(
      url(0),
      'GET',
      '/leaderboards/speedrun/players/ann/around?radius=1',
    );
    expect(around.body.entries!.map((e) => [e.playerId, e.subscore])).toEqual([
      ['cat', 40],
      ['ann', 50],
      ['dan', 1],
    ]);
    const friends = await httpCall<Reply>(url(1), 'POST', '/leaderboards/speedrun/ranks', {
      body: {
        playerIds: ['dan', 'cat', 'ghost'],
      },
    });
    expect(friends.body.entries!.map((e) => [e.rank, e.playerId, e.subscore])).toEqual([
      [3, 'cat', 40],
      [5, 'dan', 1],
    ]);

    // best keeps the better (score, subscore) pair: a faster time at the same score wins...
    expect(
      (await submit(1, 'speedrun', { playerId: 'ann', score: 100, subscore: -9 })).body,
    ).toMatchObject({ score: 100, subscore: -9, rank: 1 });
    // ...a slower one does not, and neither does a lower score with a faster time.
    await submit(0, 'speedrun', { playerId: 'ann', score: 100, subscore: 60 });
    await submit(0, 'speedrun', { playerId: 'bob', score: 99, subscore: -100 });
    expect((await table(1, 'speedrun')).slice(0, 3)).toEqual([
      [1, 'ann', 100, -9],
      [2, 'eve', 100, -5],
      [3, 'bob', 100, 40],
    ]);
    // A missing subscore is 0.
    expect((await submit(0, 'speedrun', { playerId: 'fay', score: 100 })).body.subscore).toBe(0);
  });

  // A CI run's hostile-input suite found it: on an `asc` subscore, Lua computed 0 as -0 and wrote
  // the key '1-000000000000000', which the lookup scripts could not parse (500 on every read).
  it('finds a player whose subscore is 0 on an asc subscore board, on every lookup', async () => {
    await httpCall<Reply>(url(0), 'PUT', '/leaderboards/laps-zero', {
      body: { sort: 'asc', operator: 'best', reset: 'none', subscore: 'asc' },
    });
    await submit(0, 'laps-zero', { playerId: 'ann', score: 70, subscore: 0 });
    await submit(1, 'laps-zero', { playerId: 'bob', score: 80, subscore: 1 });
    // A better lap time with subscore 0 again replaces ann's entry instead of adding one.
    const better = await submit(1, 'laps-zero', { playerId: 'ann', score: 60 });
    expect([better.status, better.body.rank, better.body.subscore]).toEqual([200, 1, 0]);
    expect(await table(0, 'laps-zero')).toEqual([
      [1, 'ann', 60, 0],
      [2, 'bob', 80, 1],
    ]);
    const ann = await httpCall<Reply>(url(1), 'GET', '/leaderboards/laps-zero/players/ann');
    expect([ann.status, ann.body]).toMatchObject([200, { rank: 1, score: 60, subscore: 0 }]);
    const around = await httpCall<Reply>(
      url(0),
      'GET',
      '/leaderboards/laps-zero/players/ann/around?radius=1',
    );
    expect(around.body.entries!.map((e) => [e.playerId, e.subscore])).toEqual([
      ['ann', 0],
      ['bob', 1],
    ]);
    const friends = await httpCall<Reply>(url(1), 'POST', '/leaderboards/laps-zero/ranks', {
      body: { playerIds: ['ann', 'bob'] },
    });
    expect(friends.body.entries!.map((e) => [e.rank, e.playerId, e.subscore])).toEqual([
      [1, 'ann', 0],
      [2, 'bob', 1],
    ]);
    const removed = await httpCall(url(0), 'DELETE', '/leaderboards/laps-zero/players/ann');
    expect(removed.status).toBe(204);
    expect(await table(1, 'laps-zero')).toEqual([[1, 'bob', 80, 1]]);
  });

  it('adds subscores with increment and subtracts with decrement', async () => {
    for (const operator of ['increment', 'decrement']) {
      const board = `sub-${operator}`;
      await httpCall<Reply>(url(0), 'PUT', `/leaderboards/${board}`, {
        body: {
          sort: 'desc',
          operator,
          reset: 'none',
          subscore: 'desc',
        },
      });
      await submit(0, board, { playerId: 'a', score: 10, subscore: 3 });
      await submit(1, board, { playerId: 'a', score: 5, subscore: 4 });
      await submit(1, board, {
        playerId: 'b',
        score: operator === 'increment' ? 15 : -15,
        subscore: 6,
      });
      const sign = operator === 'increment' ? 1 : -1;
      // Equal scores: the higher subscore (desc) first, whoever came first.
      expect(await table(0, board)).toEqual([
        ...(sign > 0
          ? [
              [1, 'a', 15, 7],
              [2, 'b', 15, 6],
            ]
          : [
              [1, 'b', 15, -6],
              [2, 'a', -15, -7],
            ]),
      ]);
    }
  });

  it('refuses a subscore on a board without one, and a subscore that is not an integer, with 400', async () => {
    await httpCall<Reply>(url(0), 'PUT', '/leaderboards/no-sub', {
      body: {
        sort: 'desc',
        operator: 'best',
        reset: 'none',
      },
    });
    const refused = await submit(0, 'no-sub', { playerId: 'a', score: 1, subscore: 2 });
    expect([refused.status, refused.body.code]).toEqual([400, 'SUBSCORE_NOT_ON_BOARD']);
    const implicit = await submit(1, 'implicit-sub', { playerId: 'a', score: 1, subscore: 2 });
    expect([implicit.status, implicit.body.code]).toEqual([400, 'SUBSCORE_NOT_ON_BOARD']);
    for (const subscore of ['3', true, null, 1.5, 2 ** 53]) {
      const answer = await submit(1, 'speedrun', { playerId: 'z', score: 1, subscore });
      expect([JSON.stringify(subscore), answer.status]).toEqual([JSON.stringify(subscore), 400]);
      expect(answer.body.message).toMatch(/subscore/);
    }
    expect((await httpCall<Reply>(url(0), 'GET', '/leaderboards/speedrun/players/z')).status).toBe(
      404,
    );
    expect((await httpCall<Reply>(url(0), 'GET', '/leaderboards/no-sub/players/a')).status).toBe(
      404,
    );
  });

  it('keeps subscores and their order through a rebuild from PostgreSQL, and archives them', async () => {
    lb().clock.now = Date.parse('2026-11-26T23:00:00Z');
    await httpCall<Reply>(url(0), 'PUT', '/leaderboards/sub-daily', {
      body: {
        sort: 'asc',
        operator: 'best',
        reset: '@daily',
        subscore: 'desc',
      },
    });
    for (const [playerId, score, subscore] of [
      ['a', 7, 1],
      ['b', 7, 2],
      ['c', 5, 0],
      ['d', 7, 2],
    ] as const) {
      expect((await submit(0, 'sub-daily', { playerId, score, subscore })).status).toBe(200);
    }
    const before = await Promise.all([table(0, 'sub-daily'), table(0, 'speedrun')]);
    expect(before[0]).toEqual([
      [1, 'c', 5, 0],
      [2, 'b', 7, 2],
      [3, 'd', 7, 2],
      [4, 'a', 7, 1],
    ]);
    await wipeRedis(lb().topology);
    const rebuilt = await until(
      'both boards rebuilt',
      async () => {
        const pages = await Promise.all(
          ['sub-daily', 'speedrun'].map((board) =>
            httpCall<Reply>(url(1), 'GET', `/leaderboards/${board}/top?limit=100`),
          ),
        );
        return pages.every((page) => page.status === 200)
          ? Promise.all([table(1, 'sub-daily'), table(1, 'speedrun')])
          : undefined;
      },
      20_000,
    );
    expect(rebuilt).toEqual(before);

    lb().clock.now = Date.parse('2026-11-27T00:00:02Z');
    const archived = await until(
      'the day archived',
      async () => {
        const answer = await httpCall<Reply>(
          url(1),
          'GET',
          '/leaderboards/sub-daily/periods/20261126T0000Z/top',
        );
        return answer.status === 200 ? answer.body.entries : undefined;
      },
      15_000,
    );
    expect(archived.map((e) => [e.rank, e.playerId, e.score, e.subscore])).toEqual(before[0]);
  });
});
