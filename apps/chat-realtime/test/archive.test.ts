import { Pool } from 'pg';
import {
  eventually,
  delay,
  startPostgres,
  startRedis,
  startReplicas,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { createChatKeys } from '../src/chat/chat-keys';
import {
  ChatClient,
  historyPage,
  testConfig,
  type ErrorReply,
  type JoinReply,
  type SendReply,
} from './chat-harness';

// The archive's properties do not depend on the Redis topology (the failover suites cover
// that); what they need is a Redis that can be restarted empty and a PostgreSQL that can be
// paused: standalone Redis, embedded PostgreSQL.
jest.setTimeout(60000);

describe('history archived in PostgreSQL', () => {
  let redis: RedisServer;
  let postgres: PostgresServer;
  let pool: Pool;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];
  const prefix = uniquePrefix('chat');

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([
      startRedis({ faults: true }),
      startPostgres({ faults: true }),
    ]);
    const url = await postgres.createDatabase();
    pool = new Pool({ connectionString: url, max: 2 });
    pool.on('error', () => {});
    replicas = await startReplicas(2, () =>
      buildApp(
        testConfig({
          redis: { url: redis.url },
          keyPrefix: prefix,
          chat: { rateLimitMax: 100000, streamMaxLen: 100, catchupLimit: 1000 },
          database: { url, poolSize: 4, statementTimeoutMs: 500 },
        }),
      ),
    );
  }, 60000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await replicas?.close();
    await pool?.end();
    await postgres?.resume().catch(() => {});
    await postgres?.stop();
    await redis?.stop();
  });

  async function member(name: string): Promise<ChatClient> {
    const c = new ChatClient([replicas.url(0), replicas.url(1)], { name });
    clients.push(c);
    return c.connect();
  }
  const archived = async (room: string) =>
    (
      await pool.query<{ offset: string; body: string }>(
        'SELECT "offset", body FROM chat_messages WHERE room = $1 ORDER BY "offset"',
        [room],
      )
    ).rows.map((row) => [Number(row.offset), row.body]);
  const page = async (room: string, query = '') =>
    (await historyPage(replicas.url(1), room, `?limit=200${query}`)).body;

  it('after Redis restarted empty the epoch is kept, offsets continue, and history is read from PostgreSQL', async () => {
    const room = 'drill';
    const [sender, watcher] = await Promise.all([member('sender'), member('watcher')]);
    await Promise.all([sender.join(room), watcher.join(room)]);
    const acked: SendReply[] = [];
    for (let n = 0; n < 30; n += 1) acked.push((await sender.send(room, `m${n}`)) as SendReply);
    const epoch = acked[0].epoch;
    expect(acked.map((a) => a.offset)).toEqual(Array.from({ length: 30 }, (_, n) => n + 1));
    expect(await archived(room)).toHaveLength(30);
    await eventually('the watcher to hold all 30', () => expect(watcher.floor(room)).toBe(30));

    await redis.kill();
    await delay(500);
    await redis.start();
    // The subscription watch tells every room to resync; the recovery restores the numbering
    // from PostgreSQL instead of starting a new epoch, so nothing is reported lost.
    await eventually(
      'both clients to recover',
      () => expect(sender.resyncs > 0 && watcher.resyncs > 0).toBe(true),
      { timeoutMs: 15000 },
    );
    await eventually('a recovery answered', () =>
      expect(watcher.recovered > 0 && sender.recovered > 0).toBe(true),
    );
    expect([sender.unrecovered, watcher.unrecovered]).toEqual([0, 0]);

    const more: SendReply[] = [];
    for (let n = 30; n < 35; n += 1) more.push((await sender.send(room, `m${n}`)) as SendReply);
    expect(more.map((a) => [a.offset, a.epoch])).toEqual(
      [31, 32, 33, 34, 35].map((offset) => [offset, epoch]),
    );
    await eventually('the watcher to hold all 35', () => expect(watcher.floor(room)).toBe(35));
    expect(watcher.ordered(room).map((m) => m.text)).toEqual(
      Array.from({ length: 35 }, (_, n) => `m${n}`),
    );
    expect(watcher.extraDeliveries).toEqual([]);

    // 0 acknowledged messages lost from history: over HTTP, and for someone who joins now.
    const history = await page(room);
    expect(history.messages.map((m) => m.offset)).toEqual(
      Array.from({ length: 35 }, (_, n) => n + 1),
    );
    const newcomer = await member('newcomer');
    const joined = (await newcomer.join(room)) as JoinReply;
    expect(joined.epoch).toBe(epoch);
    expect(joined.history.map((m) => m.text)).toEqual(
      Array.from({ length: 35 }, (_, n) => `m${n}`),
    );
    // A client that tracks only the last id it saw (no offsets) catches up from PostgreSQL too.
    const byId = await member('by-id');
    const caughtUp = (await byId.join(room, '0-0')) as JoinReply;
    expect(caughtUp.history.map((m) => m.text)).toEqual(
      Array.from({ length: 35 }, (_, n) => `m${n}`),
    );
    expect(caughtUp.truncated).toBe(false);
  });

  it('recovers and pages beyond the Redis window from PostgreSQL', async () => {
    const room = 'window';
    const app = replicas.apps[0];
    const user = { id: 'user:1', username: 'writer' };
    const first = await app.messages.append(room, user, 'w0', 'w-0');
    for (let n = 1; n < 400; n += 1) await app.messages.append(room, user, `w${n}`, `w-${n}`);
    // The stream cap (100, approximate) trimmed most of them from Redis.
    const inRedis = await app.redis.xlen(createChatKeys(prefix).messages(room));
    expect(inRedis).toBeLessThan(300);

    const c = await member('reader');
    const recovered = (await c.request('join', {
      room,
      epoch: first.epoch,
      offset: 5,
    })) as JoinReply;
    expect(recovered.recovered).toBe(true);
    expect(recovered.history.map((m) => m.offset)).toEqual(
      Array.from({ length: 395 }, (_, n) => n + 6),
    );

    const seen: number[] = [];
    let before = '';
    for (;;) {
      const next = (
        await historyPage(replicas.url(0), room, `?limit=150${before ? `&before=${before}` : ''}`)
      ).body;
      seen.unshift(...next.messages.map((m) => m.offset));
      if (!next.nextBefore) break;
      before = next.nextBefore;
    }
    expect(seen).toEqual(Array.from({ length: 400 }, (_, n) => n + 1));
  });

  it('a send while PostgreSQL is paused is UNAVAILABLE within the statement bound, never acked; its resend is archived once', async () => {
    const room = 'paused';
    const [sender, watcher] = await Promise.all([member('sender'), member('watcher')]);
    await Promise.all([sender.join(room), watcher.join(room)]);
    await postgres.pause();
    let reply: SendReply | ErrorReply;
    const started = Date.now();
    try {
      reply = await sender.send(room, 'held', 'held-1');
    } finally {
      await postgres.resume();
    }
    expect(reply).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect(Date.now() - started).toBeLessThan(3000);
    // Not known to be stored: the INSERT may still run once PostgreSQL resumes (as an append
    // may in Redis), which is why the page resends with the same clientMsgId.
    expect((await archived(room)).length).toBeLessThanOrEqual(1);

    const again = (await sender.send(room, 'held', 'held-1')) as SendReply;
    expect(again).toMatchObject({ duplicate: true, offset: 1 });
    expect(await sender.send(room, 'held', 'held-1')).toMatchObject({ duplicate: true });
    expect(await archived(room)).toEqual([[1, 'held']]);
    await eventually('the watcher to catch it up', () => expect(watcher.floor(room)).toBe(1));
  });
});
