// A request that reaches a replica once its close began is not processed at all and is answered
// 503 SHUTTING_DOWN, the promise the gateway relies on to replay it (writes included) elsewhere.
import { connect, type Socket } from 'node:net';
import { createService, type ServiceInstance } from '@redis-patterns/service-kit';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Everything the socket receives until it ends, bounded. */
function readAll(socket: Socket, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no end within ${ms} ms: ${text}`)), ms);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe('service-kit: a replica that is shutting down', () => {
  let app: ServiceInstance;
  const writes: string[] = [];
  const release = deferred();
  const slowStarted = deferred();

  beforeAll(async () => {
    app = await createService({ name: 'closing-test', description: 'test', logLevel: 'silent' });
    app.get('/slow', async () => {
      slowStarted.resolve();
      await release.promise;
      return { slow: true };
    });
    app.post('/things', async () => {
      writes.push('written');
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    release.resolve();
    await app.close();
  });

  it('while draining (readiness 503, before close) answers normally and ends each keep-alive socket', async () => {
    const { port } = app.server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const received = readAll(socket, 5000);
    app.health.shuttingDown = true;
    try {
      // Asked to keep the socket alive, the replica answers and then closes it anyway.
      socket.write('POST /things HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n');
      socket.write('Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
      const answer = await received;
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(writes).toEqual(['written']);
    } finally {
      app.health.shuttingDown = false;
      writes.length = 0;
    }
  });

  it('answers a request that arrives after close began 503 SHUTTING_DOWN and runs nothing', async () => {
    const { port } = app.server.address() as { port: number };
    // One request in flight holds close open.
    const slow = fetch(`http://127.0.0.1:${port}/slow`).then(async (r) => [
      r.status,
      await r.text(),
    ]);
    await slowStarted.promise;
    // A second connection has begun a request (so close does not treat it as idle) ...
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('POST /things HTTP/1.1\r\nHost: test\r\n');
    const received = readAll(socket, 5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // ... and completes it once close began.
    socket.write('Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    const answer = await received;
    release.resolve();
    expect(await slow).toEqual([200, JSON.stringify({ slow: true })]);
    await closed;

    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/\r\nretry-after: 0\r\n/i);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string };
    expect(body.code).toBe('SHUTTING_DOWN');
    expect(writes).toEqual([]);
  });
});
