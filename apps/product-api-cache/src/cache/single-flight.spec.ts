import { SingleFlight } from './single-flight';

describe('SingleFlight', () => {
  it('runs one load for concurrent callers of the same key and shares its result', async () => {
    const flight = new SingleFlight<number>();
    let loads = 0;
    let release: (value: number) => void = () => {};
    const load = () => {
      loads += 1;
      return new Promise<number>((resolve) => {
        release = resolve;
      });
    };
    const results = Promise.all(Array.from({ length: 50 }, () => flight.run('k', load)));
    release(42);
    await expect(results).resolves.toEqual(Array(50).fill(42));
    expect(loads).toBe(1);
    expect(flight.size).toBe(0);
  });

  it('shares a failure, then lets the next caller load again', async () => {
    const flight = new SingleFlight<number>();
    const failing = () => Promise.reject(new Error('db down'));
    await expect(Promise.all([flight.run('k', failing), flight.run('k', failing)])).rejects.toThrow(
      'db down',
    );
    await expect(flight.run('k', async () => 7)).resolves.toBe(7);
  });

  it('keeps different keys apart', async () => {
    const flight = new SingleFlight<string>();
    const [a, b] = await Promise.all([
      flight.run('a', async () => 'A'),
      flight.run('b', async () => 'B'),
    ]);
    expect([a, b]).toEqual(['A', 'B']);
  });

  it('after forget, later callers start a new load while earlier ones keep theirs', async () => {
    const flight = new SingleFlight<string>();
    let release: (value: string) => void = () => {};
    const first = flight.run('k', () => new Promise<string>((resolve) => (release = resolve)));
    flight.forget((key) => key === 'k');
    const second = flight.run('k', async () => 'new');
    release('old');
    await expect(first).resolves.toBe('old');
    await expect(second).resolves.toBe('new');
    expect(flight.size).toBe(0);
  });
});
