import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import {} from '../src/leaderboard/seed-board';
import { type Reply, openStream, leaderboardFixture, sharedPostgres } from './leaderboard-harness';

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())(
  'game-leaderboard boards on every master on %s, 2 replicas',
  (kind) => {
    const { lb, url } = leaderboardFixture(kind, { postgres });

    it('submits, reads, streams and deletes on boards owned by different masters', async () => {
      // On a Cluster these three boards' slots fall in the three thirds of the slot space.
      const boards = ['alpha', 'delta', 'beta'];
      const masters = await Promise.all(
        boards.map((board) => lb().topology.master(lb().keys.index(board, 'all'))),
      );
      expect(new Set(masters).size).toBe(kind === 'cluster' ? 3 : 1);
      for (const board of boards) {
        // Opened on replica 0 before any write; every submission goes through replica 1.
        const stream = await openStream(`${url(0)}/leaderboards/${board}/stream`);
        try {
          for (const [i, playerId] of ['p1', 'p2', 'p3'].entries()) {
            const answer = await httpCall<Reply>(url(1), 'POST', `/leaderboards/${board}/scores`, {
              body: {
                playerId,
                score: 10 * (i + 1),
                mode: 'increment',
              },
            });
            expect(answer.status).toBe(200);
          }
          await stream.next((entries) => entries.map((e) => e.playerId).join() === 'p3,p2,p1');
          const top = await httpCall<Reply>(
            url(1),
            'GET',
            `/leaderboards/${board}/top?period=weekly`,
          );
          expect(top.body.entries!.map((e) => e.playerId)).toEqual(['p3', 'p2', 'p1']);
          const around = await httpCall<Reply>(
            url(0),
            'GET',
            `/leaderboards/${board}/players/p1/around`,
          );
          expect(around.body.rank).toBe(3);
          const friends = await httpCall<Reply>(url(1), 'POST', `/leaderboards/${board}/ranks`, {
            body: {
              playerIds: ['p1', 'nobody'],
            },
          });
          expect(friends.body.unknown).toEqual(['nobody']);
          expect(
            (await httpCall<Reply>(url(0), 'DELETE', `/leaderboards/${board}/players/p1`)).status,
          ).toBe(204);
          await stream.next((entries) => entries.map((e) => e.playerId).join() === 'p3,p2');
        } finally {
          stream.close();
        }
      }
    });
  },
);
