import {
  startRedis,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisServer,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { createAdapterClients, pendingCommands } from '../src/chat/adapter-clients';
import {
  ChatClient,
  redisOf,
  sleep,
  startFakeAuth,
  testConfig,
  waitFor,
  type ErrorReply,
  type FakeAuth,
  type SendReply,
} from './chat-harness';

jest.setTimeout(30000);

const isError = (reply: unknown): reply is ErrorReply =>
  typeof reply === 'object' && reply !== null && 'error' in reply;

describe.each(topologiesUnderTest())('limits per user and per connection on %s', (kind) => {
  let topology: RedisTopology;
  let auth: FakeAuth;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];

  function client(i: number, cookie: string): Promise<ChatClient> {
    const c = new ChatClient([replicas.url(i)], { cookie, reconnect: false });
    clients.push(c);
    return c.connect();
  }

  beforeAll(async () => {
    topology = await startTopology(kind);
    auth = await startFakeAuth();
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(3, () =>
      buildApp(
        testConfig(redisOf(topology), prefix, {
          authUrl: auth.url,
          rateLimitMax: 10,
          rateLimitWindowMs: 20000,
          typingRateMax: 5,
          typingRateWindowMs: 20000,
          maxRoomsPerSocket: 4,
          maxRoomsPerUser: 6,
        }),
      ),
    );
  }, 60000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await replicas?.close();
    await auth?.close();
    await topology?.stop();
  });

  it('limits messages per user across all their sockets on every replica', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 20 }, (_, n) => client(n % 3, 'sid=ok.5.mallory')),
    );
    await Promise.all(sockets.map((s) => s.join('flood')));
    const replies = await Promise.all(
      sockets.flatMap((s, n) => Array.from({ length: 10 }, (_, k) => s.send('flood', `${n}-${k}`))),
    );
    const acked = replies.filter((r): r is SendReply => !isError(r));
    const refused = replies.filter(isError);
    expect(acked).toHaveLength(10);
    expect(refused).toHaveLength(190);
    for (const r of refused) expect(r.error.code).toBe('RATE_LIMITED');
    const page = await fetch(`${replicas.url(1)}/rooms/flood/messages?limit=200`).then(
      (r) => r.json() as Promise<{ messages: unknown[] }>,
    );
    expect(page.messages).toHaveLength(10);
    // Another user keeps a budget of their own.
    const other = await client(2, 'sid=ok.6.grace');
    await other.join('flood');
    expect(await other.send('flood', 'mine')).toHaveProperty('id');
  });

  it('relays at most the typing rate of a socket, and says so to the sender', async () => {
    const [typist, watcher] = await Promise.all([
      client(0, 'sid=ok.7.typist'),
      client(1, 'sid=ok.8.watcher'),
    ]);
    await Promise.all([typist.join('typing'), watcher.join('typing')]);
    // Typing is volatile: sent before the watcher's replica is subscribed (on a Cluster that can
    // take a moment after the join), it is dropped. A message that arrives proves the path live.
    const warmUp = (await typist.send('typing', 'warm-up')) as { id: string };
    await waitFor('the watcher to receive a message from the other replica', () =>
      watcher.deliveries.some((m) => m.id === warmUp.id),
    );
    let seen = 0;
    watcher.socket.on('typing', () => (seen += 1));
    const replies = [];
    for (let n = 0; n < 12; n += 1)
      replies.push(await typist.request('typing', { room: 'typing' }));
    expect(replies.filter((r) => !isError(r))).toHaveLength(5);
    expect(replies.filter(isError).map((r) => r.error.code)).toEqual(Array(7).fill('RATE_LIMITED'));
    // Typing is volatile (a busy socket may drop one), so the relay is bounded, not counted exactly.
    await waitFor('a relayed typing event', () => seen > 0);
    await typist.fence();
    await watcher.fence();
    await sleep(300);
    expect(seen).toBeLessThanOrEqual(5);
    const metrics = await fetch(`${replicas.url(0)}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/chat_refused_total\{limit="typing"\} 7\b/);
  });

  it('caps the rooms of a socket', async () => {
    const c = await client(0, 'sid=ok.9.rooms');
    for (const room of ['a', 'b', 'c', 'd']) expect(await c.join(room)).toHaveProperty('history');
    expect(await c.join('e')).toMatchObject({ error: { code: 'TOO_MANY_ROOMS' } });
    // A room it is in already is no new room; leaving one frees a place.
    expect(await c.join('a')).toHaveProperty('history');
    await c.leave('d');
    expect(await c.join('e')).toHaveProperty('history');
  });

  it('caps the rooms of a user across their sockets on every replica', async () => {
    const sockets = await Promise.all([0, 1, 2].map((i) => client(i, 'sid=ok.10.roamer')));
    const held: string[][] = [[], [], []];
    await Promise.all(
      sockets.flatMap((s, i) =>
        [0, 1, 2, 3].map(async (n) => {
          const reply = await s.join(`u${i}-${n}`);
          if ('history' in reply) held[i].push(`u${i}-${n}`);
          else expect(reply.error.code).toBe('TOO_MANY_ROOMS');
        }),
      ),
    );
    expect(held.flat()).toHaveLength(6);
    // A room the user holds through one socket is open to their others.
    const byFew = [0, 1, 2].sort((a, b) => held[a].length - held[b].length);
    const [fewest, most] = [byFew[0], byFew[2]];
    const shared = held[most][0];
    expect(await sockets[fewest].join(shared)).toHaveProperty('history');
    expect(await sockets[fewest].join('one-more')).toMatchObject({
      error: { code: 'TOO_MANY_ROOMS' },
    });
    // Leaving frees a place for the user, on any replica.
    await sockets[most].leave(held[most][1]);
    expect(await sockets[fewest].join('one-more')).toHaveProperty('history');
  });
});

describe('the adapter clients while Redis is paused', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis({ faults: true });
  });
  afterAll(async () => {
    await redis?.resume();
    await redis?.stop();
  });

  it('hold at most maxPending commands, drop the rest, and time commands out', async () => {
    const errors: string[] = [];
    let drops = 0;
    const clients = await createAdapterClients(
      { url: redis.url },
      (error) => errors.push(error.message),
      { commandTimeoutMs: 500, maxPending: 50, onDrop: () => (drops += 1) },
    );
    try {
      await redis.pause();
      const started = Date.now();
      for (let n = 0; n < 2000; n += 1) void clients.pub.publish('chat-test', `m${n}`);
      expect(pendingCommands(clients.pub)).toBeLessThanOrEqual(50);
      expect(drops).toBe(2000 - 50);
      // Each held publish is rejected at its deadline (and caught), not left to hang.
      await waitFor('the held publishes to time out', () => errors.length >= 50, 5000);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(errors.every((message) => /timed out/i.test(message))).toBe(true);
      await redis.resume();
      await waitFor('the queue to drain', () => pendingCommands(clients.pub) === 0, 5000);
      expect(await clients.pub.publish('chat-test', 'after')).toBe(0);
    } finally {
      await redis.resume();
      await clients.close();
    }
  });
});
