import { Redis } from 'ioredis';
import { Pool } from 'pg';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  eventually,
  hostileInputTests,
  perFileFixture,
  startTopology,
  uniquePrefix,
  type HostileExample,
  type HostileRoute,
  type RedisTopology,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { createSessionKeys } from '../src/session/session-keys';
import { publicSessionId } from '../src/session/session-record';
import { startDatabase, TEST_LOGIN, testConfig } from './auth-harness';

// Generated from the service's own OpenAPI document (`/docs/json`). Input is refused before
// Redis or PostgreSQL is touched, and what passes behaves alike on every topology (the other
// suites prove that): standalone is enough here.
const PASSWORD = 'correct horse battery';
/** Whose sessions the suite's requests carry (long-lived ones for reads). */
const ACTOR = 'hostile_actor';
/** Whose throwaway sessions the revoking routes carry, one fresh session per request. */
const DISPOSABLE = 'hostile_disposable';
/** Whose sessions DELETE /auth/sessions/{id} revokes by their known public ids. */
const TARGET = 'hostile_target';
/** Nobody's request carries this user's sessions: a rejected request must leave them alive. */
const VICTIM = 'hostile_victim';

let topology: RedisTopology;
let pool: Pool;
let app: ServiceInstance;
let actor: { cookie: string; token: string };
let victim: { cookie: string; token: string };
let targetIds: string[];
let redis: Redis;
const prefix = uniquePrefix('auth');
const keys = createSessionKeys(prefix);

