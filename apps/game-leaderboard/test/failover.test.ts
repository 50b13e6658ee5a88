import {
  delay,
  httpCall,
  log,
  replicatedTopologiesUnderTest,
  until,
  MASTER_FAULTS,
} from '@redis-patterns/testkit';
import { IMPLICIT_BOARD } from '../src/leaderboard/board-config';
import { readPeriod } from '../src/leaderboard/board-periods';
import { playerOfMember, scoreOf } from '../src/leaderboard/score-encoding';
import {
  type Reply,
  openStream,
  PERIODS,
  startLeaderboard,
  type Leaderboard,
  sharedPostgres,
} from './leaderboard-harness';

/** One submission every 20 ms, alternating replicas: about 50 a second. */
const LOAD_INTERVAL_MS = 20;
const MAX_IN_FLIGHT = 20;

interface Outcome {
  playerId: string;
  score: number;
  status: number | 'network error';
  code?: string;
  at: number;
}

/** A steady light load of `best` submissions, each a new player with a score of its own. */
function startLoad(lb: Leaderboard, board: string) {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  const timer = setInterval(() => {
    if (inFlight.size >= MAX_IN_FLIGHT) return;
    const n = sent++;
    const playerId = `s${n}`;
    const score = 1000 + n;
    const request = httpCall<Reply>(lb.url(n), 'POST', `/leaderboards/${board}/scores`, {
      body: { playerId, score },
    })
      .then(
        (answer) => {
          outcomes.push({
            playerId,
            score,
            status: answer.status,
            code: answer.body.code as string | undefined,
            at: Date.now(),
          });
        },
        () => void outcomes.push({ playerId, score, status: 'network error', at: Date.now() }),
      )
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  }, LOAD_INTERVAL_MS);
  return {
    outcomes,
    stop: async () => {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

const postgres = sharedPostgres();

const replicated = replicatedTopologiesUnderTest();

{
  describe.each(replicated)('game-leaderboard failovers on %s, 2 replicas under load', (kind) => {
    let lb: Leaderboard;

    beforeAll(async () => {
      lb = await startLeaderboard(kind, { postgres: postgres(), clock: 'real' });
    }, 60_000);

    afterAll(async () => {
      await lb?.close();
    });

    it.each(MASTER_FAULTS.map((fault, i) => [fault.name, i] as const))(
      'loses no acknowledged score through %s, and every failure is a 503',
      async (_, index) => {
        const fault = MASTER_FAULTS[index];
        const board = `failover-${index}`;
        const key = lb.keys.index(board, 'all');
        // A client may still route this board's slot to a master of the previous fault until its
        // slot map refreshes: start from a service that writes this board through both replicas.
        for (const i of [0, 1]) {
          await until(
            `a first submission through replica ${i}`,
            async () => {
              const answer = await httpCall<Reply>(
                lb.url(i),
                'POST',
                `/leaderboards/${board}/scores`,
                {
                  body: {
                    playerId: `warm-up-${i}`,
                    score: 0,
                  },
                },
              );
              if (answer.status === 200) return true;
              // Named in the timeout message if it never becomes writable.
              throw new Error(`answered ${answer.status} ${String(answer.body.code ?? '')}`);
            },
            20_000,
          );
        }
        const stream = await openStream(`${lb.url(0)}/leaderboards/${board}/stream`);
        const load = startLoad(lb, board);
        // A second of load before the fault: the test is about submissions on both sides of it.
        await delay(1000);
        const faultAt = Date.now();
        const result = await fault.inject(lb.topology, key);
        await result.recover();
        const recoveredAt = Date.now();
        await until(
          'an acknowledged submission after recovery',
          async () =>
            load.outcomes.some((o) => o.status === 200 && o.at > recoveredAt) ? true : undefined,
          20_000,
        );
        await load.stop();

        // The stream of replica 0 shows again what replica 1 writes (its subscriber may have had
        // to reconnect, and pub/sub drops what it missed meanwhile: retry with a new leader).
        let leaders = 0;
        await until(
          'the SSE stream of replica 0 to show a new leader written through replica 1',
          async () => {
            const playerId = `leader-${leaders++}`;
            const answer = await httpCall<Reply>(
              lb.url(1),
              'POST',
              `/leaderboards/${board}/scores`,
              {
                body: {
                  playerId,
                  score: 1_000_000 + leaders,
                },
              },
            );
            if (answer.status !== 200) return undefined;
            await stream.next((entries) => entries[0]?.playerId === playerId, 1000);
            return true;
          },
          15_000,
        );
        const streamCurrentAt = Date.now();
        stream.close();

        const acknowledged = load.outcomes.filter((o) => o.status === 200);
        const failed = load.outcomes.filter((o) => o.status !== 200);
        const dishonest = failed.filter(
          (o) =>
            o.status !== 503 ||
            !['REDIS_UNAVAILABLE', 'REDIS_NOT_REPLICATED'].includes(o.code ?? ''),
        );
        // An acknowledged submission is lost when any of its four boards lacks it.
        const lost = new Set<string>();
        for (const period of PERIODS) {
          const periodKey = lb.keys.index(board, readPeriod(IMPLICIT_BOARD, period, Date.now()));
          const flat = await until(`the ${period} board`, () =>
            lb.client.zrange(periodKey, 0, -1, 'WITHSCORES'),
          );
          const stored = new Map<string, number>();
          for (let i = 0; i < flat.length; i += 2) {
            stored.set(playerOfMember(flat[i]), scoreOf(flat[i + 1], 'desc'));
          }
          for (const o of acknowledged) {
            if (stored.get(o.playerId) !== o.score) lost.add(o.playerId);
          }
        }
        const lastFailure = failed.at(-1)?.at ?? faultAt;
        const writable = acknowledged.find((o) => o.at > lastFailure)?.at ?? recoveredAt;
        const codes = new Map<string, number>();
        for (const o of failed) {
          const code = String(o.code ?? o.status);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
        log(
          `game-leaderboard ${kind}, ${fault.name}: sent ${load.outcomes.length}, acknowledged ${acknowledged.length}, ` +
            `failed ${failed.length} (${[...codes].map(([code, n]) => `${n} ${code}`).join(', ') || 'none'}), lost ${lost.size}; ` +
            `promoted after ${result.promotedMs} ms, writes acknowledged again ${writable - faultAt} ms after the fault, ` +
            `converged after ${recoveredAt - faultAt} ms; stream current ${streamCurrentAt - recoveredAt} ms after convergence`,
        );
        expect(acknowledged.length).toBeGreaterThan(0);
        expect(dishonest).toEqual([]);
        expect([...lost]).toEqual([]);
      },
      120_000,
    );
  });
}
