/**
 * A FIFO mutex per key inside one process. Requests of one replica for one sku queue here, so
 * each replica sends at most one contender per sku to Redlock instead of hundreds that would
 * poll the masters; exclusion across replicas is still Redlock's job.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` once every earlier task of `key` has settled. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const current = new Promise<void>((resolve) => {
      done = resolve;
    });
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    try {
      await previous;
      return await task();
    } finally {
      done();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /**
   * Runs `task` holding every key, taken one after another in the order given: callers pass
   * them sorted (the one global order), so two tasks cannot each wait for a key the other holds.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const step = (index: number): Promise<T> =>
      index === keys.length ? task() : this.run(keys[index], () => step(index + 1));
    return step(0);
  }

  /** Keys with a task running or queued. */
  get size(): number {
    return this.tails.size;
  }
}
