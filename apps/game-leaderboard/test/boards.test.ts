import { topologiesUnderTest } from '@redis-patterns/testkit';
import {
  call,
  sharedPostgres,
  standings,
  startLeaderboard,
  type Leaderboard,
} from './leaderboard-harness';

const postgres = sharedPostgres();
/** A board configured without a subscore or a webhook shows both as null. */
const noExtras = { subscore: null, webhook: null };

describe.each(topologiesUnderTest())(
  'game-leaderboard configured boards on %s, 2 replicas',
  (kind) => {
    let lb: Leaderboard;
    const url = (i: number) => lb.url(i);
    const submit = (i: number, board: string, body: Record<string, unknown>) =>
      call(url(i), 'POST', `/leaderboards/${board}/scores`, body);

    beforeAll(async () => {
      lb = await startLeaderboard(kind, { postgres: postgres() });
    }, 60_000);

    afterAll(async () => {
      await lb?.close();
    });

    it('creates a board with a configuration, the same through every replica and in PostgreSQL', async () => {
      const config = {
        sort: 'asc',
        operator: 'best',
        reset: '0 0 * * 1',
        metadata: { title: 'Lap times', track: { id: 7, laps: 3 } },
        archiveTop: 50,
      };
      const created = await call(url(0), 'PUT', '/leaderboards/laps', config);
      expect(created).toEqual({
        status: 200,
        body: { board: 'laps', implicit: false, scored: false, ...config, ...noExtras },
      });
      const seen = await call(url(1), 'GET', '/leaderboards/laps');
      expect(seen.body).toEqual({
        board: 'laps',
        implicit: false,
        scored: false,
        ...config,
        ...noExtras,
      });
      const row = await lb.pg.query('SELECT config FROM lb_boards WHERE board = $1', ['laps']);
      expect(row.rows[0].config).toEqual({ ...config, reset: '0 0 * * 1' });
      expect((await call(url(1), 'GET', '/leaderboards/never-seen')).status).toBe(404);
    });

    it('ranks the lowest first on an asc board, keeping the best (lowest) lap', async () => {
      await call(url(0), 'PUT', '/leaderboards/sprint', {
        sort: 'asc',
        operator: 'best',
        reset: 'none',
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
      const bob = await call(url(1), 'GET', '/leaderboards/sprint/players/bob');
      expect(bob.body).toEqual({ rank: 2, score: 59_900, total: 3, percentile: 66.67 });
      const around = await call(url(0), 'GET', '/leaderboards/sprint/players/cat/around?radius=0');
      expect(around.body).toEqual({
        rank: 3,
        total: 3,
        entries: [{ rank: 3, playerId: 'cat', name: null, score: 60_000 }],
      });
      const friends = await call(url(1), 'POST', '/leaderboards/sprint/ranks', {
        playerIds: ['cat', 'ann'],
      });
      expect(friends.body.entries!.map((e) => [e.rank, e.playerId])).toEqual([
        [1, 'ann'],
        [3, 'cat'],
      ]);
    });

    it('applies the board operator: decrement subtracts, set replaces, increment adds', async () => {
      await call(url(0), 'PUT', '/leaderboards/lives', {
        sort: 'desc',
        operator: 'decrement',
        reset: 'none',
      });
      await call(url(1), 'PUT', '/leaderboards/latest', {
        sort: 'desc',
        operator: 'set',
        reset: 'none',
      });
      await call(url(0), 'PUT', '/leaderboards/coins', {
        sort: 'desc',
        operator: 'increment',
        reset: '@daily',
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

    it('refuses a conflicting PUT with 409 once a board has scores; an identical PUT is 200', async () => {
      const config = { sort: 'desc', operator: 'best', reset: 'none' };
      expect((await call(url(0), 'PUT', '/leaderboards/fixed', config)).status).toBe(200);
      // Before any score a configuration may still change.
      const changed = { ...config, operator: 'increment' };
      expect((await call(url(1), 'PUT', '/leaderboards/fixed', changed)).status).toBe(200);
      expect((await submit(0, 'fixed', { playerId: 'p', score: 5 })).body.score).toBe(5);
      expect((await submit(1, 'fixed', { playerId: 'p', score: 5 })).body.score).toBe(10);
      const conflict = await call(url(0), 'PUT', '/leaderboards/fixed', config);
      expect([conflict.status, conflict.body.code]).toEqual([409, 'BOARD_HAS_SCORES']);
      expect((await call(url(1), 'PUT', '/leaderboards/fixed', changed)).status).toBe(200);
      expect((await call(url(1), 'GET', '/leaderboards/fixed')).body.operator).toBe('increment');
      // An implicit board with scores is desc/best: configuring it is a conflict too.
      await submit(0, 'was-implicit', { playerId: 'p', score: 1 });
      const late = await call(url(1), 'PUT', '/leaderboards/was-implicit', config);
      expect([late.status, late.body.code]).toEqual([409, 'BOARD_HAS_SCORES']);
      const view = await call(url(0), 'GET', '/leaderboards/was-implicit');
      expect(view.body).toMatchObject({
        implicit: true,
        scored: true,
        sort: 'desc',
        operator: 'best',
      });
    });

    it('keeps implicit boards as they were: desc/best, per-request mode, daily/weekly/monthly views', async () => {
      await submit(0, 'plain', { playerId: 'a', score: 10 });
      await submit(1, 'plain', { playerId: 'a', score: 5, mode: 'increment' });
      for (const period of ['all', 'daily', 'weekly', 'monthly']) {
        expect(await standings(url(0), 'plain', period)).toEqual([[1, 'a', 15]]);
      }
      // A configured board has one live period; the calendar views are refused.
      const view = await call(url(1), 'GET', '/leaderboards/sprint/top?period=daily');
      expect([view.status, view.body.code]).toEqual([400, 'PERIOD_NOT_ON_BOARD']);
      expect((await call(url(1), 'GET', '/leaderboards/sprint/top?period=current')).status).toBe(
        200,
      );
    });

    it('rejects a bad configuration with 400 and creates nothing', async () => {
      for (const [body, message] of [
        [{ sort: 'up', operator: 'best', reset: 'none' }, /sort/],
        [{ sort: 'desc', operator: 'max', reset: 'none' }, /operator/],
        [{ sort: 'desc', operator: 'best' }, /reset/],
        [
          { sort: 'desc', operator: 'best', reset: '0 0 * *' },
          /reset: invalid configuration format/,
        ],
        [
          { sort: 'desc', operator: 'best', reset: '61 * * * *' },
          /reset: Invalid value for minute/,
        ],
        [{ sort: 'desc', operator: 'best', reset: '0 0 30 2 *' }, /never fires/],
        [{ sort: 'desc', operator: 'best', reset: '0 0 * * 1 2026' }, /reset: mode '5-part'/],
        [{ sort: 'desc', operator: 'best', reset: '@daily\u001b' }, /reset/],
        [
          { sort: 'desc', operator: 'best', reset: 'none', metadata: { a: 'x'.repeat(5000) } },
          /metadata/,
        ],
        [{ sort: 'desc', operator: 'best', reset: 'none', metadata: [1] }, /metadata/],
        [{ sort: 'desc', operator: 'best', reset: 'none', archiveTop: 0 }, /archiveTop/],
        [{ sort: 'desc', operator: 'best', reset: 'none', extra: 1 }, /extra|additional/],
      ] as const) {
        const answer = await call(url(0), 'PUT', '/leaderboards/bad-config', body);
        expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
        expect(answer.body.message).toMatch(message);
      }
      expect((await call(url(1), 'GET', '/leaderboards/bad-config')).status).toBe(404);
      const rows = await lb.pg.query('SELECT 1 FROM lb_boards WHERE board = $1', ['bad-config']);
      expect(rows.rowCount).toBe(0);
    });
  },
);
