import { delay, eventually, topologiesUnderTest } from '@redis-patterns/testkit';
import { ChatClient, replicaSetFixture } from './chat-harness';

// Presence: one entry per user however many tabs and replicas hold them, gone with the last.

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('presence across three replicas on %s', (kind) => {
  const set = replicaSetFixture(kind);
  const client = (i: number, name?: string) => set().client(i, name);

  it('shows one user for several tabs on several replicas, and drops them only when the last tab leaves', async () => {
    const { replicas, clients } = set();
    const watcher = await client(0, 'watcher');
    await watcher.join('tabs');
    const tabs = await Promise.all(
      [0, 1, 2].map((i) => {
        const tab = new ChatClient([replicas.url(i)], { name: 'Tabby', guestId: 'tabby-guest-1' });
        clients.push(tab);
        return tab.connect();
      }),
    );
    await Promise.all(tabs.map((t) => t.join('tabs')));
    const names = () => (watcher.presence.get('tabs') ?? []).map((u) => u.username);
    await eventually('Tabby online once', () =>
      expect(names().join()).toBe('Tabby (guest),watcher (guest)'),
    );

    await tabs[0].leave('tabs');
    tabs[1].close();
    await delay(500);
    expect(names()).toEqual(['Tabby (guest)', 'watcher (guest)']);
    tabs[2].close();
    await eventually('Tabby gone', () => expect(names().join()).toBe('watcher (guest)'));
  });
});
