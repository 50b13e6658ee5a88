import {
  startRedis,
  startReplicas,
  startServiceProcess,
  uniquePrefix,
  type RedisServer,
  type Replicas,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { compareStreamIds } from '../src/chat/stream-id';
import {
  ChatClient,
  SOURCE_NODE_OPTIONS,
  SOURCE_SERVER,
  sleep,
  testConfig,
  waitFor,
  type ErrorReply,
  type SendReply,
} from './chat-harness';

jest.setTimeout(60000);

describe('chat-realtime while Redis stalls or restarts', () => {
  let redis: RedisServer;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await startRedis({ faults: true });
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(3, () =>
      buildApp(testConfig(redis.url, prefix, { rateLimitMax: 1000 })),
    );
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await redis?.resume().catch(() => {});
    await replicas?.close();
    await redis?.stop();
    process.off('unhandledRejection', onUnhandled);
  });

  async function members(room: string): Promise<ChatClient[]> {
    const list = await Promise.all(
      [0, 1, 2].map((i) => {
        const urls = [0, 1, 2].map((n) => replicas.url(i + n));
        const c = new ChatClient(urls, { name: `m${i}` });
        clients.push(c);
        return c.connect();
      }),
    );
    await Promise.all(list.map((c) => c.join(room)));
    return list;
  }

  it('Redis SIGSTOPped while sending: sends fail or succeed; afterwards every member has every acked message, in order, once', async () => {
    const room = 'stall';
    const [sender, ...others] = await members(room);
    const acked: string[] = [];
    const failed: string[] = [];
    let stop = false;
    const sending = (async () => {
      for (let n = 0; !stop; n += 1) {
        const clientMsgId = `stall-${n}`;
        const started = Date.now();
        const reply = await sender.send(room, `message ${n}`, clientMsgId);
        if ('id' in reply) acked.push(reply.id);
        else {
          expect((reply as ErrorReply).error.code).toBe('UNAVAILABLE');
          // Error acks come within the command timeout (500 ms) plus slack, never hang.
          expect(Date.now() - started).toBeLessThan(2500);
          failed.push(clientMsgId);
        }
        await sleep(50);
      }
    })();
    await sleep(600);
    await redis.pause();
    await sleep(3000);
    await redis.resume();
    await sleep(800);
    stop = true;
    await sending;
    expect(failed.length).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(5);

    // A failed send is retried with its clientMsgId, as the page does: stored once either way.
    for (const clientMsgId of failed) {
      const reply = (await sender.send(room, `retry ${clientMsgId}`, clientMsgId)) as SendReply;
      expect(reply.id).toBeDefined();
      acked.push(reply.id);
    }
    const expected = [...new Set(acked)];
    for (const c of [sender, ...others]) {
      await waitFor(`member ${c.user?.username} to have every acked message`, () =>
        expected.every((id) => c.messages.get(room)?.has(id)),
      );
    }
    for (const c of [sender, ...others]) {
      const live = c.deliveries.map((m) => m.id);
      expect(new Set(live).size).toBe(live.length);
      const ordered = c.ordered(room).map((m) => m.id);
      expect(ordered).toEqual(expect.arrayContaining(expected));
      // Live deliveries from one sender arrive in stream order.
      expect([...live].sort(compareStreamIds)).toEqual(live);
    }
    expect(unhandled).toEqual([]);
  });

  it('Redis restarted: broadcasts while it is down do not crash, and every replica tells its clients to resync', async () => {
    const room = 'restart';
    const list = await members(room);
    await redis.kill();
    // A broadcast through the adapter while its Redis is down (typing goes through no store).
    for (const c of list) c.socket.emit('typing', { room });
    replicas.apps[0].io.to(room).emit('presence', { room, users: [] });
    const failedSend = await list[0].send(room, 'while down');
    expect(failedSend).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    await sleep(1000);
    await redis.start();

    await waitFor(
      'every client to be told to resync',
      () => list.every((c) => c.resyncs > 0),
      15000,
    );
    const reply = (await list[1].send(room, 'after restart')) as SendReply;
    for (const c of list) {
      await waitFor(
        'the message after restart',
        () => c.messages.get(room)?.has(reply.id) === true,
      );
    }
    expect(unhandled).toEqual([]);
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
    });
    client = new ChatClient([service.url], { name: 'solo', reconnect: false });
    await client.connect();
    await client.join('down');
    await redis.kill();
    for (let n = 0; n < 5; n += 1) client.socket.emit('typing', { room: 'down' });
    await sleep(1500);
    expect(service.child.exitCode).toBeNull();
    expect(await fetch(`${service.url}/health/live`).then((r) => r.status)).toBe(200);
    expect(await fetch(`${service.url}/health/ready`).then((r) => r.status)).toBe(503);
    // Closing with publishes still queued: rejected inside, caught, exit 0.
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(service.output()).not.toMatch(/unhandledRejection|fatal error/i);
    await redis.start();
  });
});
