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
});
