import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DeliveryCounter,
  deferred,
  delay,
  eventually,
  httpCall,
  inParallel,
  perFileFixture,
} from '@redis-patterns/testkit';

const stopped: string[] = [];
// The fixture's cleanup runs in afterAll even though its start threw half-way.
describe('perFileFixture: cleanup runs even when the boot failed', () => {
  const failing = perFileFixture(async (cleanup) => {
    cleanup(() => stopped.push('first resource'));
    return 'started';
  });
  it('hands the started value to the tests', () => {
    expect(failing()).toBe('started');
  });
});
afterAll(() => {
  // Registered after the fixture's afterAll, so Jest runs it after the fixture's cleanup.
  expect(stopped).toEqual(['first resource']);
});

describe('httpCall: one bounded call that never throws on a status', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/hang') return; // never answers
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        response.statusCode = request.url === '/missing' ? 404 : 200;
        response.setHeader('content-type', 'application/json');
        response.end(
          JSON.stringify({ method: request.method, type: request.headers['content-type'], body }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends JSON and parses the answer, whatever the status', async () => {
    const answer = await httpCall(base, 'POST', '/missing', { body: { a: 1 } });
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ method: 'POST', type: 'application/json', body: '{"a":1}' });
    expect(JSON.parse(answer.text)).toEqual(answer.body);
  });

  it('fails with a message naming the call when no answer comes in time', async () => {
    await expect(httpCall(base, 'GET', '/hang', { timeoutMs: 200 })).rejects.toThrow(
      /GET http:\/\/127\.0\.0\.1:\d+\/hang: no answer in 200 ms/,
    );
  });
});

describe('waiting without sleeps', () => {
  it('eventually returns once the assertion holds, and names what it waited for when it never does', async () => {
    let tries = 0;
    await expect(
      eventually('three tries', () => {
        tries += 1;
        expect(tries).toBe(3);
        return tries;
      }),
    ).resolves.toBe(3);
    await expect(
      eventually('a value that never comes', () => expect(1).toBe(2), { timeoutMs: 100 }),
    ).rejects.toThrow(/a value that never comes: still failing after 100 ms/);
  });

  it('a deferred gate opens when the test says so', async () => {
    const gate = deferred<string>();
    const order: string[] = [];
    const waiting = gate.promise.then((value) => order.push(value));
    order.push('before');
    gate.resolve('opened');
    await waiting;
    expect(order).toEqual(['before', 'opened']);
  });

  it('inParallel keeps at most `concurrency` tasks in flight and results in order', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await inParallel(20, 4, async (i) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await delay(5);
      inFlight -= 1;
      return i * 2;
    });
    expect(most).toBe(4);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });
});

describe('DeliveryCounter fails on an extra delivery', () => {
  it('resolves with exactly n deliveries once no other came', async () => {
    const counter = new DeliveryCounter<number>('messages');
    const done = counter.exactly(2, { quietMs: 50 });
    counter.record(1);
    counter.record(2);
    await expect(done).resolves.toEqual([1, 2]);
  });

  it('rejects the moment an extra one arrives, even inside the quiet window', async () => {
    const counter = new DeliveryCounter<number>('messages');
    const done = counter.exactly(1, { quietMs: 500 });
    counter.record(1);
    setTimeout(() => counter.record(1), 20);
    await expect(done).rejects.toThrow('messages: 2 deliveries, expected exactly 1');
  });

  it('rejects when too few arrive in time', async () => {
    const counter = new DeliveryCounter('messages');
    counter.record('a');
    await expect(counter.exactly(2, { timeoutMs: 100 })).rejects.toThrow(
      'messages: 1 of 2 deliveries after 100 ms',
    );
  });
});
