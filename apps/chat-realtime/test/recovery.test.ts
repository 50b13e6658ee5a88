import { eventually, topologiesUnderTest } from '@redis-patterns/testkit';
import { ChatClient, replicaSetFixture, type JoinReply, type SendReply } from './chat-harness';

// A member who missed messages (joined late, disconnected, or a message stored and never
// broadcast) gets every one of them, once, in order: by lastSeenId or by (epoch, offset).

jest.setTimeout(30000);

describe.each(topologiesUnderTest())(
  'recovery of missed messages on three replicas on %s',
  (kind) => {
    const set = replicaSetFixture(kind);
    const client = (i: number, name?: string) => set().client(i, name);

    it('returns the last messages on join, and what was missed after lastSeenId', async () => {
      const writer = await client(1);
      await writer.join('history');
      const ids: string[] = [];
      for (let n = 0; n < 8; n += 1)
        ids.push(((await writer.send('history', `m${n}`)) as SendReply).id);

      const reader = await client(2);
      const all = (await reader.join('history')) as JoinReply;
      expect(all.history.map((m) => m.id)).toEqual(ids);
      expect(all.presence.map((u) => u.username).sort()).toEqual(
        [writer.user?.username, reader.user?.username].sort(),
      );

      const late = await client(0);
      const missed = (await late.join('history', ids[4])) as JoinReply;
      // The resync margin re-reads a little before lastSeenId; the client drops those by id.
      expect(missed.history.map((m) => m.id)).toEqual(expect.arrayContaining(ids.slice(5)));
      expect(missed.history.at(-1)?.id).toBe(ids[7]);
    });

    it('a member back from a disconnect recovers every missed message by (epoch, offset), once, in order', async () => {
      const { replicas, clients } = set();
      const sender = await client(0);
      const away = new ChatClient([replicas.url(1), replicas.url(2)], { name: 'away' });
      clients.push(away);
      await away.connect();
      await Promise.all([sender.join('recover'), away.join('recover')]);
      const before = (await sender.send('recover', 'before')) as SendReply;
      await eventually('the first message', () =>
        expect(away.messages.get('recover')?.has(before.id) === true).toBe(true),
      );
      expect(away.floor('recover')).toBe(1);

      // The client reconnects to the next replica after 100 ms; these are sent meanwhile.
      away.socket.disconnect();
      const missed: SendReply[] = [];
      for (let n = 0; n < 8; n += 1)
        missed.push((await sender.send('recover', `missed ${n}`)) as SendReply);
      await eventually('the recovery', () =>
        expect(away.recovered > 0 && away.floor('recover') === 9).toBe(true),
      );
      expect(away.unrecovered).toBe(0);
      expect(away.ordered('recover').map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(away.ordered('recover').map((m) => m.id)).toEqual(
        [before, ...missed].map((a) => a.id),
      );
      expect(away.extraDeliveries).toEqual([]);
      // A recovery from an offset the room never reached, or another epoch, is refused whole.
      const wrong = await away.request<JoinReply>('join', {
        room: 'recover',
        epoch: 'nope',
        offset: 3,
      });
      expect(wrong).toMatchObject({ recovered: false });
      expect(wrong.history.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('a message stored but never broadcast is recovered by members once a later one shows the hole', async () => {
      const { replicas } = set();
      const [sender, member] = await Promise.all([client(0), client(2)]);
      await Promise.all([sender.join('hole'), member.join('hole')]);
      await sender.send('hole', 'first');
      await eventually('the first message', () => expect(member.floor('hole')).toBe(1));
      // What a replica that died between storing and broadcasting leaves behind (or an append
      // answered UNAVAILABLE that Redis ran later): stored, acked to nobody, broadcast to nobody.
      const silent = await replicas.apps[1].messages.append(
        'hole',
        sender.user!,
        'silent',
        'quiet-1',
      );
      const next = (await sender.send('hole', 'next')) as SendReply;
      expect(next.offset).toBe(silent.message.offset + 1);
      await eventually('the silent message', () =>
        expect(member.messages.get('hole')?.has(silent.message.id) === true).toBe(true),
      );
      expect(member.gapRecoveries).toBeGreaterThan(0);
      expect(member.floor('hole')).toBe(next.offset);
      expect(member.extraDeliveries).toEqual([]);
    });
  },
);
