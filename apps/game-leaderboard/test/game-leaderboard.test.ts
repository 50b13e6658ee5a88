import { get, type IncomingMessage } from 'node:http';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import type { AppConfig } from '../src/config';
import { leaderboardKeys } from '../src/leaderboard/leaderboard-keys';
import { seedBoard, seededPlayerId } from '../src/leaderboard/seed-board';

const DAY = 86_400_000;
// Generous for 2 cores shared with other suites; the pause test asserts against it.
const COMMAND_TIMEOUT_MS = 1000;
const RETENTION = { daily: 2 * DAY, weekly: 14 * DAY, monthly: 62 * DAY };

interface Answer {
  status: number;
  // Test-only: the JSON the service answered, read field by field.
  body: Record<string, unknown> & { entries?: Array<Record<string, unknown>> };
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** Runs `tasks` with at most `limit` in flight. */
async function inPool<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await tasks[index]();
      }
    }),
  );
  return results;
}

/** Opens an SSE stream and resolves with each `top` event's entries as they come. */
function openStream(url: string): Promise<{
  next(predicate: (entries: Array<Record<string, unknown>>) => boolean): Promise<void>;
  /** Number of `top` events received so far. */
  count(): number;
  close(): void;
}> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response: IncomingMessage) => {
      if (response.statusCode !== 200) return reject(new Error(`status ${response.statusCode}`));
      const seen: Array<Array<Record<string, unknown>>> = [];
      const waiters: Array<() => void> = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame);
          if (/^event: top$/m.test(frame) && data) seen.push(JSON.parse(data[1]).entries);
        }
        waiters.splice(0).forEach((wake) => wake());
      });
      resolve({
        next: (predicate) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => fail(new Error('no matching SSE event in 5 s')), 5000);
            const check = () => {
              if (seen.some(predicate)) {
                clearTimeout(timer);
                done();
              } else waiters.push(check);
            };
            check();
          }),
        count: () => seen.length,
        close: () => request.destroy(),
      });
    });
    request.on('error', reject);
  });
}

