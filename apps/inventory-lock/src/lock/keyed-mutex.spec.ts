import { KeyedMutex } from './keyed-mutex';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('KeyedMutex', () => {
  it('runs the tasks of one key one at a time, in arrival order', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    let inside = 0;
    let most = 0;
    await Promise.all(
      [3, 1, 2].map((ms, i) =>
        mutex.run('a', async () => {
          inside += 1;
          most = Math.max(most, inside);
          events.push(`start ${i}`);
          await tick(ms);
          inside -= 1;
          events.push(`end ${i}`);
        }),
      ),
    );
    expect(most).toBe(1);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(mutex.size).toBe(0);
  });

  it('lets different keys run in parallel and survives a failing task', async () => {
    const mutex = new KeyedMutex();
    let inside = 0;
    let most = 0;
    const work = async () => {
      inside += 1;
      most = Math.max(most, inside);
      await tick(5);
      inside -= 1;
    };
    await Promise.all([mutex.run('a', work), mutex.run('b', work)]);
    expect(most).toBe(2);
    await expect(mutex.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow();
    await expect(mutex.run('a', async () => 7)).resolves.toBe(7);
    expect(mutex.size).toBe(0);
  });

  it('runAll holds every key: no task of any of them runs meanwhile, and all finish', async () => {
    const mutex = new KeyedMutex();
    const inside = { a: 0, b: 0 };
    let overlap = 0;
    const task = (keys: Array<'a' | 'b'>) => async () => {
      for (const key of keys) {
        inside[key] += 1;
        if (inside[key] > 1) overlap += 1;
      }
      await tick(1);
      for (const key of keys) inside[key] -= 1;
    };
    const sets: Array<Array<'a' | 'b'>> = [['a', 'b'], ['a'], ['b']];
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => mutex.runAll(sets[i % 3], task(sets[i % 3]))),
    );
    expect(overlap).toBe(0);
    expect(mutex.size).toBe(0);
  });
});
