import { eventually, topologiesUnderTest } from '@redis-patterns/testkit';
import { compareStreamIds } from '../src/chat/stream-id';
import { historyPage, replicaSetFixture, type SendReply } from './chat-harness';

// One order: each sender's messages in ack order, every member shows stream order.

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('one order across three replicas on %s', (kind) => {
  const set = replicaSetFixture(kind);
  const client = (i: number, name?: string) => set().client(i, name);

  it('keeps one order: each sender in ack order, every member in stream order', async () => {
    const { replicas } = set();
    const senders = await Promise.all([0, 1, 2].map((i) => client(i)));
    await Promise.all(senders.map((c) => c.join('order')));
    const acked: string[][] = [[], [], []];
    await Promise.all(
      senders.map(async (c, s) => {
        for (let n = 0; n < 8; n += 1) {
          acked[s].push(((await c.send('order', `s${s}-${n}`)) as SendReply).id);
        }
      }),
    );
    const all = acked.flat();
    await eventually('every member to have the 24 messages', () =>
      expect(senders.every((c) => all.every((id) => c.messages.get('order')?.has(id)))).toBe(true),
    );
    const history = (await historyPage(replicas.url(1), 'order', '?limit=100')).body;
    const streamOrder = history.messages.map((m) => m.id);
    expect(streamOrder).toEqual([...all].sort(compareStreamIds));
    for (const ids of acked) expect([...ids].sort(compareStreamIds)).toEqual(ids);
    for (const c of senders) expect(c.ordered('order').map((m) => m.id)).toEqual(streamOrder);

    // Live arrival per sender: one publishing connection into one Redis keeps it; on a Cluster
    // the adapter's publishes enter through one master for that (see pinClusterPublishes).
    let inversions = 0;
    for (const c of senders) {
      for (let s = 0; s < 3; s += 1) {
        const live = c.deliveries.filter((m) => m.text.startsWith(`s${s}-`)).map((m) => m.id);
        for (let i = 1; i < live.length; i += 1) {
          if (compareStreamIds(live[i - 1], live[i]) > 0) inversions += 1;
        }
      }
    }
    process.stderr.write(`[chat-order] ${kind}: ${inversions} live inversions in 72 deliveries\n`);
    expect(inversions).toBe(0);
  });
});
