import {
  eventually,
  delay,
  startServiceProcess,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import { ChatClient, SOURCE_NODE_OPTIONS, SOURCE_SERVER, type SendReply } from './chat-harness';

jest.setTimeout(90000);

const PRESENCE_TTL_MS = 1500;
const HEARTBEAT_MS = 300;

describe.each(topologiesUnderTest())(
  'a chat-realtime replica killed mid-conversation (SIGKILL, three processes) on %s',
  (kind) => {
    let topology: RedisTopology;
    const processes: ServiceProcess[] = [];
    const clients: ChatClient[] = [];

    beforeAll(async () => {
      topology = await startTopology(kind);
      const env = {
        ...topology.env,
        NODE_OPTIONS: SOURCE_NODE_OPTIONS,
        // A shared machine: a slow replica must not read as a failure here.
        REDIS_COMMAND_TIMEOUT_MS: '1500',
        REDIS_KEY_PREFIX: uniquePrefix('chat'),
        CHAT_PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
        CHAT_PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        CHAT_RATE_LIMIT_MAX: '1000',
        CHAT_ALLOW_GUESTS: 'true',
      };
      processes.push(
        ...(await Promise.all([0, 1, 2].map(() => startServiceProcess(SOURCE_SERVER, env, 60000)))),
      );
    }, 90000);
    afterAll(async () => {
      for (const c of clients) c.close();
      await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
      await topology?.stop();
    });

    it('moves its clients to another replica without losing a message, and drops its users from presence in time', async () => {
      const room = 'crash';
      const urls = processes.map((p) => p.url);
      const make = (name: string, first: number, reconnect = true) => {
        const order = [0, 1, 2].map((n) => urls[(first + n) % 3]);
        const c = new ChatClient(order, { name, reconnect });
        clients.push(c);
        return c.connect();
      };
      const sender = await make('sender', 0);
      const steady = await make('steady', 1);
      const moving = await make('moving', 2);
      const gone = await make('gone', 2, false);
      for (const c of [sender, steady, moving, gone]) await c.join(room);
      await eventually('four users online', () =>
        expect((steady.presence.get(room) ?? []).length === 4).toBe(true),
      );

      const acked: string[] = [];
      let stop = false;
      const sending = (async () => {
        for (let n = 0; !stop; n += 1) {
          const reply = await sender.send(room, `m${n}`, `crash-${n}`);
          if ('id' in reply) acked.push((reply as SendReply).id);
          await delay(40);
        }
      })();
      await delay(500);
      await processes[2].stop('SIGKILL');
      const killedAt = Date.now();

      await eventually(
        'the dead replica user to leave presence',
        () =>
          expect(
            !(steady.presence.get(room) ?? []).some((u) => u.username === 'gone (guest)'),
          ).toBe(true),
        { timeoutMs: PRESENCE_TTL_MS + HEARTBEAT_MS + 5000 },
      );
      const dropMs = Date.now() - killedAt;
      await delay(500);
      stop = true;
      await sending;

      for (const c of [sender, steady, moving]) {
        await eventually(`${c.user?.username} to have every acked message`, () =>
          expect(acked.every((id) => c.messages.get(room)?.has(id))).toBe(true),
        );
        const live = c.deliveries.map((m) => m.id);
        expect(new Set(live).size).toBe(live.length);
      }
      // The moved client is on a live replica now, and it shows up again in presence.
      expect((steady.presence.get(room) ?? []).map((u) => u.username)).toContain('moving (guest)');
      // Bound documented in the README: TTL + heartbeat (plus scheduling slack on a busy machine).
      expect(dropMs).toBeLessThan(PRESENCE_TTL_MS + HEARTBEAT_MS + 2000);
    });
  },
);
