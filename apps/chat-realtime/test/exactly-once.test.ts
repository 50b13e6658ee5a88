import { eventually, httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { compareStreamIds } from '../src/chat/stream-id';
import { ChatClient, historyPage, replicaSetFixture, type SendReply } from './chat-harness';

// Every connected member gets every acked message once: a live delivery reaches exactly the
// room's members on every replica, a resend with the same clientMsgId is stored and broadcast once.

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('exactly once across three replicas on %s', (kind) => {
  const set = replicaSetFixture(kind);
  const client = (i: number, name?: string) => set().client(i, name);

  it('delivers a message sent on server 1 exactly once to room members on servers 1, 2 and 3, and to nobody else', async () => {
    const { replicas } = set();
    const members = await Promise.all([0, 0, 1, 2].map((i) => client(i)));
    const outsiders = await Promise.all([0, 1, 2].map((i) => client(i)));
    await Promise.all(members.map((c) => c.join('lobby')));
    await Promise.all(outsiders.map((c) => c.join('elsewhere')));
    const [sender] = members;

    const acks: SendReply[] = [];
    for (let n = 0; n < 5; n += 1)
      acks.push((await sender.send('lobby', `hello ${n}`)) as SendReply);
    const ids = acks.map((ack) => ack.id);

    await eventually('every member to get the 5 messages', () =>
      expect(members.every((c) => ids.every((id) => c.messages.get('lobby')?.has(id)))).toBe(true),
    );
    // A fence instead of a pause: a sixth message through the same path, then a round trip on
    // every socket. A copy of the first five, or a stray one to an outsider, that was on its way
    // is in by then; the harness records any such extra delivery as it arrives.
    const fence = (await sender.send('lobby', 'fence')) as SendReply;
    await eventually('every member to get the fence', () =>
      expect(members.every((c) => c.messages.get('lobby')?.has(fence.id))).toBe(true),
    );
    await Promise.all([...members, ...outsiders].map((c) => c.fence()));
    for (const c of members) {
      expect(c.extraDeliveries).toEqual([]);
      // Order is the ordering test's business (a Cluster may reorder live deliveries).
      expect(c.deliveries.map((m) => m.id).sort(compareStreamIds)).toEqual([...ids, fence.id]);
      expect(c.ordered('lobby').map((m) => m.text)).toEqual([
        ...[0, 1, 2, 3, 4].map((n) => `hello ${n}`),
        'fence',
      ]);
      expect(c.deliveries.find((m) => m.id === ids[0])).toEqual({
        id: ids[0],
        room: 'lobby',
        user: sender.user,
        text: 'hello 0',
        ts: acks[0].ts,
        offset: 1,
        clientMsgId: expect.any(String),
        epoch: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
    }
    for (const c of outsiders) expect(c.deliveries).toEqual([]);

    const metrics = (await httpCall(replicas.url(2), 'GET', '/metrics')).text;
    expect(metrics).toMatch(/chat_connected_sockets 2/);
    // Replica 3 got the 6 messages through Redis, for its one member.
    expect(metrics).toMatch(/chat_delivery_seconds_count 6/);
  });

  it('answers a resent clientMsgId with the first ack, storing and broadcasting it once', async () => {
    const { replicas, clients } = set();
    const sender = await client(0);
    const other = await client(1);
    await sender.join('idem');
    await other.join('idem');
    const first = (await sender.send('idem', 'only once', 'same-id')) as SendReply;
    const again = await Promise.all(
      [0, 1, 2].map(() => sender.send('idem', 'only once', 'same-id')),
    );
    for (const ack of again)
      expect(ack).toEqual({
        id: first.id,
        ts: first.ts,
        offset: 1,
        epoch: first.epoch,
        duplicate: true,
      });

    // A resend after reconnecting to another replica is recognised too.
    const moved = new ChatClient([replicas.url(2)], { name: 'mover', guestId: 'guest-mover-1' });
    clients.push(moved);
    await moved.connect();
    await moved.join('idem');
    const a = (await moved.send('idem', 'x', 'mover-1')) as SendReply;
    moved.close();
    const back = new ChatClient([replicas.url(1)], { name: 'mover', guestId: 'guest-mover-1' });
    clients.push(back);
    await back.connect();
    await back.join('idem');
    expect(await back.send('idem', 'x', 'mover-1')).toEqual({
      id: a.id,
      ts: a.ts,
      offset: a.offset,
      epoch: a.epoch,
      duplicate: true,
    });

    const fence = (await sender.send('idem', 'fence')) as SendReply;
    await eventually('the fence', () =>
      expect(other.messages.get('idem')?.has(fence.id) === true).toBe(true),
    );
    await other.fence();
    expect(other.deliveries.filter((m) => m.id === first.id)).toHaveLength(1);
    expect(other.extraDeliveries).toEqual([]);
    const stored = (await historyPage(replicas.url(0), 'idem')).body;
    expect(stored.messages.map((m) => m.text)).toEqual(['only once', 'x', 'fence']);
  });
});
