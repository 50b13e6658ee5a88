import { deferred, delay } from '@redis-patterns/testkit';
import { HashLimiter, HashLimiterBusy } from './hash-limiter';

describe('hash limiter', () => {
  it('runs at most `concurrency` tasks, queues `queueLimit`, refuses the rest at once', async () => {
    const limiter = new HashLimiter({ concurrency: 2, queueLimit: 1, queueTimeoutMs: 5000 });
    const gate = deferred();
    let running = 0;
    let peak = 0;
    const task = async () => {
      running += 1;
      peak = Math.max(peak, running);
      await gate.promise;
      running -= 1;
    };
    const results = Array.from({ length: 5 }, () =>
      limiter.run(task).then(
        () => 'ok',
        (e) => e,
      ),
    );
    await new Promise((r) => setImmediate(r));
    gate.resolve();
    const settled = await Promise.all(results);
    expect(peak).toBe(2);
    expect(settled.filter((r) => r === 'ok')).toHaveLength(3);
    expect(settled.filter((r) => r instanceof HashLimiterBusy)).toHaveLength(2);
  });

  it('tells a caller it would be refused, without queueing or refusing anybody', async () => {
    const limiter = new HashLimiter({ concurrency: 1, queueLimit: 1, queueTimeoutMs: 10_000 });
    expect(limiter.wouldRefuse(0, 'owner')).toBe(false);
    const gate = deferred();
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e) => e,
      );
    const running = outcome(limiter.run(() => gate.promise, 0, 'flooder'));
    // The slot is taken, the queue has room.
    expect(limiter.wouldRefuse(0, 'owner')).toBe(false);
    const queued = outcome(limiter.run(() => gate.promise, 0, 'flooder'));
    // The queue is full: the flooder's next caller would be refused, the owner would not (it
    // displaces the flooder's queued caller), a third client holding as few places as each
    // flooding client would be.
    expect(limiter.wouldRefuse(0, 'flooder')).toBe(true);
    expect(limiter.wouldRefuse(0, 'owner')).toBe(false);
    const spread = new HashLimiter({ concurrency: 1, queueLimit: 1, queueTimeoutMs: 10_000 });
    const spreadRunning = outcome(spread.run(() => gate.promise, 0, '198.18.0.1'));
    const spreadQueued = outcome(spread.run(() => gate.promise, 0, '198.18.0.2'));
    expect(spread.wouldRefuse(0, 'owner')).toBe(true);
    gate.resolve();
    // Asking changed nothing: every caller it was asked beside ran.
    expect(await Promise.all([running, queued, spreadRunning, spreadQueued])).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
  });

  it('refuses a queued caller after queueTimeoutMs, and frees its place', async () => {
    const limiter = new HashLimiter({ concurrency: 1, queueLimit: 1, queueTimeoutMs: 50 });
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    const started = Date.now();
    await expect(limiter.run(async () => 'never')).rejects.toBeInstanceOf(HashLimiterBusy);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    gate.resolve();
    await first;
    await expect(limiter.run(async () => 'later')).resolves.toBe('later');
  });
});

describe('hash limiter bound', () => {
  /** Three hashes of about `ms` that ran alone: the idle time equals the average. */
  const measured = async (ms: number) => {
    const limiter = new HashLimiter({ concurrency: 1, queueLimit: 8, queueTimeoutMs: 10_000 });
    for (let i = 0; i < 3; i += 1) await limiter.run(() => delay(ms));
    return limiter;
  };

  it('queues a caller only if it can start within 1.5 x idle - current hash, else refuses it at once', async () => {
    const limiter = await measured(40);
    // Idle = current: the bound is half a hash.
    const bound = limiter.maxWaitMs();
    expect(bound).toBeGreaterThanOrEqual(19);
    const gate = deferred();
    const running = limiter.run(() => gate.promise);
    // A hash granted but not yet started frees in a whole hash: more than the bound.
    await expect(limiter.run(async () => 'too soon')).rejects.toBeInstanceOf(HashLimiterBusy);
    // Once it is past half its expected time, the next caller fits.
    await delay(bound * 1.3);
    const second = limiter.run(async () => 'second');
    // One more hash ahead: beyond the bound, refused without waiting.
    const started = performance.now();
    await expect(limiter.run(async () => 'third')).rejects.toBeInstanceOf(HashLimiterBusy);
    expect(performance.now() - started).toBeLessThan(bound / 2);
    // Time already spent since the request arrived counts against the bound.
    await expect(limiter.run(async () => 'late', bound + 1)).rejects.toBeInstanceOf(
      HashLimiterBusy,
    );
    gate.resolve();
    await running;
    await expect(second).resolves.toBe('second');
  });

  it('refuses a queued caller that has not started by its deadline', async () => {
    const limiter = await measured(40);
    const bound = limiter.maxWaitMs();
    const gate = deferred();
    const stuck = limiter.run(() => gate.promise);
    await delay(bound * 1.3);
    const started = performance.now();
    await expect(limiter.run(async () => 'never')).rejects.toBeInstanceOf(HashLimiterBusy);
    expect(performance.now() - started).toBeGreaterThanOrEqual(bound - 5);
    gate.resolve();
    await stuck;
  });

  it("lets another client in by refusing the flooding client's newest queued callers", async () => {
    const limiter = new HashLimiter({ concurrency: 1, queueLimit: 3, queueTimeoutMs: 10_000 });
    const gate = deferred();
    const flood = Array.from({ length: 4 }, () =>
      limiter
        .run(() => gate.promise, 0, 'flooder')
        .then(
          () => 'ok',
          (e) => e,
        ),
    );
    // The flooder holds the slot and the whole queue; one more of its own is refused.
    await expect(limiter.run(async () => 'x', 0, 'flooder')).rejects.toBeInstanceOf(
      HashLimiterBusy,
    );
    const other = limiter.run(async () => 'other', 0, 'owner');
    gate.resolve();
    await expect(other).resolves.toBe('other');
    const settled = await Promise.all(flood);
    expect(settled.filter((r) => r === 'ok')).toHaveLength(3);
    // The newest queued one gave its place up.
    expect(settled[3]).toBeInstanceOf(HashLimiterBusy);
  });
});
