import { httpCall, topologiesUnderTest } from '@redis-patterns/testkit';
import { historyPage, replicaSetFixture, type SendReply } from './chat-harness';

// History over HTTP: pages of a room's stream, and the page and client script it serves.

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('history pages over HTTP on %s', (kind) => {
  const set = replicaSetFixture(kind);
  const client = (i: number, name?: string) => set().client(i, name);

  it('serves history pages over HTTP', async () => {
    const { replicas } = set();
    const writer = await client(0);
    await writer.join('pages');
    const ids: string[] = [];
    for (let n = 0; n < 5; n += 1)
      ids.push(((await writer.send('pages', `p${n}`)) as SendReply).id);

    const first = (await historyPage(replicas.url(1), 'pages', '?limit=3')).body;
    expect(first.messages.map((m) => m.id)).toEqual(ids.slice(2));
    expect(first.nextBefore).toBe(ids[2]);
    const second = (
      await historyPage(replicas.url(2), 'pages', `?limit=3&before=${first.nextBefore}`)
    ).body;
    expect(second.messages.map((m) => m.text)).toEqual(['p0', 'p1']);
    expect(second.nextBefore).toBeNull();

    const bad = await historyPage(replicas.url(0), 'Bad%20Room');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('room'),
    });
    const badLimit = await historyPage(replicas.url(0), 'pages', '?limit=0');
    expect(badLimit.status).toBe(400);
  });

  it('serves the chat page and the Socket.IO client script', async () => {
    const { replicas } = set();
    const page = await httpCall(replicas.url(0), 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = page.text;
    expect(html).toContain('<script src="/socket.io/socket.io.js">');
    const script = await httpCall(replicas.url(1), 'GET', '/socket.io/socket.io.js');
    expect(script.status).toBe(200);
    expect(script.text).toContain('io');
    expect((await httpCall(replicas.url(0), 'GET', '/health/ready')).status).toBe(200);
  });
});
