import { httpCall, topologiesUnderTest, until } from '@redis-patterns/testkit';
import {
  type Reply,
  COMMAND_TIMEOUT_MS,
  replicasOf,
  leaderboardFixture,
  sharedPostgres,
  notOnThisTopology,
} from './leaderboard-harness';

// No failover while these tests pause servers: they are about Redis away, not Redis failing over.
const NO_FAILOVER_MS = 60_000;

const postgres = sharedPostgres();

describe.each(topologiesUnderTest())('game-leaderboard with Redis away on %s', (kind) => {
  const { lb, url } = leaderboardFixture(kind, {
    postgres,
    failureDetectionMs: NO_FAILOVER_MS,
  });

  async function backToNormal(): Promise<void> {
    for (const i of [0, 1]) {
      await until(
        `replica ${i} ready again`,
        async () => ((await fetch(`${url(i)}/health/ready`)).status === 200 ? true : undefined),
        10_000,
      );
    }
    const answer = await httpCall<Reply>(url(0), 'POST', '/leaderboards/paused/scores', {
      body: {
        playerId: 'a',
        score: 1,
      },
    });
    expect(answer.status).toBe(200);
  }

  it('answers 503 within the command timeout while every Redis node is paused, readiness 503 within 1 s', async () => {
    // Each replica's connections for acknowledged writes open on first use; opening them against
    // a paused Cluster takes the connect timeout on top (4 s here), which is not what this measures.
    for (const i of [0, 1]) {
      const warm = await httpCall<Reply>(url(i), 'POST', '/leaderboards/paused/scores', {
        body: {
          playerId: 'w',
          score: 1,
        },
      });
      expect(warm.status).toBe(200);
    }
    await Promise.all(lb().topology.servers.map((server) => server.pause()));
    try {
      for (const [method, path, body] of [
        ['POST', '/leaderboards/paused/scores', { playerId: 'a', score: 1 }],
        ['GET', '/leaderboards/paused/top', undefined],
        ['GET', '/leaderboards/paused/players/a', undefined],
        ['PUT', '/players/a', { name: 'A' }],
        ['DELETE', '/leaderboards/paused/players/a', undefined],
      ] as const) {
        const started = Date.now();
        const answer = await httpCall<Reply>(url(0), method, path, { body });
        expect([path, answer.status, answer.body.code]).toEqual([path, 503, 'REDIS_UNAVAILABLE']);
        expect([method, path, Date.now() - started < COMMAND_TIMEOUT_MS + 1000]).toEqual([
          method,
          path,
          true,
        ]);
      }
      const started = Date.now();
      const ready = await fetch(`${url(1)}/health/ready`);
      expect(ready.status).toBe(503);
      // The readiness deadline is 800 ms; the margin covers a busy machine.
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await Promise.all(lb().topology.servers.map((server) => server.resume()));
    }
    await backToNormal();
  }, 60_000);

  // Registered only where there are replicas to confirm a write.
  const replicated = kind === 'standalone' ? notOnThisTopology : it;
  replicated(
    'answers 503 REDIS_NOT_REPLICATED, never 200, to a write no replica confirms; reads still work',
    async () => {
      const board = 'unreplicated';
      // The board and the names hash may live on different Cluster masters: pause the replicas
      // of both.
      const masters = await Promise.all(
        [lb().keys.index(board, 'all'), lb().keys.names].map((key) => lb().topology.master(key)),
      );
      const replicas = [
        ...new Set((await Promise.all(masters.map((m) => replicasOf(lb().topology, m)))).flat()),
      ];
      expect(replicas.length).toBeGreaterThan(0);
      await httpCall<Reply>(url(0), 'POST', `/leaderboards/${board}/scores`, {
        body: { playerId: 'kept', score: 5 },
      });
      await Promise.all(replicas.map((server) => server.pause()));
      try {
        for (const [method, path, body] of [
          ['POST', `/leaderboards/${board}/scores`, { playerId: 'a', score: 1 }],
          ['PUT', '/players/a', { name: 'A' }],
          ['DELETE', `/leaderboards/${board}/players/kept`, undefined],
        ] as const) {
          const started = Date.now();
          const answer = await httpCall<Reply>(url(1), method, path, { body });
          expect([path, answer.status, answer.body.code]).toEqual([
            path,
            503,
            'REDIS_NOT_REPLICATED',
          ]);
          expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
        }
        const top = await httpCall<Reply>(url(0), 'GET', `/leaderboards/${board}/top`);
        expect(top.status).toBe(200);
      } finally {
        await Promise.all(replicas.map((server) => server.resume()));
      }
      await backToNormal();
    },
    60_000,
  );
});
