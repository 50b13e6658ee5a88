import {
  eventually,
  httpCall,
  delay,
  startRedis,
  startReplicas,
  startServiceProcess,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { compareStreamIds } from '../src/chat/stream-id';
import {
  ChatClient,
  SOURCE_NODE_OPTIONS,
  SOURCE_SERVER,
  adminCommand,
  historyPage,
  redisOf,
  replicasOf,
  testConfig,
  type ErrorReply,
  type SendReply,
} from './chat-harness';

jest.setTimeout(60000);

/**
 * Redis from `redis.start()`, three in-process replicas on it, and clients that each know all
 * three, in turn; all stopped in reverse order after the block.
 */
function chatReplicas(redis: { start(): Promise<RedisConfig>; stop(): Promise<void> }) {
  const state = {
    replicas: undefined as unknown as Replicas<ServiceInstance>,
    clients: [] as ChatClient[],
    unhandled: [] as unknown[],
  };
  const onUnhandled = (reason: unknown) => state.unhandled.push(reason);
  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    const config = await redis.start();
    const prefix = uniquePrefix('chat');
    state.replicas = await startReplicas(3, () =>
      buildApp(testConfig({ redis: config, keyPrefix: prefix, chat: { rateLimitMax: 1000 } })),
    );
  }, 60000);
  afterAll(async () => {
    for (const c of state.clients) c.close();
    await state.replicas?.close();
    await redis.stop();
    process.off('unhandledRejection', onUnhandled);
  });
  const members = async (room: string): Promise<ChatClient[]> => {
    const list = await Promise.all(
      [0, 1, 2].map((i) => {
        const urls = [0, 1, 2].map((n) => state.replicas.url(i + n));
        const c = new ChatClient(urls, { name: `m${i}` });
        state.clients.push(c);
        return c.connect();
      }),
    );
    await Promise.all(list.map((c) => c.join(room)));
    return list;
  };
  return { state, members };
}

