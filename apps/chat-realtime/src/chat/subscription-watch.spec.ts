import { EventEmitter } from 'node:events';
import type { RedisClient } from '@redis-patterns/redis-core';
import { SubscriptionWatch } from './subscription-watch';

const CHANNEL = 'chat:sio-probe#r1';
const INTERVAL = 1000;

/** A subscribed client and a publisher whose probes the test delivers (or not) by hand. */
function fakes() {
  const sub = Object.assign(new EventEmitter(), {
    subscribe: jest.fn(async () => 1),
    /** What ioredis's Cluster exposes internally: the connection it subscribes on. */
    subscriber: { getInstance: () => connection },
  });
  let connection: object = {};
  const published: string[] = [];
  const pub = {
    publish: jest.fn(async (_channel: string, seq: string) => {
      published.push(seq);
      return 1;
    }),
  };
  return {
    sub,
    pub,
    published,
    /** The last probe published comes back through the subscription. */
    deliverLast: () => sub.emit('message', CHANNEL, published.at(-1)),
    deliver: (seq: string) => sub.emit('message', CHANNEL, seq),
    moveConnection: () => {
      connection = {};
    },
  };
}

describe('SubscriptionWatch', () => {
  let clock: number;
  let recovered: number[];

  beforeEach(() => {
    jest.useFakeTimers();
    clock = 10_000;
    recovered = [];
  });
  afterEach(() => jest.useRealTimers());

  async function started(f: ReturnType<typeof fakes>) {
    const watch = new SubscriptionWatch({
      pub: f.pub as unknown as RedisClient,
      sub: f.sub as unknown as RedisClient,
      channel: CHANNEL,
      intervalMs: INTERVAL,
      now: () => clock,
      onError: () => {},
      onRecovered: (since) => recovered.push(since),
    });
    await watch.start();
    return watch;
  }

  function advance(ms: number) {
    clock += ms;
    jest.advanceTimersByTime(ms);
  }

  it('stays quiet while every probe comes back', async () => {
    const f = fakes();
    const watch = await started(f);
    for (let i = 0; i < 5; i += 1) {
      advance(INTERVAL);
      f.deliverLast();
    }
    expect(f.published).toHaveLength(5);
    expect(watch.lost).toBe(false);
    expect(recovered).toEqual([]);
    watch.stop();
  });

  it('reports a probe that does not come back, from the send time of the last one that did', async () => {
    const f = fakes();
    const watch = await started(f);
    advance(INTERVAL);
    f.deliverLast();
    const lastGood = clock;
    advance(INTERVAL); // probe 2 published, never delivered
    advance(INTERVAL); // probe 2 overdue: a gap; probe 3 published
    expect(watch.lost).toBe(true);
    // Probe 2 arriving late proves nothing about the subscription after the gap was seen.
    f.deliver('2');
    expect(recovered).toEqual([]);
    f.deliverLast();
    expect(recovered).toEqual([lastGood]);
    expect(watch.lost).toBe(false);
    watch.stop();
  });

  it('reports a closed connection once a probe sent after it comes back', async () => {
    const f = fakes();
    const watch = await started(f);
    advance(INTERVAL);
    f.deliverLast();
    const lastGood = clock;
    advance(300);
    f.sub.emit('close');
    expect(watch.lost).toBe(true);
    f.sub.emit('ready'); // probes at once
    expect(f.published).toHaveLength(2);
    f.deliverLast();
    expect(recovered).toEqual([lastGood]);
    watch.stop();
  });

  it('reports a Cluster subscription that moved to another node between two probes', async () => {
    const f = fakes();
    const watch = await started(f);
    advance(INTERVAL);
    f.deliverLast();
    const lastGood = clock;
    advance(200);
    f.moveConnection();
    advance(INTERVAL - 200); // the next probe notices, then publishes
    expect(watch.lost).toBe(true);
    f.deliverLast();
    expect(recovered).toEqual([lastGood]);
    watch.stop();
  });

  it('does not credit a moved subscription with a probe it forwarded before the move was seen', async () => {
    const f = fakes();
    const watch = await started(f);
    advance(INTERVAL);
    f.deliverLast();
    const lastGood = clock;
    advance(INTERVAL); // probe 2 in flight
    f.moveConnection();
    f.deliverLast(); // arrives through the new connection: the move is seen first
    expect(watch.lost).toBe(true);
    expect(f.published).toHaveLength(3);
    f.deliverLast();
    expect(recovered).toEqual([lastGood]);
    watch.stop();
  });
});
