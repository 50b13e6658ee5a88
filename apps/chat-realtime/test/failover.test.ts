import {
  eventually,
  delay,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  MASTER_FAULTS,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import type { ChatMessage } from '../src/chat/chat-protocol';
import { ChatClient, redisOf, testConfig, type ErrorReply, type SendReply } from './chat-harness';

jest.setTimeout(120000);

/** One send and how it ended. */
interface Outcome {
  sender: number;
  clientMsgId: string;
  text: string;
  at: number;
  ack?: SendReply;
  error?: string;
}

const replicated = topologiesUnderTest().filter((kind) => kind !== 'standalone');

describe.each(replicated)('chat-realtime through failovers on %s', (kind) => {
  let topology: RedisTopology;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    topology = await startTopology(kind);
    const prefix = uniquePrefix('chat');
    // The production command timeout (500 ms; the replica wait is 400 ms of it).
    replicas = await startReplicas(3, () =>
      buildApp(
        testConfig({
          redis: redisOf(topology, 500),
          keyPrefix: prefix,
          chat: { rateLimitMax: 100000 },
        }),
      ),
    );
  }, 60000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await replicas?.close();
    await topology?.stop();
  });

  async function connect(first: number, name: string): Promise<ChatClient> {
    const urls = [0, 1, 2].map((n) => replicas.url(first + n));
    const c = new ChatClient(urls, { name, guestId: `${name}-${uniquePrefix('g')}` });
    clients.push(c);
    return c.connect();
  }

  /** The room's whole history, read again until Redis answers (it may be mid-convergence). */
  async function history(room: string): Promise<ChatMessage[]> {
    let messages: ChatMessage[] = [];
    await eventually('the history to be readable', async () => {
      messages = await replicas.apps[1].messages.latest(room, 10000).catch(() => messages);
      expect(messages.length).toBeGreaterThan(0);
    });
    return messages;
  }

  it.each(MASTER_FAULTS.map((fault, i) => [fault.name, i] as const))(
    '%s under steady sending from three replicas: no acknowledged message lost or undelivered, no duplicate, every failure an error ack',
    async (name, index) => {
      const fault = MASTER_FAULTS[index];
      const room = `fo-${index}`;
      const senders = await Promise.all([0, 1, 2].map((i) => connect(i, `sender${i}`)));
      const readers = await Promise.all([0, 1, 2].map((i) => connect(i, `reader${i}`)));
      const members = [...senders, ...readers];
      for (const c of members) await c.join(room);

      const outcomes: Outcome[] = [];
      let running = true;
      const loops = senders.map(async (c, s) => {
        for (let n = 0; running; n += 1) {
          const outcome: Outcome = {
            sender: s,
            clientMsgId: `s${s}-${n}`,
            text: `s${s}-${n}`,
            at: Date.now(),
          };
          outcomes.push(outcome);
          const reply = await c
            .send(room, outcome.text, outcome.clientMsgId)
            .catch((error: Error) => ({ error: { code: `NO_ANSWER ${error.message}` } }));
          if ('id' in reply) outcome.ack = reply;
          else outcome.error = (reply as ErrorReply).error.code;
          await delay(20);
        }
      });

      await delay(1000);
      const faultAt = Date.now();
      const result = await fault.inject(topology, `{${room}}`);
      await delay(2000);
      await result.recover();
      const convergedMs = Date.now() - faultAt;
      await delay(500);
      running = false;
      await Promise.all(loops);

      const acked = outcomes.filter((o) => o.ack);
      const failed = outcomes.filter((o) => o.error);
      // Every failure is an error ack saying "retry", never a silence or another code.
      expect(failed.filter((o) => o.error !== 'UNAVAILABLE')).toEqual([]);

      // As the page does: every failed send is retried with its clientMsgId until it is acked.
      for (const o of failed) {
        await eventually(`the resend of ${o.clientMsgId}`, async () => {
          const reply = await senders[o.sender].send(room, o.text, o.clientMsgId);
          expect(reply).toHaveProperty('id');
          o.ack = reply as SendReply;
        });
      }

      const stored = await history(room);
      const storedIds = new Set(stored.map((m) => m.id));
      const lost = acked.filter((o) => !storedIds.has((o.ack as SendReply).id));
      const texts = stored.map((m) => m.text);
      const duplicated = texts.filter((text, i) => texts.indexOf(text) !== i);
      const everyAck = outcomes.map((o) => (o.ack as SendReply).id);
      // Delivered live, or caught up from history after a resync or a reconnect.
      let undelivered: string[] = [];
      await eventually(
        'every member to have every acknowledged message',
        () => {
          undelivered = members.flatMap((c) =>
            everyAck
              .filter((id) => storedIds.has(id) && !c.messages.get(room)?.has(id))
              .map((id) => `${c.user?.username}:${id}`),
          );
          expect(undelivered).toEqual([]);
        },
        { timeoutMs: 15000 },
      ).catch(() => {});
      const liveDuplicates = members.flatMap((c) => c.extraDeliveries.map((m) => m.id));

      const failedSpan = failed.length ? failed[failed.length - 1].at - failed[0].at : 0;
      const firstFailure = failed.length ? failed[0].at - faultAt : 0;
      process.stderr.write(
        `[chat-failover] ${kind} ${name}: sent ${outcomes.length}, acked ${acked.length}, ` +
          `failed ${failed.length} (UNAVAILABLE, from T+${firstFailure} ms for ${failedSpan} ms), ` +
          `acked-and-lost ${lost.length}, undelivered ${undelivered.length}, ` +
          `duplicates ${duplicated.length} stored / ${liveDuplicates.length} live, ` +
          `promoted in ${result.promotedMs} ms, converged at T+${convergedMs} ms\n`,
      );
      expect(acked.length).toBeGreaterThan(50);
      expect(lost.map((o) => o.clientMsgId)).toEqual([]);
      expect(duplicated).toEqual([]);
      expect(undelivered).toEqual([]);
      expect(liveDuplicates).toEqual([]);
      for (const c of members) c.close();
    },
  );
});