/** Logs `username` in through the app; a cookie (`sid=...`) or a bearer token. */
async function login(username: string, as: 'cookie' | 'token'): Promise<string> {
  const send = () =>
    app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username, password: PASSWORD, token: as === 'token' },
    });
  // Setup, not a property: on a loaded machine a hash may outlast the queue bound (503);
  // retry as a client honouring Retry-After would.
  const response = await eventually(
    `a login of ${username}`,
    async () => {
      const answer = await send();
      if (answer.statusCode === 503) throw new Error('503');
      return answer;
    },
    { timeoutMs: 2000, intervalMs: 100 },
  );
  if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.statusCode}`);
  return as === 'token'
    ? response.json<{ token: string }>().token
    : String(response.headers['set-cookie']).split(';')[0];
}

/** The session id inside a `sid=<id>.<signature>` cookie. */
const sessionIdOfCookie = (cookie: string) =>
  decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0];

const credential = (
  session: { cookie: string; token: string },
  bearer: boolean,
): Record<string, string> =>
  bearer ? { authorization: `Bearer ${session.token}` } : { cookie: session.cookie };

perFileFixture(async (cleanup) => {
  let database: { url: string };
  [database, topology] = await Promise.all([startDatabase(cleanup), startTopology('standalone')]);
  cleanup(() => topology.stop());
  pool = new Pool({ connectionString: database.url, max: 2 });
  pool.on('error', () => {});
  cleanup(() => pool.end());
  redis = new Redis(topology.config.url ?? '');
  cleanup(() => redis.disconnect());
  app = await buildApp(
    testConfig({
      redis: topology.config,
      databaseUrl: database.url,
      keyPrefix: prefix,
      // Generated logins of the known user must not lock it out of the valid ones.
      login: { ...TEST_LOGIN, maxFailures: 100_000, maxFailuresPerUser: 100_000 },
    }),
  );
  cleanup(() => app.close());
  await app.ready();
  for (const username of [ACTOR, DISPOSABLE, TARGET, VICTIM]) {
    await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username, password: PASSWORD },
    });
  }
  actor = { cookie: await login(ACTOR, 'cookie'), token: await login(ACTOR, 'token') };
  victim = { cookie: await login(VICTIM, 'cookie'), token: await login(VICTIM, 'token') };
  // Sessions a generated DELETE /auth/sessions/{id} can find (by their public id).
  targetIds = [];
  for (let i = 0; i < 20; i += 1) targetIds.push(publicSessionId(await login(TARGET, 'token')));
});

/** What a rejected request must leave as it was: the users, and the sessions nobody revoked. */
async function state(): Promise<unknown> {
  const users = await pool.query('SELECT id, username, password_hash FROM users ORDER BY id');
  // Read from Redis directly: a GET /auth/me would itself change the session (its use count).
  const alive = (session: { cookie: string; token: string }) =>
    Promise.all(
      [sessionIdOfCookie(session.cookie), session.token].map((id) =>
        redis.exists(keys.session(id)),
      ),
    );
  return { users: users.rows, victim: await alive(victim), actor: await alive(actor) };
}

/**
 * Routes that end the session they carry or its siblings (a login destroys the one presented,
 * against fixation): each request gets a fresh one of its own.
 */
const REVOKING = new Set([
  'POST /auth/login',
  'POST /auth/logout',
  'DELETE /auth/sessions',
  'DELETE /auth/sessions/{id}',
]);
let requestCount = 0;
async function sessionHeaders(route: HostileRoute): Promise<Record<string, string>> {
  requestCount += 1;
  const bearer = requestCount % 2 === 0;
  if (!REVOKING.has(route.key)) return credential(actor, bearer);
  // By id: the target's own sessions are the ones with known ids; DELETE /auth/sessions would
  // end them, so it revokes the disposable user's instead.
  const owner = route.key === 'DELETE /auth/sessions/{id}' ? TARGET : DISPOSABLE;
  const fresh = await login(owner, bearer ? 'token' : 'cookie');
  return bearer ? { authorization: `Bearer ${fresh}` } : { cookie: fresh };
}

/** A 400; with `field`, a validation error whose message names that field. */
const json = (url: string, payload: unknown, name: string, field?: string): HostileExample => ({
  name,
  method: 'POST',
  url,
  payload,
  status: 400,
  ...(field && { code: 'VALIDATION_ERROR', message: new RegExp(field) }),
});

/** Issue 14's cases for this service: wrong types, control characters, forged credentials. */
const examples: HostileExample[] = [
  json('/auth/login', { username: true, password: PASSWORD }, 'true for the username', 'username'),
  json(
    '/auth/login',
    { username: ACTOR, password: 12345678 },
    'a number for the password',
    'password',
  ),
  json('/auth/login', { username: ACTOR, password: null }, 'null for the password'),
  json(
    '/auth/login',
    { username: ACTOR, password: PASSWORD, token: 'true' },
    'a string for token',
    'token',
  ),
  json('/auth/login', { username: ACTOR, password: PASSWORD, token: 1 }, 'a number for token'),
  json('/auth/login', { username: ['a', 'b', 'c'], password: PASSWORD }, 'an array username'),
  json('/auth/login', { username: 'act\u0000or', password: PASSWORD }, 'a NUL in the username'),
  json('/auth/login', { username: 'act\u001bor', password: PASSWORD }, 'an ESC in the username'),
  json(
    '/auth/register',
    { username: 'hostile_new', password: 12345678 },
    'register: a number password',
    'password',
  ),
  json(
    '/auth/register',
    { username: 'hostile_typed', password: 'tab\there-ok?' },
    'register: a tab in the password',
    'password',
  ),
  json('/auth/register', { username: 12345, password: PASSWORD }, 'register: a number username'),
  json(
    '/auth/register',
    { username: 'hostile_x', password: PASSWORD, admin: true },
    'an extra field',
  ),
  {
    name: 'a body that is JSON null',
    method: 'POST',
    url: '/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: 'null',
    status: 400,
  },
  {
    // Found by this suite: it logged in (200), HMAC pads scrypt's key with zero bytes.
    name: 'the password followed by a NUL byte is not the password',
    method: 'POST',
    url: '/auth/login',
    payload: { username: ACTOR, password: `${PASSWORD}\u0000` },
    status: 400,
  },
  {
    name: 'a forged cookie',
    method: 'GET',
    url: '/auth/me',
    anonymous: true,
    headers: { cookie: 'sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.forged' },
    status: 401,
  },
  {
    name: 'a cookie signed with another secret',
    method: 'GET',
    url: '/auth/sessions',
    anonymous: true,
    headers: {}, // the actor's cookie with its signature spoiled, set once it exists
    status: 401,
  },
  {
    name: 'a made-up bearer token',
    method: 'GET',
    url: '/auth/me',
    anonymous: true,
    headers: { authorization: `Bearer ${'A'.repeat(32)}` },
    status: 401,
  },
  {
    name: 'a bearer token with a NUL byte',
    method: 'GET',
    url: '/auth/me',
    anonymous: true,
    headers: { authorization: `Bearer ${'A'.repeat(16)}%00${'A'.repeat(13)}` },
    status: 401,
  },
  {
    name: 'a cookie request from a foreign origin',
    method: 'DELETE',
    url: '/auth/sessions',
    headers: { origin: 'https://evil.example', cookie: 'sid=x' },
    anonymous: true,
    status: 403,
  },
  { method: 'DELETE', url: '/auth/sessions/not-an-id', status: 400 },
  { method: 'DELETE', url: `/auth/sessions/${'0'.repeat(31)}%00`, status: 400 },
  { method: 'DELETE', url: `/auth/sessions/${'0'.repeat(32)}`, status: 404 },
];

describe('hostile input on every route of /docs/json', () => {
  hostileInputTests({
    suite: () => ({
      app,
      exclude: ['/metrics'],
      headers: sessionHeaders,
      knownValues: { username: [ACTOR, DISPOSABLE], password: [PASSWORD], id: targetIds },
      snapshot: state,
      // Built here: the forged-cookie example needs the actor's real cookie.
      examples: examples.map((example) =>
        example.name === 'a cookie signed with another secret'
          ? { ...example, headers: { cookie: `${actor.cookie.slice(0, -2)}xx` } }
          : example,
      ),
    }),
    timeoutMs: 600_000,
    coverage: {
      routes: [
        'DELETE /auth/sessions',
        'DELETE /auth/sessions/{id}',
        'GET /auth/me',
        'GET /auth/sessions',
        'GET /health/live',
        'GET /health/ready',
        'POST /auth/login',
        'POST /auth/logout',
        'POST /auth/register',
      ],
      moreThan: {
        'GET /auth/me': { 200: 10 },
        'GET /auth/sessions': { 200: 10 },
        'DELETE /auth/sessions': { 200: 10 },
        'POST /auth/register': { 201: 0, 400: 50 },
        'POST /auth/logout': { 204: 10 },
        'DELETE /auth/sessions/{id}': { 204: 0 },
        'POST /auth/login': { 400: 50 },
      },
    },
  });
});
