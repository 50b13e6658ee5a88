import { Pool } from 'pg';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  hostileInputTests,
  startPostgres,
  startRedis,
  uniquePrefix,
  type HostileExample,
  type PostgresServer,
  type RedisServer,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { COMMAND_TIMEOUT_MS, testConfig } from './leaderboard-harness';

// Generated from the service's own OpenAPI document. Input is refused before Redis or
// PostgreSQL is touched, and the writes that pass behave the same on every topology:
// standalone is enough.
let postgres: PostgresServer;
let redis: RedisServer;
let pool: Pool;
let app: ServiceInstance;
beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  const databaseUrl = await postgres.createDatabase();
  pool = new Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => {});
  app = await buildApp(
    testConfig({
      redis: { url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS },
      keyPrefix: uniquePrefix('lb'),
      database: { url: databaseUrl, poolSize: 5, statementTimeoutMs: 2000 },
      commit: { maxBatch: 500, concurrency: 2 },
      replicaName: 'hostile',
    }),
  );
  await app.ready();
  const put = (url: string, payload: object) => app.inject({ method: 'PUT', url, payload });
  await put('/leaderboards/arena', { sort: 'desc', operator: 'best', reset: 'none' });
  await put('/leaderboards/laps', {
    sort: 'asc',
    operator: 'best',
    reset: '@daily',
    subscore: 'asc',
  });
  for (const [board, playerId, score] of [
    ['arena', 'alice', 10],
    ['arena', 'bob', 20],
    ['laps', 'alice', 61_000],
  ] as const) {
    await app.inject({
      method: 'POST',
      url: `/leaderboards/${board}/scores`,
      payload: { playerId, score },
    });
  }
  await put('/players/alice', { name: 'Alice' });
});
afterAll(async () => {
  await app?.close();
  await pool?.end();
  await redis?.stop();
  await postgres?.stop();
});

/** Scores, names and board configurations as PostgreSQL holds them: what a refusal must not change. */
async function state(): Promise<unknown> {
  const { rows } = await pool.query(
    `SELECT (SELECT md5(coalesce(string_agg(s::text, E'\\n' ORDER BY board, period, player), ''))
               FROM lb_scores s) AS scores,
            (SELECT md5(coalesce(string_agg(n.player || '=' || n.name, E'\\n' ORDER BY player), ''))
               FROM lb_names n) AS names,
            (SELECT md5(coalesce(string_agg(b.board || '=' || coalesce(b.config::text, ''), E'\\n'
               ORDER BY board), '')) FROM lb_boards b) AS boards`,
  );
  return rows[0];
}

const post = (payload: unknown, name: string, status = 400): HostileExample => ({
  name,
  method: 'POST',
  url: '/leaderboards/arena/scores',
  payload,
  status,
});

/** Issue 14's cases and issue 18's (control characters in names) for this service. */
const examples: HostileExample[] = [
  post({ playerId: 'p1', score: null }, 'null for the score is not 0'),
  post({ playerId: 'p1', score: true }, 'true for the score is not 1'),
  post({ playerId: 'p1', score: '   ' }, 'a blank string for the score is not 0'),
  post({ playerId: 'p1', score: '7' }, 'a numeric string for the score is not 7'),
  post({ playerId: 'p1', score: 2 ** 53 }, 'a score of 2^53'),
  post({ playerId: 'p1', score: 1.5 }, 'a fractional score'),
  post({ playerId: 'p1', score: 1, subscore: 2 }, 'a subscore on a board without one'),
  {
    name: 'a score that JSON reads as Infinity',
    method: 'POST',
    url: '/leaderboards/arena/scores',
    headers: { 'content-type': 'application/json' },
    payload: '{"playerId":"p1","score":1e400}',
    status: 400,
  },
  post({ playerId: 'p\u0000', score: 1 }, 'a NUL byte in a player id'),
  // Regression (a CI run, seed 699632564 of GET /leaderboards/{board}/players/{playerId}): a
  // subscore of 0 on laps (asc) was stored as '-0' and every lookup of that player was a 500.
  {
    name: 'a subscore of 0 on an asc subscore board',
    method: 'POST',
    url: '/leaderboards/laps/scores',
    payload: { playerId: 'zero-sub', score: 5, subscore: 0 },
    status: 200,
  },
  { method: 'GET', url: '/leaderboards/laps/players/zero-sub', status: 200 },
  { method: 'GET', url: '/leaderboards/laps/players/zero-sub/around?radius=1', status: 200 },
  { method: 'DELETE', url: '/leaderboards/laps/players/zero-sub', status: 204 },
  {
    name: 'an escape character in a display name',
    method: 'PUT',
    url: '/players/alice',
    payload: { name: 'Al\u001bice' },
    status: 400,
  },
  {
    name: 'DEL in a display name',
    method: 'PUT',
    url: '/players/alice',
    payload: { name: 'A\u007f' },
    status: 400,
  },
  {
    name: 'a C1 control in a display name',
    method: 'PUT',
    url: '/players/alice',
    payload: { name: 'A\u0085' },
    status: 400,
  },
  {
    name: 'a NUL byte in a display name',
    method: 'PUT',
    url: '/players/alice',
    payload: { name: 'A\u0000' },
    status: 400,
  },
  {
    name: 'true for a display name',
    method: 'PUT',
    url: '/players/alice',
    payload: { name: true },
    status: 400,
  },
  {
    name: 'a conflicting configuration of a board with scores',
    method: 'PUT',
    url: '/leaderboards/arena',
    payload: { sort: 'asc', operator: 'best', reset: 'none' },
    status: 409,
  },
  {
    name: 'a webhook that is not http(s)',
    method: 'PUT',
    url: '/leaderboards/new-board',
    payload: {
      sort: 'desc',
      operator: 'best',
      reset: 'none',
      webhook: { url: 'file:///etc/passwd' },
    },
    status: 400,
  },
  { method: 'GET', url: '/leaderboards/arena/players/nobody', status: 404 },
  { method: 'GET', url: '/leaderboards/ARENA/top', status: 400 },
  { method: 'GET', url: '/leaderboards/arena/top?limit=0', status: 400 },
];

describe('hostile input on every route of /docs/json', () => {
  hostileInputTests({
    suite: () => ({
      app,
      // The SSE stream never ends by design; /metrics is text.
      exclude: ['/metrics', '/leaderboards/{board}/stream'],
      knownValues: {
        board: ['arena', 'laps'],
        playerId: ['alice', 'bob'],
        playerIds: [['alice', 'bob']],
      },
      snapshot: state,
      examples,
    }),
    timeoutMs: 400_000,
    coverage: {
      routes: [
        'POST /leaderboards/{board}/scores',
        'PUT /leaderboards/{board}',
        'PUT /players/{playerId}',
        'GET /leaderboards/{board}/top',
      ],
      partial: true,
      moreThan: {
        'POST /leaderboards/{board}/scores': { 400: 50 },
        'PUT /leaderboards/{board}': { 400: 50 },
        'PUT /players/{playerId}': { 400: 50 },
        'GET /leaderboards/{board}/top': { 200: 10 },
      },
    },
  });
});