/** Sends from `sender` every 50 ms until stopped, recording what was acked and what failed. */
function sendLoop(sender: ChatClient, room: string, tag: string) {
  const acked: string[] = [];
  const failed: string[] = [];
  let running = true;
  const done = (async () => {
    for (let n = 0; running; n += 1) {
      const clientMsgId = `${tag}-${n}`;
      const started = Date.now();
      const reply = await sender.send(room, `message ${n}`, clientMsgId);
      if ('id' in reply) acked.push(reply.id);
      else {
        expect((reply as ErrorReply).error.code).toBe('UNAVAILABLE');
        // Error acks come within the command timeout (500 ms) plus slack, never hang.
        expect(Date.now() - started).toBeLessThan(2500);
        failed.push(clientMsgId);
      }
      await delay(50);
    }
  })();
  return {
    acked,
    failed,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Every member gets every id, none live twice, and live messages arrive in stream order. */
async function expectEveryMemberHas(members: ChatClient[], room: string, ids: string[]) {
  const expected = [...new Set(ids)];
  for (const c of members) {
    await eventually(`member ${c.user?.username} to have every acked message`, () =>
      expect(expected.every((id) => c.messages.get(room)?.has(id))).toBe(true),
    );
  }
  for (const c of members) {
    expect(c.extraDeliveries).toEqual([]);
    const live = c.deliveries.filter((m) => m.room === room).map((m) => m.id);
    expect([...live].sort(compareStreamIds)).toEqual(live);
  }
}

describe.each(topologiesUnderTest())('chat-realtime while Redis stalls on %s', (kind) => {
  let topology: RedisTopology;
  // The real command timeout; failure detection (5 s) longer than the stalls below, so they
  // stay stalls and do not become failovers (failover.test.ts does those).
  const { state, members } = chatReplicas({
    start: async () => {
      topology = await startTopology(kind, { failureDetectionMs: 5000 });
      return redisOf(topology, 500);
    },
    stop: async () => {
      await Promise.all(topology?.servers.map((server) => server.resume().catch(() => {})) ?? []);
      await topology?.stop();
    },
  });

  it("the room's master SIGSTOPped 3 s while sending: sends fail or succeed; afterwards every member has every acked message, in order, once", async () => {
    const room = 'stall';
    const [sender, ...others] = await members(room);
    const { acked, failed, stop } = sendLoop(sender, room, 'stall');
    await delay(600);
    const master = await topology.master(`{${room}}`);
    await master.pause();
    await delay(3000);
    await master.resume();
    await delay(800);
    await stop();
    expect(failed.length).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(5);

    // A failed send is retried with its clientMsgId, as the page does: stored once either way.
    for (const clientMsgId of failed) {
      const reply = (await sender.send(room, `retry ${clientMsgId}`, clientMsgId)) as SendReply;
      expect(reply.id).toBeDefined();
      acked.push(reply.id);
    }
    await expectEveryMemberHas([sender, ...others], room, acked);
    const history = (await historyPage(state.replicas.url(2), room, '?limit=200')).body;
    expect(history.messages.map((m) => m.id)).toEqual([...new Set(acked)].sort(compareStreamIds));
    expect(state.unhandled).toEqual([]);
  });

  it('an append no replica confirms in time is an error ack and is not broadcast; its resend is acked once and members catch it up', async () => {
    if (!topology.hasReplicas) return;
    const room = 'unreplicated';
    const [sender, ...others] = await members(room);
    const replicas = await replicasOf(topology, `{${room}}`);
    expect(replicas.length).toBeGreaterThan(0);
    await Promise.all(replicas.map((server) => server.pause()));
    let reply: SendReply | ErrorReply;
    const started = Date.now();
    try {
      reply = await sender.send(room, 'on the master only', 'unreplicated-1');
    } finally {
      await Promise.all(replicas.map((server) => server.resume()));
    }
    expect(reply).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    // The replica wait (80% of the 500 ms command timeout) bounds it.
    expect(Date.now() - started).toBeLessThan(1500);

    const fence = (await sender.send(room, 'fence', 'unreplicated-fence')) as SendReply;
    expect(fence.id).toBeDefined();
    await eventually('the fence everywhere', () =>
      expect(others.every((c) => c.messages.get(room)?.has(fence.id))).toBe(true),
    );
    await Promise.all(others.map((c) => c.fence()));
    for (const c of others) expect(c.deliveries.map((m) => m.text)).toEqual(['fence']);

    // The first attempt is on the master: the resend acknowledges that one, once, now that a
    // replica has it, and members are told to re-read.
    const again = (await sender.send(room, 'on the master only', 'unreplicated-1')) as SendReply;
    expect(again).toMatchObject({ duplicate: true });
    await expectEveryMemberHas([sender, ...others], room, [again.id, fence.id]);
    const history = (await historyPage(state.replicas.url(1), room)).body;
    expect(history.messages.map((m) => m.text)).toEqual(['on the master only', 'fence']);
  });

  it('subscriptions dropped on every node while sending: every member is told to resync and misses nothing', async () => {
    const room = 'subkill';
    const list = await members(room);
    const { acked, stop } = sendLoop(list[0], room, 'subkill');
    await delay(500);
    const before = list.map((c) => c.resyncs);
    for (const server of topology.servers) {
      await adminCommand(server, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    }
    await eventually('every member to be told to resync', () =>
      expect(list.every((c, i) => c.resyncs > before[i])).toBe(true),
    );
    await delay(300);
    await stop();
    expect(acked.length).toBeGreaterThan(5);
    await expectEveryMemberHas(list, room, acked);
    expect(state.unhandled).toEqual([]);
  });
});

describe('chat-realtime when a standalone Redis restarts empty', () => {
  let redis: RedisServer;
  const { state, members } = chatReplicas({
    start: async () => {
      redis = await startRedis({ faults: true });
      return { url: redis.url };
    },
    stop: async () => redis?.stop(),
  });

  it('broadcasts while it is down do not crash, and every replica tells its clients to resync', async () => {
    const room = 'restart';
    const list = await members(room);
    const kept = (await list[0].send(room, 'before the wipe')) as SendReply;
    await eventually('the first message everywhere', () =>
      expect(list.every((c) => c.floor(room) === 1 && c.messages.get(room)?.has(kept.id))).toBe(
        true,
      ),
    );
    await redis.kill();
    // A broadcast through the adapter while its Redis is down (typing goes through no store).
    for (const c of list) c.socket.emit('typing', { room });
    state.replicas.apps[0].io.to(room).emit('presence', { room, users: [] });
    const failedSend = await list[0].send(room, 'while down');
    expect(failedSend).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    await delay(1000);
    await redis.start();

    await eventually(
      'every client to be told to resync',
      () => expect(list.every((c) => c.resyncs > 0)).toBe(true),
      { timeoutMs: 15000 },
    );
    const reply = (await list[1].send(room, 'after restart')) as SendReply;
    for (const c of list) {
      await eventually('the message after restart', () =>
        expect(c.messages.get(room)?.has(reply.id) === true).toBe(true),
      );
    }
    // The history was lost: every client's recovery says so (never recovered: true from the
    // old numbering), and the new numbering starts again at 1 under a new epoch.
    for (const c of list) {
      await eventually('recovered: false', () =>
        expect(c.unrecovered > 0 && c.floor(room) === 1).toBe(true),
      );
    }
    expect(state.unhandled).toEqual([]);
  });
});

describe('a chat-realtime process and a Redis outage', () => {
  let redis: RedisServer;
  let service: ServiceProcess | undefined;
  let client: ChatClient | undefined;

  beforeAll(async () => {
    redis = await startRedis({ faults: true });
  });
  afterAll(async () => {
    client?.close();
    await service?.stop('SIGKILL');
    await redis?.stop();
  });

  it('keeps running when the adapter publishes while Redis is down, and shuts down cleanly', async () => {
    service = await startServiceProcess(SOURCE_SERVER, {
      NODE_OPTIONS: SOURCE_NODE_OPTIONS,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix('chat'),
      CHAT_ALLOW_GUESTS: 'true',
    });
    client = new ChatClient([service.url], { name: 'solo', reconnect: false });
    await client.connect();
    await client.join('down');
    await redis.kill();
    for (let n = 0; n < 5; n += 1) client.socket.emit('typing', { room: 'down' });
    await delay(1500);
    expect(service.child.exitCode).toBeNull();
    expect((await httpCall(service.url, 'GET', '/health/live')).status).toBe(200);
    expect((await httpCall(service.url, 'GET', '/health/ready')).status).toBe(503);
    // Closing with publishes still queued: rejected inside, caught, exit 0.
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(service.output()).not.toMatch(/unhandledRejection|fatal error/i);
    await redis.start();
  });
});
