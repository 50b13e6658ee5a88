import {
  DeliveryCounter,
  eventually,
  httpCall,
  startRedis,
  topologiesUnderTest,
  type RedisServer,
} from '@redis-patterns/testkit';
import { createAdapterClients, pendingCommands } from '../src/chat/adapter-clients';
import { historyPage, replicaSetFixture, type ErrorReply, type SendReply } from './chat-harness';

jest.setTimeout(30000);

const isError = (reply: unknown): reply is ErrorReply =>
  typeof reply === 'object' && reply !== null && 'error' in reply;

describe.each(topologiesUnderTest())('limits per user and per connection on %s', (kind) => {
  const set = replicaSetFixture(kind, {
    rateLimitMax: 10,
    rateLimitWindowMs: 20000,
    typingRateMax: 5,
    typingRateWindowMs: 20000,
    maxRoomsPerSocket: 4,
    maxRoomsPerUser: 6,
  });
  const client = (i: number, cookie: string) => set().member(i, cookie);

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
    const page = (await historyPage(set().replicas.url(1), 'flood', '?limit=200')).body;
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
    await eventually('the watcher to receive a message from the other replica', () =>
      expect(watcher.deliveries.some((m) => m.id === warmUp.id)).toBe(true),
    );
    const relayed = new DeliveryCounter('typing events relayed to the watcher');
    watcher.socket.on('typing', relayed.record);
    const replies = [];
    for (let n = 0; n < 12; n += 1)
      replies.push(await typist.request('typing', { room: 'typing' }));
    expect(replies.filter((r) => !isError(r))).toHaveLength(5);
    expect(replies.filter(isError).map((r) => r.error.code)).toEqual(Array(7).fill('RATE_LIMITED'));
    // Typing is volatile (a busy socket may drop one), so the relay is bounded, not counted exactly.
    await eventually('a relayed typing event', () =>
      expect(relayed.items.length).toBeGreaterThan(0),
    );
    await typist.fence();
    await watcher.fence();
    // A sixth relayed event fails at once; fewer than five (one dropped) is allowed, so only
    // the counter's "extra delivery" failure counts, within 300 ms of quiet after the fences.
    await relayed.exactly(5, { timeoutMs: 300, quietMs: 300 }).catch((error: unknown) => {
      if (relayed.items.length > 5) throw error;
    });
    expect(relayed.items.length).toBeLessThanOrEqual(5);
    const metrics = (await httpCall(set().replicas.url(0), 'GET', '/metrics')).text;
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
      await eventually(
        'the held publishes to time out',
        () => expect(errors.length >= 50).toBe(true),
        { timeoutMs: 5000 },
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(errors.every((message) => /timed out/i.test(message))).toBe(true);
      await redis.resume();
      await eventually('the queue to drain', () => expect(pendingCommands(clients.pub)).toBe(0), {
        timeoutMs: 5000,
      });
      expect(await clients.pub.publish('chat-test', 'after')).toBe(0);
    } finally {
      await redis.resume();
      await clients.close();
    }
  });
});