describe('game-leaderboard with 2 replicas on one real Redis', () => {
  let redis: RedisServer;
  let client: RedisClient;
  let replicas: Replicas<ServiceInstance>;
  let prefix: string;
  let now = Date.parse('2026-11-26T12:00:00Z');
  const url = (i: number) => replicas.url(i);

  beforeAll(async () => {
    redis = await startRedis({ faults: true });
    client = createRedis({ url: redis.url });
    await waitForReady(client, 5000);
    prefix = uniquePrefix('lb');
    const config: AppConfig = {
      logLevel: 'silent',
      redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS },
      keyPrefix: prefix,
      retentionMs: RETENTION,
      tieEpochMs: Date.parse('2026-01-01T00:00:00Z'),
      streamIntervalMs: 100,
      clock: () => now,
    };
    replicas = await startReplicas(2, () => buildApp(config));
  });

  afterAll(async () => {
    await replicas?.close();
    if (client) await closeRedis(client);
    await redis?.stop();
  });

  async function keyCount(): Promise<number> {
    return (await client.keys(`${prefix}:*`)).length;
  }

  it('keeps exactly each player maximum (best) and sum (increment) under 1,000 concurrent submissions on 2 replicas', async () => {
    const players = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const submissions = Array.from({ length: 1000 }, (_, i) => ({
      playerId: players[i % 100],
      score: Math.floor(Math.random() * 2_000_000) - 1_000_000,
    }));
    const best = new Map<string, number>();
    const sum = new Map<string, number>();
    for (const { playerId, score } of submissions) {
      best.set(playerId, Math.max(best.get(playerId) ?? -Infinity, score));
      sum.set(playerId, (sum.get(playerId) ?? 0) + score);
    }
    for (const [board, mode, expected] of [
      ['concurrent-best', 'best', best],
      ['concurrent-sum', 'increment', sum],
    ] as const) {
      const answers = await inPool(
        submissions.map(
          (submission, i) => () =>
            call(url(i), 'POST', `/leaderboards/${board}/scores`, { ...submission, mode }),
        ),
        50,
      );
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      for (const period of ['all', 'daily', 'weekly', 'monthly']) {
        const page = await call(
          url(0),
          'GET',
          `/leaderboards/${board}/top?limit=100&period=${period}`,
        );
        expect(page.body.total).toBe(100);
        const stored = new Map(page.body.entries!.map((e) => [e.playerId, e.score]));
        expect(stored).toEqual(new Map([...expected].sort((a, b) => b[1] - a[1])));
      }
    }
  });

  it('ranks equal scores by who reached them first, the same on every replica', async () => {
    // Lexical order (amy, mid, zed) differs from the order of arrival (zed, amy, mid).
    const order = ['zed', 'amy', 'mid'];
    for (const playerId of order) {
      now += 61_000; // past one all-time tick (1 min)
      await call(url(order.indexOf(playerId)), 'POST', '/leaderboards/ties/scores', {
        playerId,
        score: 10,
        mode: 'increment',
      });
      await call(url(1), 'POST', '/leaderboards/ties/scores', {
        playerId,
        score: 490,
        mode: 'increment',
      });
    }
    // Reaching 500 again later (best and replace) keeps the time it was first reached.
    now += 61_000;
    await call(url(0), 'POST', '/leaderboards/ties/scores', { playerId: 'zed', score: 500 });
    await call(url(1), 'POST', '/leaderboards/ties/scores', {
      playerId: 'amy',
      score: 500,
      mode: 'replace',
    });
    for (const i of [0, 1]) {
      for (const period of ['all', 'daily', 'weekly', 'monthly']) {
        const page = await call(url(i), 'GET', `/leaderboards/ties/top?period=${period}`);
        expect(page.body.entries!.map((e) => [e.rank, e.playerId, e.score])).toEqual([
          [1, 'zed', 500],
          [2, 'amy', 500],
          [3, 'mid', 500],
        ]);
      }
      const mid = await call(url(i), 'GET', '/leaderboards/ties/players/mid');
      expect(mid.body).toEqual({ rank: 3, score: 500, total: 3, percentile: 33.33 });
    }
  });

  it('rolls the daily board over at midnight UTC, keeps all-time, and expires period keys', async () => {
    now = Date.parse('2026-11-26T23:59:00Z'); // a Thursday
    const submit = await call(url(0), 'POST', '/leaderboards/rollover/scores', {
      playerId: 'night-owl',
      score: 42,
    });
    expect(submit).toEqual({ status: 200, body: { playerId: 'night-owl', score: 42, rank: 1 } });
    const dailyKey = `${prefix}:{rollover}:daily:2026-11-26`;
    const ttl = await client.pttl(dailyKey);
    expect(ttl).toBeGreaterThan(RETENTION.daily);
    expect(ttl).toBeLessThanOrEqual(RETENTION.daily + 60_000);
    expect(await client.pttl(`${prefix}:{rollover}:weekly:2026-11-23`)).toBeGreaterThan(0);
    expect(await client.pttl(`${prefix}:{rollover}:monthly:2026-11`)).toBeGreaterThan(0);
    expect(await client.pttl(`${prefix}:{rollover}:all`)).toBe(-1);

    now = Date.parse('2026-11-27T00:00:30Z');
    const daily = await call(url(1), 'GET', '/leaderboards/rollover/top?period=daily');
    expect(daily.body).toEqual({ entries: [], total: 0 });
    expect(
      (await call(url(1), 'GET', '/leaderboards/rollover/players/night-owl?period=daily')).status,
    ).toBe(404);
    for (const period of ['all', 'weekly', 'monthly']) {
      const page = await call(url(1), 'GET', `/leaderboards/rollover/top?period=${period}`);
      expect(page.body.total).toBe(1);
    }
    await call(url(1), 'POST', '/leaderboards/rollover/scores', {
      playerId: 'early-bird',
      score: 7,
    });
    const nextDay = await call(url(0), 'GET', '/leaderboards/rollover/top?period=daily');
    expect(nextDay.body.entries!.map((e) => e.playerId)).toEqual(['early-bird']);

    // Delete reaches yesterday's retained board too.
    expect((await call(url(0), 'DELETE', '/leaderboards/rollover/players/night-owl')).status).toBe(
      204,
    );
    expect(await client.zscore(dailyKey, 'night-owl')).toBeNull();
    for (const period of ['all', 'daily', 'weekly', 'monthly']) {
      const standing = await call(
        url(1),
        'GET',
        `/leaderboards/rollover/players/night-owl?period=${period}`,
      );
      expect(standing.status).toBe(404);
    }
    expect((await call(url(1), 'DELETE', '/leaderboards/rollover/players/night-owl')).status).toBe(
      404,
    );
    now = Date.parse('2026-11-26T12:00:00Z');
  });

  describe('reading a board of 20 players', () => {
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
      expect(metrics).toMatch(/leaderboard_updates_total\{mode="best"\} [1-9]/);
    });
  });

  it('seeds N players with pipelines, readable on every period through the API', async () => {
    await seedBoard(client, leaderboardKeys(prefix), {
      board: 'seeded',
      players: 5000,
      batch: 300,
      pipelineSize: 4,
      nowMs: now,
      tieEpochMs: Date.parse('2026-01-01T00:00:00Z'),
      retentionMs: RETENTION,
    });
    for (const period of ['all', 'daily', 'weekly', 'monthly']) {
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
    expect(await client.pttl(`${prefix}:{seeded}:daily:2026-11-26`)).toBeGreaterThan(0);
  });

  it('streams a top-10 change made through replica B to an SSE client of replica A', async () => {
    await call(url(0), 'POST', '/leaderboards/live/scores', { playerId: 'first', score: 10 });
    const stream = await openStream(`${url(0)}/leaderboards/live/stream`);
    try {
      await stream.next((entries) => entries.length === 1 && entries[0].playerId === 'first');
      await call(url(1), 'POST', '/leaderboards/live/scores', { playerId: 'second', score: 20 });
      await stream.next((entries) => entries[0]?.playerId === 'second');
      await call(url(1), 'PUT', '/players/first', { name: 'Grace' });
      await stream.next((entries) => entries[1]?.name === 'Grace');

      // 40 top-10 changes as fast as they go: at most one event per 100 ms interval, the last
      // state always delivered.
      const before = stream.count();
      const started = Date.now();
      for (let i = 1; i <= 40; i += 1) {
        await call(url(1), 'POST', '/leaderboards/live/scores', {
          playerId: 'second',
          score: 1,
          mode: 'increment',
        });
      }
      await stream.next((entries) => entries[0]?.score === 60);
      const elapsed = Date.now() - started;
      expect(stream.count() - before).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    } finally {
      stream.close();
    }
  });

  it('rejects bad input with 400 naming the field and writes nothing', async () => {
    const keysBefore = await keyCount();
    const namesBefore = await client.hlen(`${prefix}:names`);
    const badSubmissions: Array<[string, unknown, RegExp]> = [
      ['/leaderboards/bad/scores', '{"playerId":"a","score":NaN}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":Infinity}', /JSON/i],
      ['/leaderboards/bad/scores', '{"playerId":"a","score":1e400}', /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 1.5 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: 2 ** 31 }, /score/],
      ['/leaderboards/bad/scores', { playerId: 'a', score: -(2 ** 31) }, /score/],
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
    for (const name of ['', '   ', 'tab\there', 'n'.repeat(65)]) {
      const answer = await call(url(1), 'PUT', '/players/a', { name });
      expect([name, answer.status]).toEqual([name, 400]);
    }
    expect(await keyCount()).toBe(keysBefore);
    expect(await client.hlen(`${prefix}:names`)).toBe(namesBefore);
  });

  it('refuses an increment beyond 2^31 - 1 with 422 and writes nothing', async () => {
    const max = 2 ** 31 - 1;
    await call(url(0), 'POST', '/leaderboards/overflow/scores', { playerId: 'a', score: max });
    const answer = await call(url(1), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'a',
      score: 1,
      mode: 'increment',
    });
    expect(answer.status).toBe(422);
    expect(answer.body.code).toBe('SCORE_OUT_OF_RANGE');
    const standing = await call(url(0), 'GET', '/leaderboards/overflow/players/a?period=daily');
    expect(standing.body.score).toBe(max);
    // Both extremes survive the trip through Lua and the sorted set exactly.
    const lowest = await call(url(1), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'b',
      score: -max,
      mode: 'replace',
    });
    expect(lowest.body).toEqual({ playerId: 'b', score: -max, rank: 2 });
    const down = await call(url(0), 'POST', '/leaderboards/overflow/scores', {
      playerId: 'b',
      score: -1,
      mode: 'increment',
    });
    expect(down.status).toBe(422);
  });

  it('answers 503 within the command timeout while Redis is paused, readiness 503 within 1 s', async () => {
    await redis.pause();
    try {
      for (const [method, path, body] of [
        ['POST', '/leaderboards/paused/scores', { playerId: 'a', score: 1 }],
        ['GET', '/leaderboards/paused/top', undefined],
        ['GET', '/leaderboards/paused/players/a', undefined],
      ] as const) {
        const started = Date.now();
        const answer = await call(url(0), method, path, body);
        expect([path, answer.status, answer.body.code]).toEqual([path, 503, 'REDIS_UNAVAILABLE']);
        expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
      }
      const started = Date.now();
      const ready = await fetch(`${url(1)}/health/ready`);
      expect(ready.status).toBe(503);
      // The readiness deadline is 800 ms; the margin covers a busy machine.
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await redis.resume();
    }
    const deadline = Date.now() + 5000;
    while ((await fetch(`${url(0)}/health/ready`)).status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const answer = await call(url(0), 'POST', '/leaderboards/paused/scores', {
      playerId: 'a',
      score: 1,
    });
    expect(answer.status).toBe(200);
  });
});
