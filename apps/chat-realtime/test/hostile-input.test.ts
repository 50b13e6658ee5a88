import { Redis } from 'ioredis';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  hostileInputTests,
  startRedis,
  uniquePrefix,
  type HostileExample,
  type RedisServer,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { startFakeAuth, testConfig, type FakeAuth } from './chat-harness';

// Generated from the service's own OpenAPI document. Its HTTP routes only read, and a bad
// request is refused before Redis is asked; the topologies differ in nothing such a request
// reaches, so standalone is enough. Guests are off (the default): reads need a session.
const COOKIE = 'sid=ok.1.reader';
const prefix = uniquePrefix('chat');
let redis: RedisServer;
let admin: Redis;
let auth: FakeAuth;
let app: ServiceInstance;
beforeAll(async () => {
  [redis, auth] = await Promise.all([startRedis(), startFakeAuth()]);
  admin = new Redis(redis.url);
  app = await buildApp(
    testConfig({
      redis: { url: redis.url },
      keyPrefix: prefix,
      chat: { authUrl: auth.url, allowGuests: false },
    }),
  );
  await app.ready();
  for (let n = 0; n < 3; n += 1) {
    await app.messages.append('general', { id: 'user:1', username: 'reader' }, `m${n}`, `c${n}`);
  }
});
afterAll(async () => {
  await app?.close();
  admin?.disconnect();
  await auth?.close();
  await redis?.stop();
});

/** Every key of this service with its content: what a rejected request must leave as it was. */
async function state(): Promise<unknown> {
  const keys = (await admin.keys(`${prefix}*`)).sort();
  return Promise.all(
    keys.map(async (key) => {
      const type = await admin.type(key);
      return [key, type === 'stream' ? await admin.xrange(key, '-', '+') : type];
    }),
  );
}

/** A 400 is a validation error naming the query parameter, and changes nothing. */
const history = (query: string, name: string, status = 400): HostileExample => ({
  name,
  method: 'GET',
  url: `/rooms/general/messages${query}`,
  status,
  ...(status === 400 && {
    code: 'VALIDATION_ERROR',
    message: new RegExp(`querystring/${query.slice(1).split('=')[0]}`),
  }),
});

/** Issue 19's bad ids, and ids Redis itself would refuse (each was once a 503 or a 500). */
const examples: HostileExample[] = [
  history('?before=0-0', 'before=0-0 ends before every id'),
  history('?before=00-000', 'before=0-0 with leading zeros'),
  history('?before=18446744073709551616-0', 'a millisecond part past 2^64 - 1'),
  history('?before=1-18446744073709551616', 'a sequence past 2^64 - 1'),
  history('?before=1700000000000', 'a millisecond part without its sequence'),
  history('?before=1-99999999999999999999', 'a sequence of 20 digits'),
  history('?before=x', 'not an id at all'),
  history('?before=1-', 'a sequence left out after the dash'),
  history('?before=-', 'the smallest id alias'),
  history('?before=%2B', 'the largest id alias'),
  history('?before=(1-0', 'an exclusive-range prefix'),
  history('?before=1-0%00', 'a NUL byte after the id'),
  history('?limit=0', 'a limit of 0'),
  history('?limit=201', 'a limit above 200'),
  history('?limit=true', 'a boolean limit'),
  { method: 'GET', url: '/rooms/General/messages', status: 400 },
  { method: 'GET', url: '/rooms/gen%00eral/messages', status: 400 },
  { method: 'GET', url: `/rooms/${'a'.repeat(65)}/messages`, status: 400 },
  history('?before=999999999999999-9999999999999999999', 'the largest id accepted', 200),
  history('?before=1-0', 'the smallest page', 200),
  {
    name: 'a read without a session while guests are off',
    method: 'GET',
    url: '/rooms/general/messages',
    anonymous: true,
    status: 401,
  },
];

describe('hostile input on every route of /docs/json', () => {
  hostileInputTests({
    suite: () => ({
      app,
      exclude: ['/metrics'],
      headers: () => ({ cookie: COOKIE }),
      knownValues: { room: ['general', 'empty'] },
      snapshot: state,
      examples,
    }),
    coverage: {
      routes: ['GET /', 'GET /health/live', 'GET /health/ready', 'GET /rooms/{room}/messages'],
      moreThan: { 'GET /rooms/{room}/messages': { 200: 10, 400: 50 } },
    },
  });
});
