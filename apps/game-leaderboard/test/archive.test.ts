import { delay, httpCall, topologiesUnderTest, until } from '@redis-patterns/testkit';
import {
  ARCHIVE,
  type Reply,
  sharedPostgres,
  standings,
  leaderboardFixture,
} from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())(
  'game-leaderboard period archives on %s, 3 replicas',
  (kind) => {
    const { lb, url } = leaderboardFixture(kind, { postgres, replicas: 3 });

    /** leaderboard_periods_archived_total of each replica. */
    async function archivedCounts(): Promise<number[]> {
      return Promise.all(
        lb().replicas.urls.map(async (replica) => {
          const text = await (await fetch(`${replica}/metrics`)).text();
          return Number(/^leaderboard_periods_archived_total (\d+)/m.exec(text)?.[1] ?? 0);
        }),
      );
    }

    async function archivedPeriods(board: string) {
      const answer = await httpCall<Reply>(url(0), 'GET', `/leaderboards/${board}/periods`);
      expect(answer.status).toBe(200);
      return answer.body.periods as Array<Record<string, unknown>>;
    }

    it('archives the final standings exactly once when the reset fires, with 3 replicas racing', async () => {
      lb().clock.now = Date.parse('2026-11-26T23:58:00Z');
      for (const [board, archiveTop] of [
        ['cup', undefined],
        ['cup-top5', 5],
      ] as const) {
        const config = { sort: 'desc', operator: 'best', reset: '0 0 * * *', archiveTop };
        expect(
          (await httpCall<Reply>(url(0), 'PUT', `/leaderboards/${board}`, { body: config })).status,
        ).toBe(200);
        for (let i = 0; i < 12; i += 1) {
          const answer = await httpCall<Reply>(url(i), 'POST', `/leaderboards/${board}/scores`, {
            body: {
              playerId: `p${i}`,
              score: 10 * (i % 4),
            },
          });
          expect(answer.status).toBe(200);
        }
      }
      await httpCall<Reply>(url(2), 'PUT', '/players/p3', { body: { name: 'Three' } });
      const final = await standings(url(1), 'cup');
      expect(final).toHaveLength(12);

      // Midnight: every replica shows the new, empty period at once; the archive waits 1 s more.
      lb().clock.now = Date.parse('2026-11-27T00:00:00.200Z');
      expect(await standings(url(2), 'cup')).toEqual([]);
      // What is proved is a wait: 4 looks of every replica within the delay archive nothing.
      await delay(ARCHIVE.intervalMs * 4);
      expect(await archivedPeriods('cup')).toEqual([]);

      lb().clock.now = Date.parse('2026-11-27T00:00:02Z');
      await until(
        'both periods archived',
        async () => ((await archivedCounts()).reduce((a, b) => a + b, 0) === 2 ? true : undefined),
        10_000,
      );
      // Every replica has looked again several times since: still exactly one archive each.
      await delay(ARCHIVE.intervalMs * 6);
      expect((await archivedCounts()).reduce((a, b) => a + b, 0)).toBe(2);
      const rows = await lb().pg.query<{ board: string; archived_by: string; n: string }>(
        `SELECT p.board, p.archived_by, (SELECT count(*) FROM lb_period_entries e
         WHERE e.board = p.board AND e.period = p.period) AS n
       FROM lb_periods p ORDER BY p.board`,
      );
      expect(rows.rows.map((row) => [row.board, Number(row.n)])).toEqual([
        ['cup', 12],
        ['cup-top5', 5],
      ]);
      expect(rows.rows.every((row) => /^replica-[0-2]$/.test(row.archived_by))).toBe(true);

      const periods = await archivedPeriods('cup');
      expect(periods).toEqual([
        {
          id: '20261126T0000Z',
          startsAt: '2026-11-26T00:00:00.000Z',
          endsAt: '2026-11-27T00:00:00.000Z',
          archivedAt: expect.stringMatching(/^2026-11-27T00:00:0/),
          entries: 12,
        },
      ]);
      const archived = await httpCall<Reply>(
        url(2),
        'GET',
        '/leaderboards/cup/periods/20261126T0000Z/top?limit=100',
      );
      expect(
        archived.body.entries!.map(
          (e) => [e.rank, e.playerId, e.score] as [number, string, number],
        ),
      ).toEqual(final);
      expect(archived.body.entries!.find((e) => e.playerId === 'p3')?.name).toBe('Three');
      const page = await httpCall<Reply>(
        url(1),
        'GET',
        '/leaderboards/cup/periods/20261126T0000Z/top?limit=3&offset=3',
      );
      expect(page.body.entries!.map((e) => e.rank)).toEqual([4, 5, 6]);
      const top5 = await httpCall<Reply>(
        url(0),
        'GET',
        '/leaderboards/cup-top5/periods/20261126T0000Z/top?limit=100',
      );
      expect(top5.body.entries!.map((e) => e.rank)).toEqual([1, 2, 3, 4, 5]);
      expect(
        (await httpCall<Reply>(url(0), 'GET', '/leaderboards/cup/periods/20261125T0000Z/top'))
          .status,
      ).toBe(404);

      // The next day ends too: listed newest first, paged with `before`.
      await httpCall<Reply>(url(1), 'POST', '/leaderboards/cup/scores', {
        body: { playerId: 'next-day', score: 1 },
      });
      lb().clock.now = Date.parse('2026-11-28T00:00:02Z');
      await until(
        'the second day archived',
        async () => ((await archivedPeriods('cup')).length === 2 ? true : undefined),
        10_000,
      );
      // cup-top5 had no score that day: no period to archive.
      expect((await archivedPeriods('cup-top5')).map((p) => p.id)).toEqual(['20261126T0000Z']);
      expect((await archivedPeriods('cup')).map((p) => p.id)).toEqual([
        '20261127T0000Z',
        '20261126T0000Z',
      ]);
      const older = await httpCall<Reply>(
        url(2),
        'GET',
        '/leaderboards/cup/periods?before=20261127T0000Z',
      );
      expect((older.body.periods as Array<{ id: string }>).map((p) => p.id)).toEqual([
        '20261126T0000Z',
      ]);
    }, 60_000);

    it('refuses with 409 a late write into an archived period, so the archive lacks no acknowledged score', async () => {
      lb().clock.now = Date.parse('2026-12-01T23:59:50Z');
      await httpCall<Reply>(url(0), 'PUT', '/leaderboards/late', {
        body: {
          sort: 'desc',
          operator: 'best',
          reset: '@daily',
        },
      });
      expect(
        (
          await httpCall<Reply>(url(0), 'POST', '/leaderboards/late/scores', {
            body: { playerId: 'early', score: 5 },
          })
        ).status,
      ).toBe(200);
      lb().clock.now = Date.parse('2026-12-02T00:00:05Z');
      // Replica 2's clock lags 10 s: for it, the day has not ended.
      lb().clockOf[2] = () => lb().clock.now - 10_000;
      try {
        await until(
          'the day archived',
          async () => ((await archivedPeriods('late')).length === 1 ? true : undefined),
          10_000,
        );
        const late = await httpCall<Reply>(url(2), 'POST', '/leaderboards/late/scores', {
          body: {
            playerId: 'late',
            score: 9,
          },
        });
        expect([late.status, late.body.code]).toEqual([409, 'PERIOD_ENDED']);
      } finally {
        lb().clockOf[2] = undefined;
      }
      const archived = await httpCall<Reply>(
        url(1),
        'GET',
        '/leaderboards/late/periods/20261201T0000Z/top',
      );
      expect(archived.body.entries!.map((e) => e.playerId)).toEqual(['early']);
      const rows = await lb().pg.query(
        "SELECT 1 FROM lb_scores WHERE board = 'late' AND player = 'late'",
      );
      expect(rows.rowCount).toBe(0);
    });
  },
);
