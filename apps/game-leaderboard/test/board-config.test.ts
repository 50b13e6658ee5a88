import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { type Reply, sharedPostgres, leaderboardFixture } from './leaderboard-harness';

const postgres = sharedPostgres();
/** A board configured without a subscore or a webhook shows both as null. */
const noExtras = { subscore: null, webhook: null };

describe.each(topologiesUnderTest())(
  'game-leaderboard board configuration on %s, 2 replicas',
  (kind) => {
    const { lb, url } = leaderboardFixture(kind, { postgres });
    const submit = (i: number, board: string, body: Record<string, unknown>) =>
      httpCall<Reply>(url(i), 'POST', `/leaderboards/${board}/scores`, { body });

    it('creates a board with a configuration, the same through every replica and in PostgreSQL', async () => {
      const config = {
        sort: 'asc',
        operator: 'best',
        reset: '0 0 * * 1',
        metadata: { title: 'Lap times', track: { id: 7, laps: 3 } },
        archiveTop: 50,
      };
      const created = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/laps', { body: config });
      expect({ status: created.status, body: created.body }).toEqual({
        status: 200,
        body: { board: 'laps', implicit: false, scored: false, ...config, ...noExtras },
      });
      const seen = await httpCall<Reply>(url(1), 'GET', '/leaderboards/laps');
      expect(seen.body).toEqual({
        board: 'laps',
        implicit: false,
        scored: false,
        ...config,
        ...noExtras,
      });
      const row = await lb().pg.query('SELECT config FROM lb_boards WHERE board = $1', ['laps']);
      expect(row.rows[0].config).toEqual({ ...config, reset: '0 0 * * 1' });
      expect((await httpCall<Reply>(url(1), 'GET', '/leaderboards/never-seen')).status).toBe(404);
    });

    it('refuses a conflicting PUT with 409 once a board has scores; an identical PUT is 200', async () => {
      const config = { sort: 'desc', operator: 'best', reset: 'none' };
      expect(
        (await httpCall<Reply>(url(0), 'PUT', '/leaderboards/fixed', { body: config })).status,
      ).toBe(200);
      // Before any score a configuration may still change.
      const changed = { ...config, operator: 'increment' };
      expect(
        (await httpCall<Reply>(url(1), 'PUT', '/leaderboards/fixed', { body: changed })).status,
      ).toBe(200);
      expect((await submit(0, 'fixed', { playerId: 'p', score: 5 })).body.score).toBe(5);
      expect((await submit(1, 'fixed', { playerId: 'p', score: 5 })).body.score).toBe(10);
      const conflict = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/fixed', {
        body: config,
      });
      expect([conflict.status, conflict.body.code]).toEqual([409, 'BOARD_HAS_SCORES']);
      expect(
        (await httpCall<Reply>(url(1), 'PUT', '/leaderboards/fixed', { body: changed })).status,
      ).toBe(200);
      expect((await httpCall<Reply>(url(1), 'GET', '/leaderboards/fixed')).body.operator).toBe(
        'increment',
      );
      // An implicit board with scores is desc/best: configuring it is a conflict too.
      await submit(0, 'was-implicit', { playerId: 'p', score: 1 });
      const late = await httpCall<Reply>(url(1), 'PUT', '/leaderboards/was-implicit', {
        body: config,
      });
      expect([late.status, late.body.code]).toEqual([409, 'BOARD_HAS_SCORES']);
      const view = await httpCall<Reply>(url(0), 'GET', '/leaderboards/was-implicit');
      expect(view.body).toMatchObject({
        implicit: true,
        scored: true,
        sort: 'desc',
        operator: 'best',
      });
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
        const answer = await httpCall<Reply>(url(0), 'PUT', '/leaderboards/bad-config', { body });
        expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
        expect(answer.body.message).toMatch(message);
      }
      expect((await httpCall<Reply>(url(1), 'GET', '/leaderboards/bad-config')).status).toBe(404);
      const rows = await lb().pg.query('SELECT 1 FROM lb_boards WHERE board = $1', ['bad-config']);
      expect(rows.rowCount).toBe(0);
    });
  },
);
