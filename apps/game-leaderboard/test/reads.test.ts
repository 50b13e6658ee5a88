import { topologiesUnderTest, until } from '@redis-patterns/testkit';
import { seedBoard, seededPlayerId } from '../src/leaderboard/seed-board';
import {
  call,
  inPool,
  keysMatching,
  openStream,
  PERIODS,
  RETENTION,
  startLeaderboard,
  type Answer,
  type Leaderboard,
  sharedPostgres,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard reads on %s, 2 replicas', (kind) => {
  let lb: Leaderboard;
  const url = (i: number) => lb.url(i);

  beforeAll(async () => {
    lb = await startLeaderboard(kind, { postgres: postgres() });
  }, 60_000);

  afterAll(async () => {
    await lb?.close();
  });

  describe('a board of 20 players', () => {
    beforeAll(async () => {
      // p01 has the highest score: rank n is player p<n>.
      await inPool(
        Array.from(
          { length: 20 },
          (_, i) => () =>
            call(url(i), 'POST', '/leaderboards/reads/scores', {
              playerId: `p${String(i + 1).padStart(2, '0')}`,
              score: 1000 - i,
            }),
        ),
        20,
      );
      await call(url(0), 'PUT', '/players/p01', { name: ' Ada ' });
    });

    const ranksOf = (answer: Answer) => answer.body.entries!.map((e) => e.rank);

    it('around-me fills from the other side at rank 1 and at the last rank', async () => {
      const first = await call(url(0), 'GET', '/leaderboards/reads/players/p01/around?radius=3');
      expect(first.body.rank).toBe(1);
      expect(ranksOf(first)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(first.body.entries![0]).toEqual({
        rank: 1,
        playerId: 'p01',
        name: 'Ada',
        score: 1000,
      });
      const last = await call(url(1), 'GET', '/leaderboards/reads/players/p20/around?radius=3');
      expect(ranksOf(last)).toEqual([14, 15, 16, 17, 18, 19, 20]);
      const middle = await call(url(0), 'GET', '/leaderboards/reads/players/p10/around?radius=3');
      expect(ranksOf(middle)).toEqual([7, 8, 9, 10, 11, 12, 13]);
      expect(middle.body.entries!.map((e) => e.playerId)[3]).toBe('p10');
      const all = await call(url(1), 'GET', '/leaderboards/reads/players/p05/around?radius=50');
      expect(ranksOf(all)).toHaveLength(20);
      expect((await call(url(0), 'GET', '/leaderboards/reads/players/nobody/around')).status).toBe(
        404,
      );
    });

    it('paginates with offset and reports the total', async () => {
      const pages = await Promise.all(
        [0, 7, 14].map((offset) =>
          call(url(offset), 'GET', `/leaderboards/reads/top?limit=7&offset=${offset}`),
        ),
      );
      expect(pages.map((page) => page.body.total)).toEqual([20, 20, 20]);
      expect(pages.flatMap(ranksOf)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const beyond = await call(url(1), 'GET', '/leaderboards/reads/top?offset=20');
      expect(beyond.body).toEqual({ entries: [], total: 20 });
    });

    it('ranks a friends list best first and lists unknown ids apart', async () => {
      const friends = await call(url(1), 'POST', '/leaderboards/reads/ranks', {
        playerIds: ['p12', 'ghost', 'p01', 'p12', 'p03'],
      });
      expect(friends.body).toEqual({
        entries: [
          { rank: 1, playerId: 'p01', name: 'Ada', score: 1000 },
          { rank: 3, playerId: 'p03', name: null, score: 998 },
          { rank: 12, playerId: 'p12', name: null, score: 989 },
        ],
        unknown: ['ghost'],
      });
      const strangers = await call(url(0), 'POST', '/leaderboards/reads/ranks', {
        playerIds: ['ghost'],
      });
      expect(strangers.body).toEqual({ entries: [], unknown: ['ghost'] });
    });

    it('reports rank, score, total and percentile, and counts reads in /metrics', async () => {
      const standing = await call(url(0), 'GET', '/leaderboards/reads/players/p05');
      expect(standing.body).toEqual({ rank: 5, score: 996, total: 20, percentile: 80 });
      const metrics = await (await fetch(`${url(0)}/metrics`)).text();
      expect(metrics).toMatch(/leaderboard_queries_total\{kind="rank"\} [1-9]/);
      expect(metrics).toMatch(/leaderboard_updates_total\{operator="best"\} [1-9]/);
    });
  });

  it('submits, reads, streams and deletes on boards owned by different masters', async () => {
    // On a Cluster these three boards' slots fall in the three thirds of the slot space.
    const boards = ['alpha', 'delta', 'beta'];
    const masters = await Promise.all(
      boards.map((board) => lb.topology.master(lb.keys.index(board, 'all'))),
    );
    expect(new Set(masters).size).toBe(kind === 'cluster' ? 3 : 1);
    for (const board of boards) {
      // Opened on replica 0 before any write; every submission goes through replica 1.
      const stream = await openStream(`${url(0)}/leaderboards/${board}/stream`);
      try {
        for (const [i, playerId] of ['p1', 'p2', 'p3'].entries()) {
          const answer = await call(url(1), 'POST', `/leaderboards/${board}/scores`, {
            playerId,
            score: 10 * (i + 1),
            mode: 'increment',
          });
          expect(answer.status).toBe(200);
        }
        await stream.next((entries) => entries.map((e) => e.playerId).join() === 'p3,p2,p1');
        const top = await call(url(1), 'GET', `/leaderboards/${board}/top?period=weekly`);
        expect(top.body.entries!.map((e) => e.playerId)).toEqual(['p3', 'p2', 'p1']);
        const around = await call(url(0), 'GET', `/leaderboards/${board}/players/p1/around`);
        expect(around.body.rank).toBe(3);
        const friends = await call(url(1), 'POST', `/leaderboards/${board}/ranks`, {
          playerIds: ['p1', 'nobody'],
        });
        expect(friends.body.unknown).toEqual(['nobody']);
        expect((await call(url(0), 'DELETE', `/leaderboards/${board}/players/p1`)).status).toBe(
          204,
        );
        await stream.next((entries) => entries.map((e) => e.playerId).join() === 'p3,p2');
      } finally {
        stream.close();
      }
    }
  });

  it('seeds N players into PostgreSQL; the index is rebuilt on first read, on every period', async () => {
    await seedBoard(lb.pg, {
      board: 'seeded',
      players: 5000,
      batch: 300,
      nowMs: lb.clock.now,
      retentionMs: RETENTION,
    });
    // The first reads may answer 503 BOARD_REBUILDING while one replica loads 4 x 5,000 rows.
    await until(
      'the seeded board to be readable',
      async () => {
        const answer = await call(url(0), 'GET', '/leaderboards/seeded/top');
        if (answer.status === 200) return true;
        expect([answer.status, answer.body.code]).toEqual([503, 'BOARD_REBUILDING']);
        return undefined;
      },
      20_000,
    );
    for (const period of PERIODS) {
      const page = await call(url(1), 'GET', `/leaderboards/seeded/top?limit=100&period=${period}`);
      expect(page.body.total).toBe(5000);
      const scores = page.body.entries!.map((e) => e.score as number);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    }
    const someone = await call(
      url(0),
      'GET',
      `/leaderboards/seeded/players/${seededPlayerId(4321)}`,
    );
    expect(someone.body.total).toBe(5000);
    const around = await call(
      url(0),
      'GET',
      `/leaderboards/seeded/players/${seededPlayerId(4321)}/around?radius=1`,
    );
    expect(around.body.entries!.find((e) => e.playerId === seededPlayerId(4321))?.name).toBe(
      'Player 4321',
    );
    expect(await lb.client.pttl(lb.keys.index('seeded', 'daily:2026-11-26'))).toBeGreaterThan(0);
  });

  it('rejects bad input with 400 naming the field and writes nothing', async () => {
    const keyCount = async () => (await keysMatching(lb.client, lb.keys.everyKey)).length;
    const keysBefore = await keyCount();
    const namesBefore = await lb.client.hlen(lb.keys.names);
    const badSubmissions: Array<[string, unknown, RegExp]> = [
      ['/leaderboards/bad/scores', '{"playerId":"a","score":NaN}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":Infinity}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":1e400}', /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1.5 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 2 ** 53 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: -(2 ** 53) }, /score/],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":9007199254740993}', /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: '12' }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: true }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a' }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1, mode: 'max' }, /mode/],
      ['/leaderboards/bad/scores', { playerId: 'a b', score: 1 }, /playerId/],
      ['/leaderboards/bad/scores', { playerId: 'x'.repeat(65), score: 1 }, /playerId/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1, extra: 1 }, /extra|additional/],
      ['/leaderboards/Bad/scores', { playerId: 'a', score: 1 }, /board/],
      ['/leaderboards/a.b/scores', { playerId: 'a', score: 1 }, /board/],
      [`/leaderboards/${'b'.repeat(65)}/scores`, { playerId: 'a', score: 1 }, /board/],
      ['/leaderboards/bad/ranks', { playerIds: [] }, /playerIds/],
      [
        '/leaderboards/bad/ranks',
        { playerIds: Array.from({ length: 101 }, (_, i) => `p${i}`) },
        /playerIds/,
      ],
    ];
    for (const [path, body, message] of badSubmissions) {
      const answer = await call(url(0), 'POST', path, body);
      expect([path, body, answer.status]).toEqual([path, body, 400]);
      expect(answer.body.message).toMatch(message);
    }
    for (const [path, message] of [
      ['/leaderboards/bad/top?limit=0', /limit/],
      ['/leaderboards/bad/top?limit=1000', /limit/],
      ['/leaderboards/bad/top?offset=-1', /offset/],
      ['/leaderboards/bad/top?period=yearly', /period/],
      ['/leaderboards/bad/players/a/around?radius=51', /radius/],
      ['/leaderboards/bad/players/a%20b', /playerId/],
    ] as const) {
      const answer = await call(url(1), 'GET', path);
      expect([path, answer.status]).toEqual([path, 400]);
      expect(answer.body.message).toMatch(message);
    }
    for (const name of [
      '',
      '   ',
      'tab\there',
      'esc\u001b[31m',
      'del\u007f',
      'nul\u0000',
      'c1\u009b',
      'n'.repeat(65),
    ]) {
      const answer = await call(url(1), 'PUT', '/players/a', { name });
      expect([name, answer.status]).toEqual([name, 400]);
    }
    expect(await keyCount()).toBe(keysBefore);
    expect(await lb.client.hlen(lb.keys.names)).toBe(namesBefore);
  });
});
